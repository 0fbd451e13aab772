"""Render deploy/nginx.conf.template into a run folder, with nginx's own error pages and temporary folders.

    python deploy/render_nginx.py [RUN_DIR]      # default .run/nginx; prints the config's path

Reads the same environment as the app, so nginx's limits follow the app's: ``PORT`` (8080), ``GUNICORN_BIND`` (the
upstream, first address; ``unix:/path`` works), ``MAX_UPLOAD_BYTES`` and ``MAX_BATCH_BYTES`` (body limits, plus room
for multipart overhead), and ``NGINX_CLIENT_TIMEOUT`` (10s), ``NGINX_WORKERS`` (auto), ``NGINX_LISTEN`` (overrides
127.0.0.1:PORT), ``NGINX_FORWARDED_PROTO`` ($scheme; ``$http_x_forwarded_proto`` behind a TLS proxy that sets it),
``NGINX_ACCESS_LOG`` (``<run dir>/access.log``; ``off``), ``NGINX_UPSTREAM_KEEPALIVE`` (16 idle connections to gunicorn
per nginx worker; 0: none). Standard library only: no Django settings are imported.
"""

import getpass
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "nginx.conf.template"
# The same defaults as digitsite/settings.py (tests/test_nginx_config.py checks they agree).
DEFAULT_MAX_UPLOAD_BYTES = 1024 * 1024
DEFAULT_MAX_BATCH_BYTES = 8 * 1024 * 1024
MULTIPART_ROOM = 64 * 1024  # as DATA_UPLOAD_MAX_MEMORY_SIZE: the app answers its own 413 inside this room
TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")

# What nginx answers itself, before gunicorn sees the request.
ERRORS = {
    400: ("bad_request", "The request's line or headers are malformed or too large."),
    408: ("request_timeout", "The client sent its request too slowly."),
    413: ("payload_too_large", "The request body is over the server's limit."),
    414: ("uri_too_long", "The request line is too long."),
    502: ("bad_gateway", "The application server is not answering; try again in a few seconds."),
    504: ("gateway_timeout", "The application server took too long to answer."),
}
PAGE = (
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{status}</title></head>\n'
    "<body><h1>{status}</h1><p>{detail}</p></body></html>\n"
)


def _int_env(env, name, default):
    value = env.get(name, "").strip()
    return int(value) if value else default


def upstream(env):
    bind = env.get("GUNICORN_BIND", "127.0.0.1:8000").split(",")[0].strip()
    return bind  # host:port and unix:/path are both nginx upstream addresses


def _upstream_keepalive(count):
    """Idle connections to gunicorn each nginx worker keeps open (0: a new connection for every request)."""
    return f"keepalive {count};" if count > 0 else "# no idle upstream connections kept (NGINX_UPSTREAM_KEEPALIVE=0)"


def values(run_dir, env):
    run_dir = Path(run_dir).resolve()
    listen = env.get("NGINX_LISTEN") or f"127.0.0.1:{_int_env(env, 'PORT', 8080)}"
    mime = Path("/etc/nginx/mime.types")
    return {
        # nginx started as root drops its workers to `nobody`, who could not write the run folder: stay this user.
        "USER_LINE": f"user {getpass.getuser()};" if os.geteuid() == 0 else "# (not root: workers run as this user)",
        "WORKERS": env.get("NGINX_WORKERS", "auto"),
        "RUN_DIR": str(run_dir),
        "MIME_TYPES": str(mime if mime.exists() else ROOT / "deploy" / "mime.types"),
        "ACCESS_LOG": env.get("NGINX_ACCESS_LOG") or str(run_dir / "access.log"),
        "CLIENT_TIMEOUT": env.get("NGINX_CLIENT_TIMEOUT", "10s"),
        "BODY_LIMIT": str(_int_env(env, "MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES) + MULTIPART_ROOM),
        "BATCH_BODY_LIMIT": str(_int_env(env, "MAX_BATCH_BYTES", DEFAULT_MAX_BATCH_BYTES) + MULTIPART_ROOM),
        "UPSTREAM": upstream(env),
        "LISTEN": listen,
        "STATIC_ROOT": env.get("NGINX_STATIC_ROOT") or str(ROOT / "staticfiles"),  # collectstatic's folder
        "FORWARDED_PROTO": env.get("NGINX_FORWARDED_PROTO", "$scheme"),
        "UPSTREAM_KEEPALIVE": _upstream_keepalive(_int_env(env, "NGINX_UPSTREAM_KEEPALIVE", 16)),
    }


def render(run_dir, env=None):
    """Write ``nginx.conf``, ``errors/`` and the temporary folders into ``run_dir``; return the config's path."""
    env = os.environ if env is None else env
    run_dir = Path(run_dir).resolve()
    text = TEMPLATE.read_text()
    for name, value in values(run_dir, env).items():
        text = text.replace(f"@{name}@", value)
    if "@" in text.replace("@NAME@", ""):
        raise ValueError("nginx.conf.template has a placeholder render_nginx.py does not fill")
    for name in ("errors", *TEMP_DIRS):
        (run_dir / name).mkdir(parents=True, exist_ok=True)
    for status, (code, detail) in ERRORS.items():
        (run_dir / "errors" / f"{status}.json").write_text(json.dumps({"error": code, "detail": detail}) + "\n")
        (run_dir / "errors" / f"{status}.html").write_text(PAGE.format(status=status, detail=detail))
    conf = run_dir / "nginx.conf"
    conf.write_text(text)
    return conf


if __name__ == "__main__":
    print(render(sys.argv[1] if len(sys.argv) > 1 else ROOT / ".run" / "nginx"))
