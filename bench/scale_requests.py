"""Times each staff request in-process against the database in DATABASE_URL (run by bench/scale.py, not by hand).

Django's test client, a superuser's session, no HTTP server: each figure is the view's own time (the SQL it runs
and the rendering), median of ``--repeat`` after one warm-up. Prints JSON: {request: {"ms": median, "all": [...]},
"plans": {request: EXPLAIN ANALYZE of its slowest query}}.
"""

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "digitsite.settings")
os.environ.setdefault("DJANGO_DEBUG", "0")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402

from recognizer.api.pagination import Pagination  # noqa: E402
from recognizer.models import Drawing  # noqa: E402


def timed(client, url, repeat):
    client.get(url)  # warm-up: caches, the first plan
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, (url, response.status_code, response.content[:300])
    return {"ms": round(statistics.median(times), 1), "all": [round(t, 1) for t in times]}


def slowest_plan(client, url):
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    selects = [q for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]
    if not selects:
        return {"sql": "", "plan": "(no SELECT)"}
    slowest = max(selects, key=lambda q: float(q["time"]))
    sql = slowest["sql"]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return {"sql": sql[:600], "ms": round(float(slowest["time"]) * 1000, 1), "plan": plan}


def main():
    from django.conf import settings
    from django.test.utils import override_settings

    # production settings, but static URLs without collectstatic's manifest (the pages' own work is what is timed)
    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=storages):
        run()


def run():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--plans", default="")
    args = parser.parse_args()

    user, _ = get_user_model().objects.get_or_create(
        username="bench-staff", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    changelist = reverse("admin:recognizer_drawing_changelist")
    requests = {
        "accuracy dashboard": reverse("admin:recognizer_drawing_dashboard"),
        "accuracy dashboard, last 7 days": reverse("admin:recognizer_drawing_dashboard") + "?days=7",
        "GET /api/accuracy/": "/api/accuracy/",
        "queue next (disagreements waiting)": reverse("admin:recognizer_drawing_queue_next"),
        "admin changelist, first page": changelist,
        "admin filter keras says 3": changelist + "?keras_digit=3",
        "admin filter confidence >= 0.99": changelist + "?confidence=7",
        "API list, first page": "/api/drawings/",
    }
    from recognizer.admin import DrawingAdmin, DrawingPaginator

    last_page = DrawingPaginator(Drawing.objects.all(), DrawingAdmin.list_per_page).num_pages
    requests["admin changelist, last page"] = f"{changelist}?p={last_page}"
    # the API's last page: the cursor that starts the last page_size rows (what the next links reach at the end)
    size = Pagination().page_size
    tail = Drawing.objects.order_by("created", "id")[size : size + 1].first()
    if tail is not None:
        requests["API list, last page (cursor)"] = "/api/drawings/?cursor=" + Pagination.encode("n", tail)
    results = {name: timed(client, url, args.repeat) for name, url in requests.items()}

    # the queue once no disagreement waits: every disagreement labeled by staff (committed, as staff would have done;
    # put back afterwards), so the first group is empty and the next drawing comes from the agreements
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_saved_labels")
        cursor.execute(
            "CREATE TABLE bench_saved_labels AS SELECT id, label, label_source FROM recognizer_drawing WHERE NOT agree"
        )
        cursor.execute("UPDATE recognizer_drawing SET label_source = 'staff', label = 0 WHERE NOT agree")
    try:
        rest = reverse("admin:recognizer_drawing_queue_next")
        results["queue next (the rest)"] = timed(client, rest, args.repeat)
        rest_plan = slowest_plan(client, rest)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE recognizer_drawing d SET label = s.label, label_source = s.label_source "
                "FROM bench_saved_labels s WHERE s.id = d.id"
            )
            cursor.execute("DROP TABLE bench_saved_labels")

    # a predict's insert (what every door does), the models' answers made up
    from types import SimpleNamespace

    answers = {
        name: SimpleNamespace(
            digit=3, confidence=0.97, model_version="bench", time_ms=0.1, probabilities=[0.0] * 3 + [0.97] + [0.0] * 6
        )
        for name in ("keras", "custom")
    }
    times = []
    for _ in range(30):
        t0 = time.perf_counter()
        Drawing.objects.record(
            image=b"\x89PNG" + os.urandom(1500),
            model_input=bytes(784),
            preprocess_version="bench",
            answers=answers,
            source="web",
        )
        times.append((time.perf_counter() - t0) * 1000)
    results["insert of a predict"] = {"ms": round(statistics.median(times), 2), "all": [round(t, 2) for t in times]}

    plans = {}
    for name in [p for p in args.plans.split("|") if p]:
        if name == "queue next (the rest)":
            plans[name] = rest_plan
        elif name in requests:
            plans[name] = slowest_plan(client, requests[name])
    json.dump({"results": results, "plans": plans}, sys.stdout)


if __name__ == "__main__":
    main()
