"""Two gunicorn servers (2 workers each) sharing one PostgreSQL database switch under load: a promotion over the API
reaches every worker of both with no restart, no request fails, no batch mixes versions; then a rollback does the
same. The new version was trained "on server A": server B takes its files from the database. Prints the measured
switch time of each server."""

import base64
import http.client
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from bench import harness
from tests.conftest import POSTGRES_URL, require_service

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
WORKERS = 2
SETUP = """
from pathlib import Path
from django.conf import settings
from rest_framework.authtoken.models import Token
from django.contrib.auth.models import User, Permission
from recognizer.lifecycle.models import ModelVersion
from recognizer.lifecycle import store
from recognizer.ml.network import Network
live = ModelVersion.objects.get(name="custom", status="live")
# trained "on server A": its files in A's store and, as bytes, in the database; server B's store is empty
store.write_version("custom", Network.load(Path(settings.MODELS_DIR) / live.files["file"]), metrics={}, training={})
user = User.objects.create_user("releaser", password="releaser-pass-1", is_staff=True)
user.user_permissions.add(Permission.objects.get(codename="promote_model"))
print(live.version, Token.objects.create(user=user).key)
"""


def call(port, method, path, body=None, token=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    try:
        conn.request(method, path, body=json.dumps(body or {}).encode(), headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


class Load:
    """Clients on both servers, each alternating a single predict and a batch of two: (time, server, status, custom
    versions in the answer)."""

    def __init__(self, servers, png):
        self.servers, self.stop, self.seen = servers, threading.Event(), []
        b64 = base64.b64encode(png).decode()
        self.single = json.dumps({"image": b64}).encode()
        self.batch = json.dumps({"images": [b64, b64]}).encode()
        self.threads = [threading.Thread(target=self.run, args=(s,)) for s in servers for _ in range(3)]

    def run(self, server):
        client = harness.Client(server.port, timeout=60)
        n = 0
        while not self.stop.is_set():
            n += 1
            path, body = ("/api/predict/", self.single) if n % 2 else ("/api/predict/batch/", self.batch)
            try:
                status, payload = client.post(path, body)
                answer = json.loads(payload)
                drawings = answer.get("results", [answer]) if status in (200, 201) else []
                versions = {d["predictions"]["custom"]["model_version"] for d in drawings}
            except Exception as exc:  # noqa: BLE001 (a failure is recorded and fails the test)
                status, versions = repr(exc), set()
            self.seen.append((time.monotonic(), server.port, status, versions))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()


def switched(load, port, version, since, settle=30):
    """Seconds from ``since`` to this server's last answer with another version, once it has given ``settle`` answers
    in a row with ``version`` (None while it has not)."""
    rows = [r for r in load.seen if r[1] == port and r[0] >= since]
    last_other = since
    run = 0
    for t, _, _, versions in rows:
        if versions == {version}:
            run += 1
        else:
            run, last_other = 0, t
    return last_other - since if run >= settle else None


def wait_for_switch(load, servers, version, since, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        times = {s.port: switched(load, s.port, version, since) for s in servers}
        if all(v is not None for v in times.values()):
            return times
        time.sleep(0.5)
    raise AssertionError(f"not every server answers with {version}: {times}")


def test_two_servers_switch_under_load_and_roll_back(tmp_path):
    require_service("PostgreSQL", 5432)
    png = harness.canvas_drawings(1)[0][0]
    with harness.fresh_postgres_database(POSTGRES_URL, "digits_lifecycle_two") as url:
        extra = {"WEB_CONCURRENCY": WORKERS}
        env_a = harness.production_env(url, harness.free_port(), MODEL_STORE_DIR=tmp_path / "a", **extra)
        env_b = harness.production_env(url, harness.free_port(), MODEL_STORE_DIR=tmp_path / "b", **extra)
        done = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", SETUP], cwd=ROOT, env=env_a, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-3000:]
        old, token = done.stdout.split()[-2:]
        with tempfile.TemporaryDirectory() as logs, harness.Server(env_a, Path(logs) / "a.log") as a:
            with harness.Server(env_b, Path(logs) / "b.log") as b:
                servers = [a, b]
                for s in servers:
                    assert harness.wait_until_answering(s, harness.predict_body(png), 240) is not None, s.log()[-3000:]
                    assert s.wait_for_workers(WORKERS, 60)
                with Load(servers, png) as load:
                    time.sleep(2)
                    status, body = call(a.port, "POST", "/api/models/custom/versions/6/promote", {"reason": "t"}, token)
                    promoted = time.monotonic()
                    assert status == 200, body
                    up = wait_for_switch(load, servers, "custom-6", promoted)
                    status, body = call(b.port, "POST", "/api/models/custom/rollback", {"reason": "back"}, token)
                    rolled = time.monotonic()
                    assert status == 200, body
                    down = wait_for_switch(load, servers, f"custom-{old}", rolled)
                failures = [r for r in load.seen if r[2] not in (200, 201)]
                mixed = [r for r in load.seen if len(r[3]) != 1]
                assert failures == [] and mixed == []
                assert {v for r in load.seen for v in r[3]} == {f"custom-{old}", "custom-6"}
                print(
                    f"\n{len(load.seen)} requests on 2 servers x {WORKERS} workers, none failed; switch after promote: "
                    + ", ".join(f"{t:.1f}s" for t in up.values())
                    + "; after rollback: "
                    + ", ".join(f"{t:.1f}s" for t in down.values())
                )
