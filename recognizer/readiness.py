"""Is this process ready to answer predictions? The checks of ``/readyz`` (``health.CHECKS``: models loaded in this
process, database, cache), so ``/v2/health/ready`` and ``/v2/models/{name}/ready`` never disagree with it."""

from recognizer import health


def checks() -> dict[str, str]:
    """{check: "ok" or what is wrong}, as /readyz reports them."""
    out = {}
    for name, check in health.CHECKS.items():
        try:
            check()
            out[name] = "ok"
        except Exception as exc:  # any failure means "not ready"; name it, no traceback
            out[name] = f"{type(exc).__name__}: {exc}"[:200]
    return out


def ready() -> bool:
    return all(v == "ok" for v in checks().values())
