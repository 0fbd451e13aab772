#!/usr/bin/env bash
# Start the local PostgreSQL and Redis used by the tests if they are not running.
set -u
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    fi
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && break; sleep 1; done
fi
pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && echo "PostgreSQL: up" || echo "PostgreSQL: not available"
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    if command -v redis-server >/dev/null 2>&1; then
        redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null || true
        sleep 1
    fi
fi
redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && echo "Redis: up" || echo "Redis: not available"
exit 0
