"""Do keep-alive connections spread over gunicorn's workers? (issue 27, item 12)

    python -m bench.keepalive [--runs 10] [--seconds 6] [--clients 8] [--configs before,reuse_port]
                              [--modes direct,nginx] [--json out.json]

Starts one gunicorn per configuration (gunicorn.conf.py, 2 gthread workers by default, on one scratch PostgreSQL
database and Redis as `make bench` does) and, for ``nginx`` mode, an nginx in front of each (deploy/render_nginx.py's
config). Then, ``--runs`` times, runs ``wrk -c <clients> -t 2 -d <seconds>s`` (bench/predict.lua: POST
/api/predict/ on keep-alive connections) against every configuration and mode in turn -- interleaved, in an order
that rotates each round, so the noise of this shared machine falls on all of them alike. Each run starts on fresh
connections: it waits until gunicorn holds no established connection (wrk's are closed at its end; nginx's idle
upstream ones are closed by gunicorn's keep-alive timeout).

For each run it records req/s and which worker held the connections: the established TCP connections on gunicorn's
port, per worker pid (psutil, sampled every 0.25 s; the figure kept is the sample with the most connections), and
each worker's CPU seconds over the run. A run is "on one worker" when every connection was held by the same one.
Nothing is asked of the app: no endpoint tells anyone its pid.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "deploy"))

import psutil  # noqa: E402
import render_nginx  # noqa: E402

from bench import harness, wrk_predict  # noqa: E402
from bench.run import DEFAULT_ADMIN_URL, DEFAULT_REDIS_URL, drawer_cookie  # noqa: E402

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

# name: (gunicorn's environment, nginx's environment). "before" is the configuration this issue found.
CONFIGS = {
    "before": ({"GUNICORN_REUSE_PORT": "0"}, {}),
    "reuse_port": ({"GUNICORN_REUSE_PORT": "1"}, {}),
    "keepalive_1s": ({"GUNICORN_REUSE_PORT": "0", "GUNICORN_KEEPALIVE": "1"}, {}),
    "nginx_no_upstream_keepalive": ({"GUNICORN_REUSE_PORT": "0"}, {"NGINX_UPSTREAM_KEEPALIVE": "0"}),
    "reuse_port_no_upstream_keepalive": ({"GUNICORN_REUSE_PORT": "1"}, {"NGINX_UPSTREAM_KEEPALIVE": "0"}),
}


def established_by_worker(workers, port):
    """{worker pid: established connections on gunicorn's ``port``} (the local end is gunicorn's)."""
    counts = {}
    for proc in workers:
        try:
            conns = proc.net_connections(kind="tcp")
        except psutil.Error:
            continue
        counts[proc.pid] = sum(1 for c in conns if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port)
    return counts


def wait_until_idle(server, timeout=15.0):
    """Until gunicorn holds no established connection (the next run starts on fresh ones); False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not sum(established_by_worker(server.workers(), server.port).values()):
            return True
        time.sleep(0.2)
    return False


def cpu_by_worker(workers):
    out = {}
    for proc in workers:
        try:
            t = proc.cpu_times()
            out[proc.pid] = t.user + t.system
        except psutil.Error:
            pass
    return out


def measured_run(server, port, bodies, clients, seconds, cookie):
    """One wrk run against ``port`` (gunicorn's or nginx's); req/s and how gunicorn's workers shared it."""
    workers = server.workers()
    idle = wait_until_idle(server)
    cpu_before = cpu_by_worker(workers)
    samples, stop = [], threading.Event()

    def sample():
        while not stop.wait(0.25):
            samples.append(established_by_worker(workers, server.port))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        level = wrk_predict.run(port, bodies, clients, seconds, cookie)
    finally:
        stop.set()
        sampler.join()
    cpu_after = cpu_by_worker(workers)
    busiest = max(samples, key=lambda s: sum(s.values()), default={})
    cpu = {pid: round(cpu_after.get(pid, 0.0) - cpu_before.get(pid, 0.0), 2) for pid in cpu_before}
    return {
        "rps": round(level["rps"], 1),
        "errors": level["errors"],
        "p50_ms": round(level["pct"][50], 1),
        "p99_ms": round(level["pct"][99], 1),
        "connections": sorted(busiest.values(), reverse=True),  # per worker, most first
        "workers_used": sum(1 for n in busiest.values() if n),
        "cpu_s": sorted(cpu.values(), reverse=True),
        "fresh": idle,
    }


class Nginx:
    def __init__(self, run_dir, upstream_port, env):
        self.run_dir = Path(run_dir)
        self.port = harness.free_port()
        conf_env = {
            "PORT": str(self.port),
            "GUNICORN_BIND": f"127.0.0.1:{upstream_port}",
            "NGINX_ACCESS_LOG": "off",
            "NGINX_STATIC_ROOT": str(self.run_dir / "static"),
            **env,
        }
        self.conf = render_nginx.render(self.run_dir, conf_env)
        self.proc = None

    def __enter__(self):
        self.log = open(self.run_dir / "nginx.log", "wb")  # noqa: SIM115 (closed in __exit__)
        self.proc = subprocess.Popen(
            [NGINX, "-p", str(self.run_dir), "-e", "stderr", "-c", str(self.conf)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while not harness_port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not start: {(self.run_dir / 'nginx.log').read_text()[-2000:]}")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=15)
        self.log.close()


def harness_port_open(port):
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def summary(runs):
    rps = [r["rps"] for r in runs]
    return {
        "median": statistics.median(rps),
        "min": min(rps),
        "max": max(rps),
        "one_worker_runs": sum(1 for r in runs if r["workers_used"] == 1),
    }


def markdown(results, clients, seconds):
    lines = [
        f"| configuration | mode | req/s at {clients} clients, each {seconds} s run | median | min | max | "
        "runs on one worker | connections per worker, each run |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (config, mode), runs in results.items():
        s = summary(runs)
        each = " ".join(f"{r['rps']:.0f}" for r in runs)
        lines.append(
            f"| {config} | {mode} | {each} | {s['median']:.0f} | "
            f"{s['min']:.0f} | {s['max']:.0f} | {s['one_worker_runs']}/{len(runs)} | "
            f"{' '.join('/'.join(str(n) for n in r['connections']) for r in runs)} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--configs", default="before,reuse_port", help=f"of {', '.join(CONFIGS)}; name@mode: in that mode only"
    )
    parser.add_argument("--modes", default="direct,nginx")
    parser.add_argument("--postgres-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--json", help="write every run's figures here")
    args = parser.parse_args(argv)
    # "name@mode" measures that configuration in that mode only.
    wanted = [spec.partition("@") for spec in args.configs.split(",")]
    modes = args.modes.split(",")
    configs = list(dict.fromkeys(name for name, _, _ in wanted))
    order = [(name, m) for name, _, only in wanted for m in modes if not only or m == only]
    if not wrk_predict.available():
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    bodies = [harness.predict_body(png) for png in harness.canvas_drawings(40)[0]]
    say = lambda *a: print(*a, flush=True)  # noqa: E731

    results = {pair: [] for pair in order}
    with (
        tempfile.TemporaryDirectory(prefix="digits-keepalive-") as tmp,
        harness.fresh_postgres_database(args.postgres_url, "digits_keepalive") as url,
    ):
        stacks, servers, proxies = {}, [], []
        try:
            for config in configs:
                gunicorn_env, nginx_env = CONFIGS[config]
                env = harness.production_env(
                    url,
                    harness.free_port(),
                    WEB_CONCURRENCY=args.workers,
                    GUNICORN_LOG_LEVEL="info",
                    REDIS_URL=args.redis_url,
                    CACHE_KEY_PREFIX=f"keepalive{os.getpid()}",
                    **gunicorn_env,
                )
                server = harness.Server(env, Path(tmp) / f"{config}.log").start()
                servers.append(server)
                proxy = None
                if (config, "nginx") in order:
                    proxy = Nginx(Path(tmp) / f"nginx-{config}", server.port, nginx_env).__enter__()
                    proxies.append(proxy)
                stacks[config] = (server, proxy)
            for config, (server, _) in stacks.items():
                if harness.wait_until_answering(server, bodies[0], timeout=180) is None:
                    raise RuntimeError(f"{config}: no answer\n{server.log()[-3000:]}")
                deadline = time.monotonic() + 120
                while server.log().count("models warm") < args.workers:  # every worker warm, not just one
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{config}: workers not warm\n{server.log()[-3000:]}")
                    time.sleep(0.2)
            cookie = drawer_cookie(next(iter(stacks.values()))[0].port, bodies[0])
            # One discarded run each: connection pools, caches, nginx's first upstream connections.
            for config, mode in order:
                server, proxy = stacks[config]
                measured_run(server, proxy.port if mode == "nginx" else server.port, bodies, 8, 2, cookie)
            for i in range(args.runs):
                shift = i % len(order)
                for config, mode in order[shift:] + order[:shift]:
                    server, proxy = stacks[config]
                    run = measured_run(
                        server, proxy.port if mode == "nginx" else server.port, bodies, args.clients, args.seconds,
                        cookie,
                    )  # fmt: skip
                    results[(config, mode)].append(run)
                    say(
                        f"run {i + 1:>2} {config:<34} {mode:<6} {run['rps']:6.1f} req/s  connections "
                        f"{'/'.join(map(str, run['connections'])):<7} cpu {run['cpu_s']}  errors {run['errors']}"
                        + ("" if run["fresh"] else "  (connections left from the last run)")
                    )
        finally:
            for proxy in proxies:
                proxy.__exit__(None, None, None)
            for server in servers:
                server.stop()
    say()
    say(markdown(results, args.clients, args.seconds))
    if args.json:
        Path(args.json).write_text(
            json.dumps({f"{c} {m}": {"runs": r, **summary(r)} for (c, m), r in results.items()}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
