"""Behind nginx, the API's absolute links keep the port the client used (issue 27, item 18).

nginx (the rendered deploy template) in front of the app served by pytest-django's live server: the pagination
``next`` link must point back at nginx's own host and port, not at port 80 (what ``Host $host`` gave).
"""

import http.client
import json
import os
import shutil
import subprocess
import sys
import time
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from rest_framework.authtoken.models import Token

from bench import harness
from tests.factories import make_drawing

sys.path.insert(0, str(settings.BASE_DIR / "deploy"))
import render_nginx  # noqa: E402

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def get(port, path, headers):
    deadline = time.monotonic() + 10
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        except ConnectionRefusedError:
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.05)
        finally:
            conn.close()


def test_the_template_passes_the_clients_host_with_its_port(tmp_path):
    conf = render_nginx.render(tmp_path, {"PORT": "8091"}).read_text()
    assert "proxy_set_header Host $upstream_host;" in conf
    assert "default $http_host;" in conf


def test_pagination_links_through_nginx_keep_the_port(tmp_path, live_server, transactional_db, staff_user):
    if not os.path.exists(NGINX):
        pytest.fail("nginx is not installed; run `make nginx` (apt-get install -y nginx)")
    for _ in range(3):
        make_drawing()
    token = Token.objects.create(user=staff_user).key
    port = harness.free_port()
    upstream = urlsplit(live_server.url).netloc
    env = {"PORT": str(port), "GUNICORN_BIND": upstream, "NGINX_WORKERS": "1", "NGINX_ACCESS_LOG": "off"}
    conf = render_nginx.render(tmp_path, env)
    nginx = subprocess.Popen([NGINX, "-p", str(tmp_path), "-e", "stderr", "-c", str(conf)], stderr=subprocess.PIPE)
    try:
        auth = {"Authorization": f"Token {token}"}
        status, body = get(port, "/api/drawings/?page_size=1", {**auth, "Host": f"127.0.0.1:{port}"})
        assert status == 200, body[:500]
        page = json.loads(body)
        assert page["next"].startswith(f"http://127.0.0.1:{port}/api/drawings/?"), page["next"]
        # Following it through nginx gives the second page, whose links keep the port too.
        following = urlsplit(page["next"])
        status, body = get(port, f"{following.path}?{following.query}", {**auth, "Host": f"127.0.0.1:{port}"})
        assert status == 200, body[:500]
        second = json.loads(body)
        assert second["previous"].startswith(f"http://127.0.0.1:{port}/") and second["next"].startswith(
            f"http://127.0.0.1:{port}/"
        )
        # A client on the default port sends no port, and the links have none.
        status, body = get(port, "/api/drawings/?page_size=1", {**auth, "Host": "localhost"})
        assert status == 200 and json.loads(body)["next"].startswith("http://localhost/api/drawings/?")
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
