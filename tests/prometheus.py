"""Reading this process's Prometheus counters in tests."""

from prometheus_client import REGISTRY


def total(counter):
    """The sum of ``<counter>_total`` over every label set (``counter`` without ``_total``)."""
    return sum(
        s.value
        for metric in REGISTRY.collect()
        if metric.name == counter
        for s in metric.samples
        if s.name == f"{counter}_total"
    )
