"""Rows for tests that are about storage and bookkeeping, not about the models.

The answers here are test data built by hand: nothing in the product ever stores them.
"""

from recognizer.inference import ModelAnswer
from recognizer.models import Drawing


def answer(digit, confidence=0.9, version="test-1"):
    rest = (1.0 - confidence) / 9
    probabilities = [rest] * 10
    probabilities[digit] = confidence
    return ModelAnswer(
        digit=digit, probabilities=probabilities, confidence=confidence, model_version=version, time_ms=0.5
    )


def make_drawing(keras=7, custom=7, keras_conf=0.9, custom_conf=0.9, label=None, label_source="staff", **kwargs):
    drawing = Drawing.objects.record(
        image=kwargs.pop("image", b"\x89PNG test image"),
        model_input=kwargs.pop("model_input", bytes(range(256)) * 3 + bytes(16)),
        preprocess_version=kwargs.pop("preprocess_version", "test"),
        answers={
            "keras": answer(keras, keras_conf, kwargs.pop("keras_version", "test-1")),
            "custom": answer(custom, custom_conf, kwargs.pop("custom_version", "test-1")),
        },
        **kwargs,
    )
    if label is not None:
        drawing.set_label(label, source=label_source)
    return drawing


def drawer_client(key=None):
    """An API client carrying a valid signed drawer cookie (as a browser that drew before); ``.key`` is its key."""
    from django.http import HttpResponse
    from rest_framework.test import APIClient

    from recognizer.drawer import COOKIE, new_drawer_key, remember_drawer

    client = APIClient()
    client.key = key or new_drawer_key()
    client.cookies[COOKIE] = remember_drawer(HttpResponse(), client.key).cookies[COOKIE].value
    return client
