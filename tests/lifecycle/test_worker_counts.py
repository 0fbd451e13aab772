"""The worker that `make run` and `make serve` start also keeps the accuracy rollup within a minute of the traffic
(issue 25): it folds the drawings stored since the last count, and a failure never stops it."""

import threading

import pytest

from recognizer.lifecycle.management.commands import train_worker
from recognizer.models import Drawing, Rollup
from tests.factories import make_drawing

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_worker_counts_new_drawings_into_the_rollup(monkeypatch):
    make_drawing(keras=3, custom=3, label=3)
    assert Drawing.objects.filter(counted=False).count() == 1
    stop, real_fold, folds = threading.Event(), Rollup.fold, []

    def fold_then_stop(*args, **kwargs):
        folds.append(real_fold(*args, **kwargs))
        stop.set()
        return folds[-1]

    monkeypatch.setattr(Rollup, "fold", fold_then_stop)
    train_worker.count_new_drawings(stop, every=0.01)
    assert folds == [1]
    assert Drawing.objects.filter(counted=False).count() == 0


def test_a_failed_count_is_logged_and_tried_again(monkeypatch, caplog):
    stop, calls = threading.Event(), []

    def failing_then_stop():
        calls.append(1)
        if len(calls) == 2:
            stop.set()
        raise RuntimeError("database restarting")

    monkeypatch.setattr(Rollup, "fold", failing_then_stop)
    train_worker.count_new_drawings(stop, every=0.01)
    assert len(calls) == 2
    assert "database restarting" in caplog.text
