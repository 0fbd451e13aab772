"""Through nginx (`make serve`'s stack: scripts/serve.sh, deploy/nginx.conf.template) on the configured database:
slow clients, the client IP behind the proxy, what nginx answers itself, chunked bodies, static files, Ctrl-C.

Two stacks: an open one (rate limit raised, as the load test) and one with PREDICT_RATE_ANON=5/min and one worker
(the per-process cache counts exactly) for the trusted-proxy test. Each is stopped with SIGINT to its process group,
and the teardown checks that nginx and gunicorn both went.
"""

import http.client
import json
import os
import socket
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench import harness
from tests import api_images
from tests.nginx_stack import Stack, stack_env

pytestmark = [pytest.mark.slow]

DATABASE_URL = os.environ.get("DATABASE_URL", "")
# A scratch database on the configured server (created from its maintenance database), else a SQLite file.
SERVER_URL = harness.with_database(DATABASE_URL, "postgres") if DATABASE_URL.startswith("postgres") else ""
STATIC_TEXT = "body { color: black }\n"
BODY = json.dumps({"image": api_images.data_url(api_images.png())}).encode()
DRIBBLERS = 12
DRIBBLE_S = 20
ANSWER_BOUND_S = 5.0  # a hang check, not a benchmark


@contextmanager
def running_stack(prefix, **extra):
    with tempfile.TemporaryDirectory(prefix=f"{prefix}-") as tmp:
        static = Path(tmp) / "static"
        (static / "recognizer").mkdir(parents=True)
        (static / "recognizer" / "probe.css").write_text(STATIC_TEXT)
        with harness.scratch_database(SERVER_URL, prefix.replace("-", "_")) as url:
            stack = Stack(stack_env(url, Path(tmp) / "run", static, **extra), Path(tmp) / "serve.log").start()
            try:
                assert harness.wait_until_answering(stack, BODY, timeout=300) is not None, stack.log()[-4000:]
                yield stack
            finally:
                stopped = stack.stop()
            assert stopped, "SIGINT to serve.sh's process group left processes running:\n" + stack.log()[-3000:]


@pytest.fixture(scope="module")
def stack():
    with running_stack("nginx-open") as s:
        yield s


@pytest.fixture(scope="module")
def limited_stack():
    with running_stack("nginx-limited", PREDICT_RATE_ANON="5/min") as s:
        yield s


def request(port, method, path, body=None, headers=None, source="127.0.0.1", timeout=30):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        conn.close()


def raw(port, data, timeout=30):
    """Send bytes as they are; the status code and body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head.decode(errors="replace"), body


def predict(port, **kwargs):
    return request(port, "POST", "/api/predict/", BODY, **kwargs)


# -- slow clients -------------------------------------------------------------------------------------------------


def dribble(port, until, kind):
    """Hold a connection sending one byte a second: the headers, or (``body``) a body after complete headers."""
    head = b"POST /api/predict/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    while time.monotonic() < until:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                if kind == "body":
                    sock.sendall(head + b"Content-Length: 100000\r\n\r\n")
                    data = b"{" + b" " * 100000
                else:
                    data = head + b"X-Slow: " + b"a" * 100000
                for byte in data:
                    if time.monotonic() >= until:
                        return
                    sock.sendall(bytes([byte]))
                    time.sleep(1.0)
        except OSError:
            time.sleep(0.2)  # cut off (nginx's client timeouts): come back and dribble again


def latencies_while_dribbling(port, dribblers=DRIBBLERS, seconds=DRIBBLE_S):
    """(worst latency, answers) of ordinary requests, each on a new connection, while slow clients dribble."""
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(target=dribble, args=(port, until, "body" if i % 2 else "headers"), daemon=True)
        for i in range(dribblers)
    ]
    for t in threads:
        t.start()
    time.sleep(3)  # let them take their places first
    answers = []
    while time.monotonic() < until:
        for method, path, body in (("POST", "/api/predict/", BODY), ("GET", "/healthz", None)):
            started = time.perf_counter()
            try:
                status = request(port, method, path, body, timeout=30)[0]
            except OSError as e:
                status = f"{type(e).__name__}: {e}"
            answers.append((path, status, time.perf_counter() - started))
        time.sleep(0.2)
    for t in threads:
        t.join(timeout=10)
    return max(a[2] for a in answers), answers


def test_slow_clients_do_not_hold_up_anyone_else(stack):
    worst, answers = latencies_while_dribbling(stack.port)
    print(f"\n{len(answers)} requests while {DRIBBLERS} clients dribbled for {DRIBBLE_S} s: worst {worst:.3f} s")
    assert len(answers) >= 10
    assert {(path, status) for path, status, _ in answers} == {("/api/predict/", 201), ("/healthz", 200)}
    assert worst < ANSWER_BOUND_S, sorted(answers, key=lambda a: -a[2])[:5]


# -- the client behind the proxy ----------------------------------------------------------------------------------


def test_each_client_address_has_its_own_limit_and_a_made_up_forwarded_for_changes_nothing(limited_stack):
    port = limited_stack.port
    assert [predict(port, source="127.0.0.2")[0] for _ in range(5)] == [201] * 5
    assert predict(port, source="127.0.0.2")[0] == 429
    # Whatever the client claims to be, nginx's hop (the real peer) is the one counted.
    for claimed in ("10.9.9.9", "127.0.0.3", "127.0.0.3, 127.0.0.4"):
        assert predict(port, source="127.0.0.2", headers={"X-Forwarded-For": claimed})[0] == 429
    # Another address is unaffected, also when it claims to be the exhausted one.
    assert predict(port, source="127.0.0.3")[0] == 201
    assert predict(port, source="127.0.0.3", headers={"X-Forwarded-For": "127.0.0.2"})[0] == 201


# -- what nginx answers itself ------------------------------------------------------------------------------------


def test_a_request_line_too_long_is_nginx_s_json_414(stack):
    status, head, body = raw(stack.port, b"GET /api/" + b"a" * 6000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert status == 414 and "Server: nginx" in head
    assert json.loads(body)["error"] == "uri_too_long"


def test_headers_too_large_are_nginx_s_json_400_under_api(stack):
    status, content_type, body = request(stack.port, "GET", "/api/drawings/", headers={"X-Big": "a" * 6000})
    assert status == 400 and content_type == "application/json"
    assert json.loads(body)["error"] == "bad_request"
    status, content_type, _ = request(stack.port, "GET", "/", headers={"X-Big": "a" * 6000})
    assert status == 400 and content_type.startswith("text/html")


def test_many_headers_never_reach_gunicorn_s_431(stack):
    headers = "".join(f"X-H{i}: {i}\r\n" for i in range(200)).encode()
    status, _, body = raw(
        stack.port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + b"Connection: close\r\n\r\n"
    )
    assert status == 200 and json.loads(body) == {"status": "alive"}
    # (gunicorn.conf.py's own limit is 50 fields; serve.sh raises it above what nginx lets through.)


def test_scheme_headers_a_client_sends_cannot_make_gunicorn_refuse(stack):
    # Gunicorn answers a plain-text 400 when X-Forwarded-Proto and X-Forwarded-Ssl disagree; nginx clears the latter.
    assert request(stack.port, "GET", "/healthz", headers={"X-Forwarded-Ssl": "on"})[0] == 200
    assert (
        raw(
            stack.upstream_port,
            b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Ssl: on\r\n\r\n",
        )[0]
        == 400
    )


def test_a_body_over_the_limit_is_nginx_s_json_413(stack):
    status, head, body = raw(
        stack.port,
        b"POST /api/predict/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5000000\r\nConnection: close\r\n\r\n{",
    )
    assert status == 413 and "Server: nginx" in head
    assert json.loads(body)["error"] == "payload_too_large"


def test_static_files_come_from_nginx(stack):
    status, head, body = raw(
        stack.port, b"GET /static/recognizer/probe.css HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    assert status == 200 and body.decode() == STATIC_TEXT
    assert "X-Frame-Options" not in head  # Django never saw it


# -- chunked bodies -----------------------------------------------------------------------------------------------


def chunked(body, size=1000):
    parts = [b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size]) for i in range(0, len(body), size)]
    return b"".join(parts) + b"0\r\n\r\n"


@pytest.mark.parametrize("through", ["nginx", "gunicorn"])
def test_a_chunked_predict_is_answered_like_any_other(stack, through):
    port = stack.port if through == "nginx" else stack.upstream_port
    status, _, body = raw(
        port,
        b"POST /api/predict/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked(BODY),
    )
    assert status == 201, body
    assert json.loads(body)["id"]
