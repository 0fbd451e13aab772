#!/usr/bin/env bash
# `make serve`: the production stack in the foreground: gunicorn (gunicorn.conf.py) on a loopback port behind nginx on
# 127.0.0.1:${PORT:-8080}. Settings come from the environment (README, "Production"). Ctrl-C (SIGINT to the process
# group) or SIGTERM stops both; if either exits, the other is stopped too. The task queue's worker runs beside them.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
RUN_DIR=$(realpath -m "${SERVE_RUN_DIR:-.run/nginx}")
export PORT=${PORT:-8080}
export GUNICORN_BIND=${GUNICORN_BIND:-127.0.0.1:8000}
# nginx appends the client's address to X-Forwarded-For: that hop is the client (clientip.py).
export TRUSTED_PROXIES=${TRUSTED_PROXIES:-1}
# nginx's header limits (4 KiB line, 4 KiB per header) are the ones that apply: gunicorn's are raised above them so
# gunicorn never answers a plain-text 400/414/431 of its own.
export GUNICORN_LIMIT_REQUEST_LINE=${GUNICORN_LIMIT_REQUEST_LINE:-8190}
export GUNICORN_LIMIT_REQUEST_FIELDS=${GUNICORN_LIMIT_REQUEST_FIELDS:-32768}

[ -x "$NGINX" ] || { echo "nginx not found: run 'make nginx' (apt-get install nginx)" >&2; exit 1; }

# The tests skip collectstatic (a minute of compression) and point NGINX_STATIC_ROOT at their own folder.
if [ "${SERVE_MIGRATE:-1}" = 1 ]; then "$PY" manage.py migrate --noinput -v 0; fi
if [ "${SERVE_COLLECTSTATIC:-1}" = 1 ]; then "$PY" manage.py collectstatic --noinput -v 0; fi
CONF=$("$PY" deploy/render_nginx.py "$RUN_DIR")
"$NGINX" -t -q -p "$RUN_DIR" -e stderr -c "$CONF"

pids=()
stop() {
    trap - INT TERM EXIT
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait || true
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap stop EXIT

"$PY" -m gunicorn -c gunicorn.conf.py &
pids+=($!)
"$NGINX" -p "$RUN_DIR" -e stderr -c "$CONF" &
pids+=($!)
# The task queue's worker (training jobs): low priority, one thread, so that serving goes on (SERVE_WORKER=0: none).
if [ "${SERVE_WORKER:-1}" = 1 ]; then
    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 \
        nice -n 10 "$PY" manage.py train_worker &
    pids+=($!)
fi
echo "serving on http://127.0.0.1:${PORT}/ (nginx) -> gunicorn on ${GUNICORN_BIND}; Ctrl-C stops both" >&2
wait -n
