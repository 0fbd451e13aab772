"""Faults under load, repeatable (issue 27, "done when"): PostgreSQL restarted while 8 clients predict.

A private PostgreSQL cluster (initdb in a temporary folder, on a free port: the shared server is never touched) serves
the production gunicorn config (2 workers). Eight clients send predictions, each with its own Idempotency-Key, and
retry the same key on a 503 or a lost connection, as a careful client does. Mid-run the database is stopped (fast
shutdown: every connection cut), left down, and started again; gunicorn is not touched.

- While it is down the clients get JSON 503s with Retry-After, nothing else (no 500, no HTML);
- the service recovers by itself: predictions answer 201 again once the database is back;
- every request ends in a 201, and every Idempotency-Key is stored exactly once, each drawing with both predictions.

(The worker SIGKILL under 8 clients with keys is tests/system/test_load.py::
test_a_worker_killed_mid_run_leaves_no_half_written_drawing[idempotency-keys].)
"""

import http.client
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import pytest

from bench import harness

pytestmark = pytest.mark.slow

CLIENTS = 8
REQUESTS = 80
DOWN_S = 4


def pg_bin(name):
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not versions:
        pytest.fail(f"PostgreSQL's {name} is not installed (apt-get install -y postgresql)")
    return str(versions[-1])


class Cluster:
    """A throw-away PostgreSQL cluster in ``folder``, listening on 127.0.0.1:``port`` with trust authentication."""

    def __init__(self, folder, port):
        self.folder, self.port = Path(folder), port
        self.data = self.folder / "data"
        # initdb and postgres refuse to run as root: then the cluster belongs to the postgres user.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def run(self, *args):
        return subprocess.run([*self.as_user, *args], capture_output=True, text=True, timeout=120, check=True)

    def init(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.as_user:
            shutil.chown(self.folder, "postgres")
        self.run(pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        return self

    def start(self):
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.run(pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "log"), "-o", options, "-w", "start")

    def stop(self):
        self.run(pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    @property
    def url(self):
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"


@pytest.fixture
def cluster():
    folder = Path(tempfile.mkdtemp(prefix="chaos-pg-"))
    pg = Cluster(folder, harness.free_port()).init()
    pg.start()
    try:
        yield pg
    finally:
        try:
            pg.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(folder, ignore_errors=True)


def careful_client(port, jobs, body, answers, lock, stop_at):
    """Take request numbers from ``jobs``; send each with its own key until a 201, retrying that key on anything else
    (pausing as Retry-After says, at most 0.5 s). ``answers[i]`` lists every (status, content type, body, key)."""
    conn = None
    try:
        while True:
            with lock:
                i = next(jobs, None)
            if i is None:
                return
            key = f"chaos-{i}-{secrets.token_hex(4)}"
            while time.monotonic() < stop_at:
                try:
                    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    headers = {"Content-Type": "application/json", "Idempotency-Key": key}
                    conn.request("POST", harness.PREDICT_PATH, body=body, headers=headers)
                    response = conn.getresponse()
                    seen = (response.status, response.getheader("Content-Type", ""), response.read()[:300], key)
                    retry_after = response.getheader("Retry-After")
                except harness.RETRYABLE as exc:
                    if conn is not None:
                        conn.close()
                    conn = None
                    seen, retry_after = (None, "", repr(exc).encode(), key), None
                answers[i].append(seen)
                if seen[0] == 201:
                    break
                time.sleep(min(float(retry_after or 0.1), 0.5))
    finally:
        if conn is not None:
            conn.close()


def test_a_postgresql_restart_under_load_gives_json_503s_then_recovers_with_every_key_stored_once(cluster):
    pngs, _labels, _source = harness.canvas_drawings(1)
    body = harness.predict_body(pngs[0])
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        with harness.fresh_postgres_database(cluster.url, "digits_chaos") as url:
            env = harness.production_env(url, harness.free_port(), WEB_CONCURRENCY=2)
            with harness.Server(env, Path(tmp) / "gunicorn.log") as server:
                assert harness.wait_until_answering(server, body, timeout=240) is not None, server.log()[-4000:]
                assert server.wait_for_workers(2, 60), server.log()[-4000:]
                harness.clear_drawings(url)

                answers = {i: [] for i in range(REQUESTS)}
                jobs, lock = iter(range(REQUESTS)), threading.Lock()
                stop_at = time.monotonic() + 240
                threads = [
                    threading.Thread(
                        target=careful_client, args=(server.port, jobs, body, answers, lock, stop_at), daemon=True
                    )
                    for _ in range(CLIENTS)
                ]
                for t in threads:
                    t.start()
                while sum(1 for a in answers.values() if a and a[-1][0] == 201) < REQUESTS // 4:
                    assert time.monotonic() < stop_at, "no progress before the fault"
                    time.sleep(0.05)
                cluster.stop()
                down_at = time.monotonic()
                while time.monotonic() - down_at < DOWN_S:
                    time.sleep(0.1)
                refused_while_down = sum(1 for a in answers.values() for s in a if s[0] == 503)
                cluster.start()
                for t in threads:
                    t.join(timeout=max(0.0, stop_at - time.monotonic()) + 35)
                log = server.log()

            with psycopg.connect(url) as conn:
                stored = dict(
                    conn.execute(
                        "SELECT d.idempotency_key, count(p.id) FROM recognizer_drawing d"
                        " LEFT JOIN recognizer_prediction p ON p.drawing_id = d.id GROUP BY d.id"
                    ).fetchall()
                )
                keys = [k for (k,) in conn.execute("SELECT idempotency_key FROM recognizer_drawing").fetchall()]

    seen = [s for a in answers.values() for s in a]
    statuses = sorted({s[0] for s in seen}, key=str)
    report = {"statuses": statuses, "503s": sum(1 for s in seen if s[0] == 503), "attempts": len(seen)}
    # Nothing but 201s, JSON 503s and (while the database went away) a dropped connection.
    odd = [s for s in seen if s[0] not in (201, 503, None)]
    assert odd == [], (odd[:5], log[-3000:])
    for status, content_type, payload, _key in seen:
        if status == 503:
            assert content_type.startswith("application/json"), payload
            assert json.loads(payload)["error"] == "service_unavailable", payload
    assert refused_while_down > 0, report  # the clients did meet the outage
    # It recovered by itself: every request ended in a 201, after the database came back.
    assert all(a and a[-1][0] == 201 for a in answers.values()), report
    answered_keys = {a[-1][3] for a in answers.values()}
    assert len(answered_keys) == REQUESTS
    # Every key stored exactly once, each drawing with both predictions, nothing else.
    assert sorted(keys) == sorted(answered_keys), report
    assert set(stored.values()) == {2}, report
    print("chaos:", json.dumps(report))
