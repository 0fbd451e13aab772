"""deploy/render_nginx.py: the config follows the app's environment, and nginx accepts it (`nginx -t`)."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from django.conf import settings

ROOT = settings.BASE_DIR
sys.path.insert(0, str(ROOT / "deploy"))
import render_nginx  # noqa: E402

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def test_defaults_agree_with_settings():
    # settings.py reads the same variables; with none set, both sides must have the same numbers.
    if "MAX_UPLOAD_BYTES" not in os.environ:
        assert render_nginx.DEFAULT_MAX_UPLOAD_BYTES == settings.MAX_UPLOAD_BYTES
        assert render_nginx.MULTIPART_ROOM == settings.DATA_UPLOAD_MAX_MEMORY_SIZE - settings.MAX_UPLOAD_BYTES
    if "MAX_BATCH_BYTES" not in os.environ:
        assert render_nginx.DEFAULT_MAX_BATCH_BYTES == settings.MAX_BATCH_BYTES


def test_limits_and_addresses_come_from_the_environment(tmp_path):
    env = {"PORT": "9999", "GUNICORN_BIND": "127.0.0.1:8123,[::1]:8123", "MAX_UPLOAD_BYTES": "2000"}
    conf = render_nginx.render(tmp_path, env).read_text()
    assert "listen 127.0.0.1:9999;" in conf
    assert "server 127.0.0.1:8123;" in conf
    assert f"client_max_body_size {2000 + 64 * 1024};" in conf
    assert f"client_max_body_size {8 * 1024 * 1024 + 64 * 1024};" in conf  # batches
    assert "@" not in conf.replace("@NAME@", "")
    assert str(tmp_path / "client_body") in conf and (tmp_path / "client_body").is_dir()
    for status in render_nginx.ERRORS:
        assert set(json.loads((tmp_path / "errors" / f"{status}.json").read_text())) == {"error", "detail"}


def test_nginx_accepts_the_rendered_config(tmp_path):
    if not os.path.exists(NGINX):
        pytest.fail("nginx is not installed; run `make nginx` (apt-get install -y nginx)")
    conf = render_nginx.render(tmp_path, {"PORT": "9999"})
    result = subprocess.run(
        [NGINX, "-t", "-q", "-p", str(tmp_path), "-e", "stderr", "-c", str(conf)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_upstream_keepalive_comes_from_the_environment(tmp_path):
    """Idle connections to gunicorn nginx keeps (issue 27, item 12: bench/keepalive.py compares 16 with none)."""
    assert "        keepalive 16;\n" in render_nginx.render(tmp_path / "default", {}).read_text()
    assert (
        "        keepalive 4;\n"
        in render_nginx.render(tmp_path / "four", {"NGINX_UPSTREAM_KEEPALIVE": "4"}).read_text()
    )
    conf = render_nginx.render(tmp_path / "none", {"NGINX_UPSTREAM_KEEPALIVE": "0", "PORT": "9999"})
    assert "keepalive 0" not in conf.read_text()
    assert not [line for line in conf.read_text().splitlines() if line.strip().startswith("keepalive ")]
    if os.path.exists(NGINX):
        result = subprocess.run(
            [NGINX, "-t", "-q", "-p", str(conf.parent), "-e", "stderr", "-c", str(conf)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr


def test_nginx_answers_json_when_gunicorn_is_down(tmp_path):
    """Nothing listens upstream: nginx's own 502 is JSON under /api/ and a page elsewhere."""
    import http.client
    import time

    from bench import harness

    port = harness.free_port()
    env = {"PORT": str(port), "GUNICORN_BIND": f"127.0.0.1:{harness.free_port()}", "NGINX_WORKERS": "1"}
    conf = render_nginx.render(tmp_path, env)
    nginx = subprocess.Popen([NGINX, "-p", str(tmp_path), "-e", "stderr", "-c", str(conf)], stderr=subprocess.PIPE)
    try:
        answers = {}
        for path in ("/api/predict/", "/"):
            deadline = time.monotonic() + 10
            while True:
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                    conn.request("GET", path)
                    response = conn.getresponse()
                    answers[path] = (response.status, response.getheader("Content-Type"), response.read())
                    conn.close()
                    break
                except ConnectionRefusedError:
                    assert time.monotonic() < deadline and nginx.poll() is None, nginx.stderr.read()
                    time.sleep(0.05)
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
    status, content_type, body = answers["/api/predict/"]
    assert (status, content_type) == (502, "application/json")
    assert json.loads(body)["error"] == "bad_gateway"
    assert answers["/"][:2] == (502, "text/html")
