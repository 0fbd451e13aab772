# Two commands: `make run` serves the app, `make test` runs the whole test suite.
# Both set everything up from a fresh clone first.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed

.PHONY: run serve worker test test-fast setup browser nginx services migrate lint bench

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

setup: $(STAMP)

migrate: setup
	$(PY) manage.py migrate --noinput

# One BLAS/OpenMP thread: a 28x28 answer gains nothing from more, and OpenBLAS's spinning
# thread pool makes the numpy model ~20x slower per request (measured, see gunicorn.conf.py).
# The task queue's worker (training jobs) runs beside it, and stops with it.
run: migrate
	$(WORKER_ENV) nice -n 10 $(PY) manage.py train_worker & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT; \
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) manage.py runserver 127.0.0.1:8000

# The task queue's worker in the foreground (training jobs, issue 26): django-tasks' database worker, every queue,
# at low priority on one thread, so that serving goes on while a model trains.
WORKER_ENV := OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
worker: migrate
	$(WORKER_ENV) nice -n 10 $(PY) manage.py train_worker

# The production stack in the foreground: nginx on 127.0.0.1:$PORT (8080) in front of gunicorn, settings from the
# environment (README, "Production"); Ctrl-C stops both.
serve: setup nginx
	scripts/serve.sh

# nginx from Debian, for `make serve` and the tests that go through it.
nginx:
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { \
		(apt-get update -qq && apt-get install -y -qq nginx) || \
		{ echo "Could not install nginx (apt-get install -y nginx)"; exit 1; }; }

# Chromium for the browser tests comes from Debian (never a Playwright download).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		(apt-get update -qq && apt-get install -y -qq chromium chromium-driver) || \
		{ echo "Could not install chromium (apt-get install -y chromium chromium-driver)"; exit 1; }; }

# PostgreSQL and Redis for the tests that need real ones; started if they are down.
services:
	@scripts/services.sh

test: setup browser nginx services
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: setup nginx services  # the edit-test loop: no browser, no slow tests
	$(PY) -m pytest -m "not browser and not slow" $(PYTEST_ARGS)

lint: setup
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .

bench: migrate services  # BENCH_ARGS=--quick for a smoke run
	$(PY) -m bench.run $(BENCH_ARGS)

# The staff pages at 10k / 100k / 1M drawings in a scratch PostgreSQL database (never the test or dev one):
# bench/SCALE.md. SCALE_SIZES=10000,100000,1000000 by default; SCALE_SERVER, SCALE_DATABASE pick the database;
# BENCH_SCALE_ARGS=--add keeps the other sizes of bench/SCALE.json (10M: SCALE_SIZES=10000000 BENCH_SCALE_ARGS=--add).
SCALE_SIZES ?= 10000,100000,1000000
bench-scale: setup services
	$(PY) -m bench.scale --sizes $(SCALE_SIZES) $(BENCH_SCALE_ARGS)
