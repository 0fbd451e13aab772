"""The SQLite default stays safe with several threads writing at once.

The checks run in a child interpreter on a fresh SQLite file with the project's own settings, so they exercise the
SQLite configuration even when the rest of the suite runs on PostgreSQL. The child migrates, then reports what the
connections really use (journal mode, busy timeout, transaction mode) and what happened when threads wrote together.
"""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
THREADS = 8
RECORDS_PER_THREAD = 15
FEEDBACK_PER_THREAD = 10


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    db_file = tmp_path_factory.mktemp("sqlite") / "concurrency.sqlite3"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(DJANGO_SETTINGS_MODULE="digitsite.settings", DATABASE_URL=f"sqlite:///{db_file}")
    result = subprocess.run(
        [sys.executable, __file__, str(db_file)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_connections_use_wal_and_a_busy_timeout(report):
    assert report["engine"] == "django.db.backends.sqlite3"
    assert report["journal_mode"] == "wal"
    assert report["busy_timeout_ms"] >= 5000
    # Every thread's connection gets the pragmas, not only the first one.
    assert report["thread_journal_modes"] == ["wal"] * THREADS


def test_transactions_take_the_write_lock_when_they_begin(report):
    # BEGIN IMMEDIATE: a read-then-write transaction cannot be refused halfway with "database is locked".
    assert report["transaction_mode"] == "IMMEDIATE"
    assert report["second_writer_inside_atomic"] == "database is locked"
    assert report["second_writer_after_atomic"] == "ok"


def test_concurrent_writers_all_land_without_lock_errors(report):
    assert report["errors"] == []
    expected = THREADS * RECORDS_PER_THREAD
    assert report["drawings"] == expected
    assert report["predictions"] == 2 * expected
    assert report["drawings_without_two_predictions"] == 0
    assert report["ids_returned"] == expected
    assert report["distinct_ids_returned"] == expected


def test_concurrent_feedback_on_shared_drawings_all_lands(report):
    # Read-then-write on the same rows from every thread: the case a deferred transaction would fail.
    assert report["feedback_stored"] == THREADS * FEEDBACK_PER_THREAD
    assert report["labeled_by_user"] == report["feedback_targets"]


# ---- the child: runs in its own interpreter with DATABASE_URL pointing at a fresh SQLite file ----


def _child(db_file):
    import sqlite3
    from dataclasses import dataclass

    import django

    sys.path.insert(0, str(ROOT))
    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.db.models import Count

    from recognizer.models import Drawing, Prediction

    call_command("migrate", verbosity=0, interactive=False)

    @dataclass(frozen=True)
    class Answer:
        digit: int
        probabilities: list
        confidence: float
        model_version: str = "sqlite-test"
        time_ms: float = 0.1

    def record(i):
        answers = {
            "keras": Answer(i % 10, [0.1] * 10, 0.5),
            "custom": Answer((i + 1) % 10, [0.1] * 10, 0.5),
        }
        return Drawing.objects.record(
            image=b"png-%d" % i, model_input=bytes(784), preprocess_version="test", answers=answers
        )

    out = {"engine": connection.settings_dict["ENGINE"], "errors": []}
    with connection.cursor() as cursor:
        out["journal_mode"] = cursor.execute("PRAGMA journal_mode").fetchone()[0]
        out["busy_timeout_ms"] = cursor.execute("PRAGMA busy_timeout").fetchone()[0]
    out["transaction_mode"] = connection.transaction_mode

    # A raw second connection with no patience tries to write while a Django transaction is open but has only read.
    def second_writer():
        raw = sqlite3.connect(db_file, timeout=0, isolation_level=None)
        try:
            raw.execute("BEGIN IMMEDIATE")
            raw.execute("ROLLBACK")
            return "ok"
        except sqlite3.OperationalError as exc:
            return str(exc)
        finally:
            raw.close()

    with transaction.atomic():
        Drawing.objects.count()
        out["second_writer_inside_atomic"] = second_writer()
    out["second_writer_after_atomic"] = second_writer()

    targets = [record(10_000 + i).pk for i in range(THREADS)]
    out["feedback_targets"] = len(targets)
    start = threading.Barrier(THREADS)
    lock = threading.Lock()
    ids, modes = [], []
    feedback_stored = [0]

    def worker(t):
        try:
            with connection.cursor() as cursor:
                mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
            start.wait()
            mine, stored = [], 0
            for i in range(max(RECORDS_PER_THREAD, FEEDBACK_PER_THREAD)):
                if i < RECORDS_PER_THREAD:
                    mine.append(record(t * 1000 + i).pk)
                if i < FEEDBACK_PER_THREAD:
                    # Read the row, then write it, inside one transaction, on rows every thread touches.
                    with transaction.atomic():
                        drawing = Drawing.objects.get(pk=targets[(t + i) % len(targets)])
                        stored += drawing.add_user_feedback((t + i) % 10)
            with lock:
                ids.extend(mine)
                modes.append(mode)
                feedback_stored[0] += stored
        except Exception as exc:  # reported to the test, which fails on any
            with lock:
                out["errors"].append(f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    mine = Drawing.objects.exclude(pk__in=targets)
    out["thread_journal_modes"] = modes
    out["ids_returned"] = len(ids)
    out["distinct_ids_returned"] = len(set(ids))
    out["drawings"] = mine.count()
    out["predictions"] = Prediction.objects.filter(drawing__in=mine).count()
    out["drawings_without_two_predictions"] = Drawing.objects.annotate(n=Count("predictions")).exclude(n=2).count()
    out["feedback_stored"] = feedback_stored[0]
    out["labeled_by_user"] = Drawing.objects.filter(pk__in=targets, label_source="user").count()
    print(json.dumps(out))


if __name__ == "__main__":
    _child(sys.argv[1])
