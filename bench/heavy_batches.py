"""Issue 27 items 8 and 9 against a repo's production gunicorn: heavy batches starving a small client, and worker RSS.

It serves ``<root>``'s checkout with this repo's bench/harness.py, so the same script measures an older checkout too:

    MNIST_DIR=/work/shared/data/mnist .venv/bin/python bench/heavy_batches.py --root /tmp/before
    .venv/bin/python bench/heavy_batches.py                      # the repo this file lives in

It starts ``<root>/gunicorn.conf.py`` (DEBUG off, a scratch PostgreSQL database created, migrated and dropped, Redis
db 13, anonymous predict rate raised, TRUSTED_PROXIES=1 so each client names its own address in X-Forwarded-For),
then:

(a) the storm: 8 concurrent batches to POST /api/predict/batch/, each 60 16-bit 2000x2000 PNGs (~12 KB each) as data
    URLs from its own address, while a 9th client sends small single predicts (a 280x280 canvas PNG) on fresh
    connections, one started every 0.5 s (open loop); reports each batch's status and time, and the small predicts'
    p50 and max during the storm (and a quiet baseline before it). --storm-cap seconds bound each batch (the
    client's timeout).
(b) memory: 16 concurrent ~8 MiB v2 binary bodies (POST /v2/models/keras/infer, binary-data extension: one valid PNG
    padded with zero bytes) for 17 rounds; reports the workers' RSS (psutil over the master's children) before, the
    peak seen while sampling every 0.1 s, and after (5 s idle), plus any worker restarts.

Loopback only, bounded by deadlines. Prints a JSON summary at the end (and to --json if given).
"""

import argparse
import base64
import http.client
import io
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))  # run as a script: bench.harness from this repo

from bench import harness  # noqa: E402


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, flush=True)


def server_env(database_url, port, redis_url):
    env = harness.production_env(
        database_url,
        port,
        REDIS_URL=redis_url,
        PREDICT_RATE_ANON="100000/min",
        PREDICT_RATE_USER="100000/min",
        TRUSTED_PROXIES="1",
    )
    return {k: v for k, v in env.items() if not k.startswith("MAX_")}  # the caps as the checkout sets them


def rss_mib(server):
    """Each worker's resident memory, MiB, by pid."""
    out = {}
    for p in server.workers():
        try:
            out[p.pid] = p.memory_info().rss / 2**20
        except psutil.NoSuchProcess:
            pass
    return out


def request(port, method, path, body=None, headers=None, timeout=60):
    """(status, seconds, body bytes) on a fresh connection; status is an error name on a connection failure."""
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, time.perf_counter() - t0, data
    except (OSError, http.client.HTTPException) as exc:
        return type(exc).__name__, time.perf_counter() - t0, b""
    finally:
        conn.close()


def data_url(data):
    return "data:image/png;base64," + base64.b64encode(data).decode()


def canvas_png():
    """tests/api_images.py's im.png(im.SEVEN): thick black strokes on a white 280x280 canvas."""
    img = Image.new("RGB", (280, 280), "white")
    ImageDraw.Draw(img).line(((80, 60), (200, 60), (120, 230)), fill="black", width=18, joint="curve")
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def heavy_png(seed):
    """A 16-bit greyscale 2000x2000 PNG (4 megapixels, within a 4 MP per-image budget) of ~12 KB: a few strokes."""
    img = Image.new("I;16", (2000, 2000), 65535)
    draw = ImageDraw.Draw(img)
    draw.line(((400 + seed, 300), (1600, 300), (800, 1700)), fill=0, width=90)
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=9)
    return buf.getvalue()


def wait_ready(server, port, deadline):
    body = json.dumps({"image": data_url(canvas_png())}).encode()
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise SystemExit(f"gunicorn exited ({server.proc.returncode}); see {server.log_path}")
        status, _, _ = request(port, "POST", "/api/predict/", body, json_headers("10.9.9.9"), timeout=30)
        if status == 201 or status == 200:
            return
        time.sleep(1)
    raise SystemExit(f"server not ready; see {server.log_path}")


def json_headers(address):
    return {"Content-Type": "application/json", "X-Forwarded-For": address}


def pct(values, q):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def storm(port, batches, images, cap, interval):
    pngs = [heavy_png(i) for i in range(images)]
    sizes = [len(p) for p in pngs]
    batch_body = json.dumps({"images": [data_url(p) for p in pngs]}).encode()
    small_body = json.dumps({"image": data_url(canvas_png())}).encode()
    log(f"heavy PNG {sizes[0]} B (min {min(sizes)}, max {max(sizes)}), batch body {len(batch_body)} B")

    quiet = []
    for _ in range(10):
        status, seconds, _ = request(port, "POST", "/api/predict/", small_body, json_headers("10.0.0.99"))
        quiet.append(seconds)

    results = [None] * batches
    done = threading.Event()

    def heavy(i):
        status, seconds, data = request(
            port, "POST", "/api/predict/batch/", batch_body, json_headers(f"10.0.1.{i + 1}"), timeout=cap
        )
        code = None
        if status != 200 and status != 201:
            try:
                code = json.loads(data).get("code") or json.loads(data).get("error")
            except Exception:  # noqa: BLE001
                code = data[:80].decode(errors="replace")
        results[i] = {"status": status, "seconds": round(seconds, 2), "code": code}

    small = []
    small_threads = []

    def one_small():
        status, seconds, _ = request(port, "POST", "/api/predict/", small_body, json_headers("10.0.2.1"), cap)
        small.append((status, seconds))

    def small_client():
        # Open loop: one small predict every `interval` seconds, each on its own connection and thread, so a request
        # stuck behind the batches does not hide how long the others would have waited.
        while not done.is_set():
            t = threading.Thread(target=one_small)
            t.start()
            small_threads.append(t)
            done.wait(interval)

    cpu0 = os.getloadavg()
    t0 = time.perf_counter()
    threads = [threading.Thread(target=heavy, args=(i,)) for i in range(batches)]
    for t in threads:
        t.start()
    time.sleep(0.05)  # the batches are sent first, as in the issue
    sc = threading.Thread(target=small_client)
    sc.start()
    for t in threads:
        t.join()
    storm_seconds = time.perf_counter() - t0
    done.set()
    sc.join()
    for t in small_threads:
        t.join()
    lat = [s for _, s in small]
    out = {
        "heavy_png_bytes": sizes[0],
        "batch_body_bytes": len(batch_body),
        "batches": results,
        "storm_seconds": round(storm_seconds, 2),
        "small_quiet_p50_s": round(statistics.median(quiet), 3),
        "small_count": len(small),
        "small_statuses": sorted({str(s) for s, _ in small}),
        "small_p50_s": round(statistics.median(lat), 3) if lat else None,
        "small_p90_s": round(pct(lat, 0.9), 3) if lat else None,
        "small_max_s": round(max(lat), 3) if lat else None,
        "small_over_1s": sum(1 for x in lat if x > 1.0),
        "small_latencies_s": [round(x, 3) for x in lat],
        "loadavg_before": cpu0,
        "loadavg_after": os.getloadavg(),
    }
    log("storm:", json.dumps(out))
    return out


def v2_body(target_bytes, count=1):
    """A v2 binary-extension body of ``target_bytes``: ``count`` BYTES elements, each a valid PNG padded with zero
    bytes (count=1: one ~8 MiB image, as in the issue; more: elements that each fit a 1 MiB per-image cap)."""
    png = canvas_png()

    def header_for(size):
        spec = {"name": "image", "datatype": "BYTES", "shape": [count], "parameters": {"binary_data_size": size}}
        return json.dumps({"inputs": [spec]}).encode()

    room = target_bytes - len(header_for(target_bytes)) - 4 * count
    per = room // count
    if count > 1:
        per = min(per, 1024 * 1024)
    element = png + b"\x00" * (per - len(png))
    blob = (len(element).to_bytes(4, "little") + element) * count
    header = header_for(len(blob))
    return header + blob, {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": str(len(header)),
    }


def memory(server, port, concurrency, rounds, target_bytes, cap, count):
    body, headers = v2_body(target_bytes, count)
    before = rss_mib(server)
    pids_before = set(before)
    log(f"v2 body {len(body)} B; RSS before {before}")
    peak = {}
    seen = set(pids_before)
    stop = threading.Event()

    def sampler():
        while not stop.is_set():
            for pid, mib in rss_mib(server).items():
                seen.add(pid)
                peak[pid] = max(peak.get(pid, 0), mib)
            time.sleep(0.1)

    st = threading.Thread(target=sampler)
    st.start()
    statuses = {}
    lock = threading.Lock()
    t0 = time.perf_counter()
    per_round = []
    deadline = time.monotonic() + cap
    for r in range(rounds):
        if time.monotonic() > deadline:
            log(f"memory: stopping after {r} rounds (cap {cap} s)")
            break
        rt0 = time.perf_counter()

        def one(i):
            status, _, data = request(
                port, "POST", "/v2/models/keras/infer", body, {**headers, "X-Forwarded-For": f"10.0.3.{i + 1}"}, 120
            )
            key = str(status)
            if status not in (200, 201):
                try:
                    key += ":" + str(json.loads(data).get("error", ""))[:60]
                except Exception:  # noqa: BLE001
                    pass
            with lock:
                statuses[key] = statuses.get(key, 0) + 1

        ts = [threading.Thread(target=one, args=(i,)) for i in range(concurrency)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        per_round.append(round(time.perf_counter() - rt0, 2))
        rss = {k: round(v) for k, v in rss_mib(server).items()}
        log(f"round {r + 1}: {per_round[-1]} s, RSS {rss}")
    elapsed = time.perf_counter() - t0
    time.sleep(5)
    stop.set()
    st.join()
    after = rss_mib(server)
    out = {
        "body_bytes": len(body),
        "images_per_body": count,
        "rounds_done": len(per_round),
        "round_seconds": per_round,
        "seconds": round(elapsed, 1),
        "statuses": statuses,
        "rss_before_mib": {k: round(v) for k, v in before.items()},
        "rss_peak_mib": {k: round(v) for k, v in peak.items()},
        "rss_after_mib": {k: round(v) for k, v in after.items()},
        "rss_before_max_mib": round(max(before.values())) if before else None,
        "rss_peak_max_mib": round(max(peak.values())) if peak else None,
        "rss_after_max_mib": round(max(after.values())) if after else None,
        "workers_replaced": sorted(seen - set(after)),
        "new_workers": sorted(set(after) - pids_before),
    }
    log("memory:", json.dumps(out))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=HERE, help="repo root to serve (default: this repo)")
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--storm-cap", type=float, default=150, help="client timeout of each heavy batch, seconds")
    parser.add_argument("--small-interval", type=float, default=0.5, help="seconds between small predicts")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=17)
    parser.add_argument("--body-bytes", type=int, default=8 * 1024 * 1024 - 1024)
    parser.add_argument("--v2-images", type=int, default=1, help="images per v2 body (1: one ~8 MiB image)")
    parser.add_argument("--memory-cap", type=float, default=120, help="no new round after this many seconds")
    parser.add_argument("--skip", choices=["storm", "memory"], action="append", default=[])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    root = args.root.resolve()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True).stdout
    log(f"root {root} @ {commit.strip()}, loadavg {os.getloadavg()}, {os.cpu_count()} CPUs")
    result = {"root": str(root), "commit": commit.strip(), "cpus": os.cpu_count()}
    with harness.scratch_database(args.database_url, "heavy_batches") as db_url:
        port = harness.free_port()
        env = server_env(db_url, port, args.redis_url)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=root, env=env, check=True, timeout=300,
        )  # fmt: skip
        server = harness.Server(env, f"/tmp/heavy_batches_{os.getpid()}.log", root=root).start()
        try:
            wait_ready(server, port, time.monotonic() + 180)
            result["workers"] = len(server.workers())
            log(f"ready: {result['workers']} workers on port {port}")
            if "storm" not in args.skip:
                result["storm"] = storm(port, args.batches, args.images, args.storm_cap, args.small_interval)
            if "memory" not in args.skip:
                result["memory"] = memory(
                    server, port, args.concurrency, args.rounds, args.body_bytes, args.memory_cap, args.v2_images
                )
        finally:
            server.stop()
            tail = Path(server.log_path).read_text(errors="replace").splitlines()[-15:]
            result["server_log_tail"] = tail
    result["loadavg_end"] = os.getloadavg()
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
