"""Prometheus metrics: what they are, how answers and requests are counted, and the registry a scrape reads.

Under gunicorn, ``gunicorn.conf.py`` sets ``PROMETHEUS_MULTIPROC_DIR`` before any worker starts: every worker then
writes its numbers to files in that folder and a scrape, answered by whichever worker, sums them over all workers
(prometheus_client's multiprocess mode). Without it (``runserver``, tests) the process's own registry is read.

Only prometheus_client and Django settings here; ``domain.predicting`` calls :func:`observe_answers` for every
stored answer.
"""

from __future__ import annotations

import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

LATENCY_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)

REQUESTS = Counter(
    "digits_http_requests_total", "HTTP requests answered, by endpoint (URL name), method and status.",
    ["endpoint", "method", "status"],
)  # fmt: skip
LATENCY = Histogram(
    "digits_http_request_duration_seconds", "Time to answer a request, by endpoint, method and status.",
    ["endpoint", "method", "status"], buckets=LATENCY_BUCKETS,
)  # fmt: skip
THROTTLED = Counter(
    "digits_throttled_requests_total", "Requests refused by a rate limit (429), by endpoint.", ["endpoint"]
)
PREDICTIONS = Counter(
    "digits_predictions_total", "Answers given, by model, model version and digit.", ["model", "model_version", "digit"]
)
RATE_LIMIT_FALLBACKS = Counter(
    "digits_rate_limit_fallbacks_total",
    "Rate-limit counts made in the worker's own memory because the shared cache (Redis) failed, by error type.",
    ["error"],
)
CACHE_FALLBACKS = Counter(
    "digits_cache_fallbacks_total",
    "Cache operations done in the worker's own memory because the shared cache (Redis) failed, by operation and error.",
    ["operation", "error"],
)
AGREEMENT = Counter("digits_model_agreement_total", "Images both models answered, by whether they agreed.", ["agree"])
CONFIDENCE = Histogram(
    "digits_prediction_confidence", "Confidence (top probability) of each answer, by model.", ["model"],
    buckets=CONFIDENCE_BUCKETS,
)  # fmt: skip


_children = {}  # (metric, label values) -> the labelled child; nothing here ever removes a child


def child(metric, *values):
    """``metric.labels(*values)``, looked up once per label set: ``labels()`` checks and locks on every call, a
    good part of the metrics' cost per request (issue 17). The child is the same object ``labels()`` returns."""
    key = (metric, values)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*values)
    return found


def observe_answers(answers: dict) -> None:
    """Count one image's answers ({model name: ModelAnswer})."""
    digits = set()
    for name, answer in answers.items():
        child(PREDICTIONS, name, answer.model_version, str(answer.digit)).inc()
        child(CONFIDENCE, name).observe(answer.confidence)
        digits.add(answer.digit)
    child(AGREEMENT, "true" if len(digits) == 1 else "false").inc()


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition(*extra_collectors) -> tuple[bytes, str]:
    """The text a scrape answers: summed over the workers in multiprocess mode, plus ``extra_collectors``."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_Forward(REGISTRY))
    for collector in extra_collectors:
        registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Forward:
    """Another registry's metrics, so per-scrape collectors can be added without touching the global one."""

    def __init__(self, registry):
        self.registry = registry

    def collect(self):
        return self.registry.collect()


class MetricsMiddleware:
    """Counts every request and its latency by endpoint (the URL's name, never the raw path) and status."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        endpoint = (match.view_name or match.route) if match else "unmatched"
        status = str(response.status_code)
        method = request.method if request.method in KNOWN_METHODS else "other"
        child(REQUESTS, endpoint, method, status).inc()
        child(LATENCY, endpoint, method, status).observe(time.perf_counter() - started)
        if response.status_code == 429:
            child(THROTTLED, endpoint).inc()
        return response


KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
