"""Is this process ready to answer predictions? Both models loaded and the database reachable.

One definition for every door that asks (``/v2/health/ready``, ``/v2/models/{name}/ready``, and ``/readyz`` when it
uses it), so a load balancer and an inference client never disagree.
"""

from django.db import connection


def checks() -> dict[str, str]:
    """{check: "ok" or what is wrong}."""
    from recognizer import inference  # TensorFlow only when asked, not when Django starts

    out = {}
    try:
        inference.get_models()
        out["models"] = "ok"
    except inference.ModelsUnavailable as exc:
        out["models"] = str(exc)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        out["database"] = "ok"
    except Exception as exc:  # any driver error means not ready
        out["database"] = f"{type(exc).__name__}: {exc}"
    return out


def ready() -> bool:
    return all(v == "ok" for v in checks().values())
