"""Migrations 0007 and 0008 (issue 25, item 5): the image and the model input move to a table of their own, in
batches, losing nothing (the sha256 of every image and input before and after, both ways), and drawings stored while
0007 ran are copied by 0008."""

import hashlib
import os
from importlib import import_module

import pytest
from django.db import connection

from tests.domain.migrating import latest, migrate

BEFORE = [("recognizer", "0006_staff_pages_at_scale")]
COPIED = [("recognizer", "0007_drawing_images")]
pytestmark = pytest.mark.django_db(transaction=True)


def digests(rows):
    return {
        pk: (hashlib.sha256(bytes(image)).hexdigest(), hashlib.sha256(bytes(x)).hexdigest()) for pk, image, x in rows
    }


def fill(apps, count):
    Drawing = apps.get_model("recognizer", "Drawing")
    for _ in range(count):
        size = int.from_bytes(os.urandom(2), "big") % 3000 + 1  # from 1 byte to ~3 KB, random content
        Drawing.objects.create(image=os.urandom(size), model_input=os.urandom(784), preprocess_version="v")
    return digests(Drawing.objects.values_list("pk", "image", "model_input"))


def current_digests():
    from recognizer.models import DrawingImage

    return digests(DrawingImage.objects.values_list("drawing_id", "image", "model_input"))


def drawing_columns():
    with connection.cursor() as cursor:
        return {c.name for c in connection.introspection.get_table_description(cursor, "recognizer_drawing")}


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(import_module("recognizer.migrations.0007_drawing_images"), "BATCH", 7)


def test_the_bytes_move_in_batches_and_back_with_every_sha256_the_same(small_batches):
    old = migrate(BEFORE)
    try:
        before = fill(old, 40)
        migrate(latest())
        assert current_digests() == before
        assert {"image", "model_input"}.isdisjoint(drawing_columns())  # the hot table holds no bytes

        back = migrate(BEFORE)  # reversed, in batches: the columns come back holding the same bytes
        Drawing = back.get_model("recognizer", "Drawing")
        assert digests(Drawing.objects.values_list("pk", "image", "model_input")) == before
        assert "recognizer_drawingimage" not in connection.introspection.table_names()

        migrate(latest())  # and forward again
        assert current_digests() == before
    finally:
        migrate(latest())
        from recognizer.models import Drawing

        Drawing.objects.all().delete()


def test_drawings_stored_while_0007_ran_are_copied_by_0008(small_batches):
    old = migrate(BEFORE)
    try:
        before = fill(old, 10)
        during = migrate(COPIED)  # the copy has run; the old code still stores bytes in the drawing's columns
        before.update(fill(during, 3))
        Drawing = during.get_model("recognizer", "Drawing")
        assert Drawing.objects.count() == 13
        assert during.get_model("recognizer", "DrawingImage").objects.count() == 10
        migrate(latest())
        assert current_digests() == before and len(before) == 13
    finally:
        migrate(latest())
        from recognizer.models import Drawing

        Drawing.objects.all().delete()
