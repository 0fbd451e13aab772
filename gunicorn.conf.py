"""Gunicorn settings for production: `gunicorn -c gunicorn.conf.py`.

Every knob reads the environment, so the same file serves production, the benchmark and the load test.

Memory and TensorFlow: the master imports Django (and, by default, the TensorFlow and Keras modules) before it forks,
so those pages are shared copy-on-write between workers. The models themselves are loaded and warmed in each worker
after the fork: TensorFlow starts its thread pools when a model is first built, and a pool created before ``fork()``
does not exist in the child, whose first prediction then hangs for ever (measured). Importing the modules starts no
threads (also measured), so that much is safe to share. A worker only takes requests once its models are warm.
"""

import gc
import os
import select
import shutil
import socket
import sys
import tempfile
import threading


def _env_int(name, default):
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _env_bool(name, default):
    """The settings' strict parser (``digitsite.settings.env_bool``): empty means the default, anything but these
    words stops the server (``GUNICORN_PRELOAD=flase`` used to mean False without a word)."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    if value.strip().lower() in TRUE_WORDS:
        return True
    if value.strip().lower() in FALSE_WORDS:
        return False
    raise SystemExit(f"gunicorn.conf.py: {name} must be a boolean (1/0, true/false), got {value!r}")


wsgi_app = os.environ.get("GUNICORN_APP", "digitsite.wsgi:application")
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").split(",")

# Each worker holds its own TensorFlow runtime (~150 MB private); one per core, with threads to overlap the
# database round trip with the next request's inference (NumPy, TensorFlow and psycopg release the GIL).
workers = _env_int("WEB_CONCURRENCY", os.cpu_count() or 1)
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = _env_int("GUNICORN_THREADS", 4)
# Library thread pools, set before anything imports NumPy or TensorFlow: one thread each. For one 28×28 image a pool
# only adds hand-offs, and OpenBLAS's spinning threads made the numpy model 20× slower here (8 ms of CPU per call
# instead of 0.4 ms). Bench's in-process numbers use the same values.
THREAD_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}
for _name, _value in THREAD_ENV.items():
    os.environ.setdefault(_name, _value)

# Prometheus multiprocess mode: every worker writes its counters to files in one folder and /metrics sums them. Set
# here, before any worker (or the preloaded app) imports prometheus_client. A folder the operator names is used as
# given; otherwise a fresh temporary one, removed when the master exits.
_own_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _own_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="digits-metrics-")

preload_app = _env_bool("GUNICORN_PRELOAD", True)
preload_tensorflow = _env_bool("GUNICORN_PRELOAD_TENSORFLOW", True)
warm_up_models = _env_bool("GUNICORN_WARM_UP", True)

# A prediction takes milliseconds; a worker silent this long is stuck and gets replaced.
timeout = _env_int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 20)
keepalive = _env_int("GUNICORN_KEEPALIVE", 5)
# SO_REUSEPORT (issue 27, item 12): a listening socket per worker, and the kernel spreads new connections over them by
# a hash of the client's address and port. With the one socket they shared, the first worker awake could take a burst
# of keep-alive connections alone (measured: all 8 on one worker in 5 of 40 wrk runs, all of them behind nginx; none
# in 40 runs with this: bench/KEEPALIVE.md). gunicorn (27 here) opens these sockets in the worker; the hooks below
# open them only once its models are warm and close them as soon as it stops accepting (without them, worker
# recycling under load reset or refused 96 connections in 43 restarts; with them 0-2). One worker gains nothing
# and, while it is replaced, nothing would listen at all: off for one worker unless asked for. TCP only: on a unix
# socket each worker would remove the file the others listen on and bind its own, so only the newest would be reached.
_tcp_only = not any(address.strip().startswith(("unix:", "fd://")) for address in bind)
reuse_port = _env_bool("GUNICORN_REUSE_PORT", workers > 1 and _tcp_only)
if reuse_port and not _tcp_only:
    raise SystemExit(
        "gunicorn.conf.py: GUNICORN_REUSE_PORT works on TCP addresses only, not on GUNICORN_BIND=" + ",".join(bind)
    )
# Recycle workers now and then to bound any slow leak; jitter keeps them from restarting together. 0 turns it off.
max_requests = _env_int("GUNICORN_MAX_REQUESTS", 20000)
max_requests_jitter = _env_int("GUNICORN_MAX_REQUESTS_JITTER", max_requests // 10)
# And a worker whose resident memory passes this many MiB finishes its requests and is replaced (0: never). Large
# bodies (8 MiB v2 batches) leave the allocator's arenas grown: 16 at a time for 17 rounds took a worker from ~400 MiB
# to 1.2 GB, and it never came back.
max_worker_memory_mb = _env_int("GUNICORN_MAX_WORKER_MEMORY_MB", 1024)
backlog = _env_int("GUNICORN_BACKLOG", 256)
# Behind nginx (scripts/serve.sh) these are raised above nginx's own limits, so nginx answers such requests itself.
limit_request_line = _env_int("GUNICORN_LIMIT_REQUEST_LINE", 4094)
limit_request_fields = _env_int("GUNICORN_LIMIT_REQUEST_FIELDS", 50)

# The default control socket is one path per user: two servers on one machine would fight over it.
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")
if not control_socket_disable:
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
proc_name = os.environ.get("GUNICORN_PROC_NAME", "digits")
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Behind a proxy on the same host, trust its X-Forwarded-* headers.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")


def on_starting(server):
    # Numbers left by an earlier run in the same folder would be added to this run's.
    metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(metrics_dir, exist_ok=True)
    for name in os.listdir(metrics_dir):
        if name.endswith(".db"):
            os.remove(os.path.join(metrics_dir, name))
    if preload_app and preload_tensorflow and "digitsite" in wsgi_app:
        import keras  # noqa: F401  (modules only: no thread pool starts until a model runs)
        import tensorflow  # noqa: F401


def pre_fork(server, worker):
    # A child must not inherit a database connection the master opened while loading (closing it there would end
    # the master's too), so the master closes any before forking.
    if "django.db" in sys.modules:
        from django.db import connections

        connections.close_all()
    # Move everything the master built into the collector's permanent generation: a worker's collections then never
    # write to those objects' headers, so their pages stay shared instead of being copied into every worker
    # (measured: worker USS 145 -> 95 MiB).
    gc.freeze()


def post_fork(server, worker):
    """With ``reuse_port`` the arbiter has just opened this worker's own listening socket: close it until the worker
    is ready (``post_worker_init``), or the kernel would queue connections on it while the models load."""
    if _own_sockets(worker):
        for listener in worker.sockets:
            listener.close()
        worker.sockets = []


def _own_sockets(worker):
    # gthread's accept switch (set_accept_enabled) is what the exit hand-off below hooks.
    return worker.cfg.reuse_port and hasattr(socket, "SO_REUSEPORT") and hasattr(worker, "set_accept_enabled")


def _listen(worker):
    """Open this worker's listening sockets (``reuse_port``), and close them the moment it stops accepting for good
    (max_requests, the memory cap, SIGTERM): a closed socket leaves the kernel's group, so new connections go to the
    other workers instead of queueing on one no one will accept from. Those already queued are accepted first."""
    from gunicorn import sock

    worker.sockets = sock.create_sockets(worker.cfg, worker.log)
    set_accept_enabled = worker.set_accept_enabled

    def set_accept_enabled_then_leave(enabled):
        set_accept_enabled(enabled)
        if enabled or worker.alive:
            return
        for listener in worker.sockets:
            queue = select.poll()
            queue.register(listener, select.POLLIN)
            while queue.poll(0):  # the queue's last connections: served while the worker drains
                before = worker.nr_conns
                worker.accept(listener)
                if worker.nr_conns == before:
                    break
            listener.close()

    worker.set_accept_enabled = set_accept_enabled_then_leave


def post_worker_init(worker):
    """Load and warm the live models before this worker accepts its first request, then follow the database's."""
    _warm_up(worker)
    if _own_sockets(worker):
        _listen(worker)


def _warm_up(worker):
    if not (warm_up_models and "digitsite" in wsgi_app):
        return
    done = threading.Event()

    def heartbeat():
        # Loading can take longer than `timeout` on a busy machine; tell the master this worker is alive.
        while not done.wait(1.0):
            worker.notify()

    beat = threading.Thread(target=heartbeat, name="warm-up-heartbeat", daemon=True)
    beat.start()
    try:
        from recognizer import inference

        inference.warm_up()
    finally:
        done.set()
        beat.join()
    inference.watch()  # follow promotions and rollbacks in the database, no restart (issue 26)
    worker.log.info("Worker %s: models warm (%s)", worker.pid, inference.model_versions())


def resident_mb():
    """This process's resident set in MiB (Linux /proc; None elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def post_request(worker, req, environ, resp):
    """Past ``max_worker_memory_mb``, stop taking requests: the worker ends those it has and the master starts a new
    one (gunicorn's own graceful exit, as for max_requests)."""
    if not max_worker_memory_mb or not worker.alive:
        return
    rss = resident_mb()
    if rss is not None and rss > max_worker_memory_mb:
        worker.log.warning(
            "Worker %s: %.0f MiB resident, over GUNICORN_MAX_WORKER_MEMORY_MB=%d; restarting it",
            worker.pid,
            rss,
            max_worker_memory_mb,
        )
        worker.alive = False


def child_exit(server, worker):
    """A worker is gone: drop its live gauges (its counters stay, so totals never go backwards)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _own_metrics_dir:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
