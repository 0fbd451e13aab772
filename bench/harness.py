"""Start gunicorn against a fresh PostgreSQL database, load it over loopback, check what was written.

Shared by the benchmark (``bench/run.py``) and the load test (``tests/test_load.py``). Plain Python: no Django is
imported here, so the caller's own settings never leak into the server it starts. Everything is bounded: a fixed
number of requests, a deadline, loopback only.
"""

import base64
import http.client
import io
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil
import psycopg

from recognizer.ml.registry import NAMES  # plain Python, no Django

ROOT = Path(__file__).resolve().parent.parent
PREDICT_PATH = "/api/predict/"
# Connection-level failures a client retries: the worker holding the connection died or closed it.
# (ConnectionError and socket timeouts are OSErrors; IncompleteRead, RemoteDisconnected etc. are HTTPExceptions.)
RETRYABLE = (OSError, http.client.HTTPException)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_database(url, name):
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@contextmanager
def scratch_database(database_url, prefix):
    """A throwaway database URL: an empty PostgreSQL database ``<prefix>_<pid>`` when ``database_url`` is
    postgres://, else a SQLite file in a temporary folder. Dropped or deleted afterwards; the caller migrates."""
    if not database_url.startswith("postgres"):
        with tempfile.TemporaryDirectory(prefix=f"{prefix}-") as tmp:
            yield f"sqlite:///{tmp}/bench.sqlite3"
        return
    name = f"{prefix}_{os.getpid()}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # left by a crashed run with this pid
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(database_url, name)
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_postgres_database(admin_url, prefix):
    """A scratch PostgreSQL database ``<prefix>_<pid>`` with the schema migrated; dropped afterwards."""
    with scratch_database(admin_url, prefix) as url:
        env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "digitsite.settings"}
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            timeout=180,
        )
        yield url


def production_env(database_url, port, **extra):
    """The environment of a production server on loopback: DEBUG off, PostgreSQL, rate limit raised by config."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "GUNICORN_", "DATABASE_", "REDIS_", "CACHE_", "PREDICT_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="digitsite.settings",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        # Plain HTTP on loopback: no redirect to https.
        DJANGO_SECURE_SSL_REDIRECT="0",
        DATABASE_URL=database_url,
        PREDICT_RATE_ANON="1000000/min",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_LOG_LEVEL="warning",
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Server:
    """A gunicorn master started with the repo's gunicorn.conf.py, stopped with its whole process group."""

    def __init__(self, env, log_path, root=ROOT):
        self.env, self.root = env, Path(root)  # root: the checkout served (another one to measure an older commit)
        self.port = int(env["GUNICORN_BIND"].rsplit(":", 1)[1])
        self.log_path = Path(log_path)
        self.proc = None
        self.started_at = None

    def start(self):
        self.log_file = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
            cwd=self.root,
            env=self.env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def workers(self):
        try:
            return psutil.Process(self.proc.pid).children()
        except psutil.NoSuchProcess:
            return []

    def wait_for_workers(self, count, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.workers()) >= count:
                return True
            time.sleep(0.1)
        return False

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        # Workers left behind by a master that died first.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.log_file.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def canvas_drawings(count):
    """Canvas-style PNGs (black strokes on a white 280×280 canvas) of MNIST test digits, with their labels."""
    try:
        from recognizer.ml import canvas_eval

        digits = canvas_eval.build_canvas_set(count)
        return [d.png for d in digits], [d.label for d in digits], "canvas-style MNIST test digits (canvas_eval)"
    except (ImportError, AttributeError):
        pass
    from PIL import Image, ImageFilter

    from recognizer.ml.datasets import load_mnist

    images, labels = load_mnist("test")
    pngs = []
    for img in images[:count]:
        # Upscale ×10 like a 280-px canvas, harden the edges into pen strokes, soften them like canvas anti-aliasing.
        big = Image.fromarray(img).resize((280, 280), Image.BILINEAR)
        big = big.point(lambda v: 255 if v > 90 else 0).filter(ImageFilter.GaussianBlur(1.2))
        canvas = Image.eval(big, lambda v: 255 - v).convert("RGBA")
        buf = io.BytesIO()
        canvas.save(buf, "PNG")
        pngs.append(buf.getvalue())
    return pngs, [int(y) for y in labels[:count]], "MNIST test digits drawn onto 280×280 canvases by bench/harness.py"


def predict_body(png):
    return json.dumps({"image": "data:image/png;base64," + base64.b64encode(png).decode()}).encode()


class Client:
    """One person at the drawing page: a keep-alive connection (reopened after a connection error) and the
    drawer cookie the server sets, sent back on every later request as the browser does."""

    def __init__(self, port, timeout=30.0):
        self.port = port
        self.timeout = timeout
        self.conn = None
        self.cookies = {}
        self.replayed = False

    def post(self, path, body, idempotency_key=None):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        headers = {"Content-Type": "application/json"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            self.conn.request("POST", path, body=body, headers=headers)
            response = self.conn.getresponse()
            payload = response.read()
        except BaseException:
            self.close()
            raise
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, value = header.split(";", 1)[0].partition("=")
            self.cookies[name.strip()] = value.strip()
        self.replayed = response.headers.get("Idempotent-Replayed") == "true"
        return response.status, payload

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def wait_until_answering(server, body, timeout):
    """Seconds from process start to the first 201 answer (None if it never came)."""
    deadline = time.monotonic() + timeout
    client = Client(server.port, timeout=timeout)
    try:
        while time.monotonic() < deadline:
            if server.proc.poll() is not None:
                return None
            try:
                status, _ = client.post(PREDICT_PATH, body)
                if status == 201:
                    return time.perf_counter() - server.started_at
            except RETRYABLE:
                time.sleep(0.05)
        return None
    finally:
        client.close()


@dataclass
class Result:
    index: int
    status: int | None = None  # None: gave up after connection errors
    latency_s: float = 0.0
    drawing_id: int | None = None
    attempts: int = 0
    replayed: bool = False  # the server answered a retry with the drawing an earlier attempt stored
    error: str = ""


@dataclass
class LoadRun:
    results: list = field(default_factory=list)
    wall_s: float = 0.0
    killed_pid: int | None = None
    timed_out: bool = False
    clients: int = 0
    idempotent: bool = False  # every request carried an Idempotency-Key (the same one on each retry)

    @property
    def created_ids(self):
        return [r.drawing_id for r in self.results if r.status == 201]

    @property
    def retried(self):
        """Requests sent more than once: each may have been stored once before its answer was lost."""
        return sum(1 for r in self.results if r.attempts > 1)

    def count(self, status):
        return sum(1 for r in self.results if r.status == status)

    @property
    def replayed(self):
        return sum(1 for r in self.results if r.replayed)

    @property
    def errors(self):
        return [r for r in self.results if r.status != 201]


def send(client, result, body, key, max_attempts, stop_at):
    """One prediction of a load run into ``result``: retried on connection errors (never on an HTTP answer), up
    to ``max_attempts`` times while the run's deadline ``stop_at`` lasts, with the same Idempotency-Key ``key``."""
    started = time.perf_counter()
    while result.attempts < max_attempts and time.monotonic() < stop_at:
        result.attempts += 1
        try:
            status, payload = client.post(PREDICT_PATH, body, idempotency_key=key)
        except RETRYABLE as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            time.sleep(min(0.05 * result.attempts, 0.5))
            continue
        result.status, result.replayed = status, client.replayed
        if status == 201:
            try:
                result.drawing_id = json.loads(payload)["id"]
                result.error = ""
            except (ValueError, KeyError, TypeError) as exc:
                result.status, result.error = None, f"bad 201 body: {exc}: {payload[:100]!r}"
        else:
            result.error = payload[:200].decode(errors="replace")
        break
    result.latency_s = time.perf_counter() - started


def kill_a_worker(server, run, kill_now, clients):
    """SIGKILL one of ``server``'s workers once ``kill_now`` is set (noted in ``run.killed_pid``); nothing if every
    client thread ends first."""
    while not kill_now.wait(0.05):
        if all(not t.is_alive() for t in clients):
            return
    workers = server.workers()
    if workers:
        run.killed_pid = workers[0].pid
        os.kill(run.killed_pid, signal.SIGKILL)


def run_load(
    port,
    bodies,
    total,
    concurrency,
    *,
    deadline_s=120.0,
    max_attempts=1,
    kill_after=None,
    server=None,
    idempotency_keys=False,
):
    """Send ``total`` predictions from ``concurrency`` threads, cycling through ``bodies``.

    ``max_attempts`` > 1 retries a request on connection errors (never on an HTTP answer). ``kill_after``: once that
    many requests have finished, SIGKILL one of ``server``'s workers. ``idempotency_keys``: each request sends its
    own Idempotency-Key, the same on every retry, as a careful client does.
    """
    run = LoadRun(results=[Result(i) for i in range(total)], clients=concurrency, idempotent=idempotency_keys)
    run_tag = secrets.token_hex(6)
    next_index = iter(range(total))
    lock = threading.Lock()
    finished = [0]
    stop_at = time.monotonic() + deadline_s
    kill_now = threading.Event()

    def take():
        with lock:
            return next(next_index, None)

    def client_thread():
        client = Client(port)
        try:
            while (i := take()) is not None:
                key = f"load-{run_tag}-{i}" if idempotency_keys else None
                send(client, run.results[i], bodies[i % len(bodies)], key, max_attempts, stop_at)
                with lock:
                    finished[0] += 1
                    if kill_after is not None and finished[0] == kill_after:
                        kill_now.set()
                if time.monotonic() >= stop_at:
                    run.timed_out = True
                    return
        finally:
            client.close()

    threads = [threading.Thread(target=client_thread, daemon=True) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    killer_thread = None
    if kill_after is not None:
        killer_thread = threading.Thread(target=kill_a_worker, args=(server, run, kill_now, threads), daemon=True)
        killer_thread.start()
    for t in threads:
        t.join(timeout=max(0.0, stop_at - time.monotonic()) + 35)
        if t.is_alive():
            run.timed_out = True
    run.wall_s = time.perf_counter() - started
    if killer_thread is not None:
        kill_now.set()
        killer_thread.join(timeout=5)
    return run


def check_writes(database_url, run):
    """Compare what the server answered with what PostgreSQL holds.

    Returns a dict of problems (empty lists when all is well). Every 201 must name exactly one drawing with exactly
    one keras and one custom prediction, and no drawing may lack either. Nothing else may have been written, with one
    exception: when clients retried *without* an Idempotency-Key, a request whose answer was lost may have been stored
    once more than answered, so up to ``run.retried`` extra drawings are allowed, each complete. With keys, a retry
    gets the drawing already stored: exactly once.
    """
    duplicates_allowed = 0 if run.idempotent else run.retried
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT d.id, array_agg(p.model_name ORDER BY p.model_name) FILTER (WHERE p.id IS NOT NULL)"
            " FROM recognizer_drawing d LEFT JOIN recognizer_prediction p ON p.drawing_id = d.id GROUP BY d.id"
        ).fetchall()
        sessions = conn.execute("SELECT count(*) FROM django_session").fetchone()[0]
        drawer_keys = conn.execute("SELECT count(DISTINCT drawer_key) FROM recognizer_drawing").fetchone()[0]
        orphans = conn.execute(
            "SELECT count(*) FROM recognizer_prediction p"
            " WHERE NOT EXISTS (SELECT 1 FROM recognizer_drawing d WHERE d.id = p.drawing_id)"
        ).fetchone()[0]
    stored = {drawing_id: (models or []) for drawing_id, models in rows}
    answered = run.created_ids
    extra = sorted(set(stored) - set(answered))
    problems = {
        "answered_twice": sorted({i for i in answered if answered.count(i) > 1}),
        "answered_but_missing": sorted(set(answered) - set(stored)),
        "without_both_predictions": sorted(i for i, m in stored.items() if m != sorted(NAMES)),
        "orphan_predictions": [orphans] if orphans else [],
        "unanswered_drawings": [] if len(extra) <= duplicates_allowed else extra,
        # A predict writes no session row; each client keeps the drawer cookie of its first answer, so its drawings
        # share one key (a retried first request may have been stored under a key whose answer was lost).
        "session_rows": [sessions] if sessions else [],
        "extra_drawer_keys": ([drawer_keys] if drawer_keys > run.clients + duplicates_allowed else []),
    }
    summary = {
        "stored": len(stored),
        "answered": len(answered),
        "extra": len(extra),
        "retried": run.retried,
        "replayed": run.replayed,
        "drawer_keys": drawer_keys,
    }
    return problems, summary


def clear_drawings(database_url):
    """Forget what earlier requests (a readiness probe, an earlier run) wrote."""
    with psycopg.connect(database_url) as conn:
        conn.execute("DELETE FROM recognizer_prediction")
        conn.execute("DELETE FROM recognizer_drawingimage")
        conn.execute("DELETE FROM recognizer_drawing")
        conn.execute("DELETE FROM django_session")
