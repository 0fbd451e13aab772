"""Labeled drawings fed back into training: the held-out split, `train --with-labeled`, `evaluate`."""

import numpy as np
import pytest

from recognizer import export
from tests.factories import make_drawing

pytestmark = pytest.mark.django_db


def labeled_fixture(count=12):
    """Drawings whose model input encodes their own label, so pixels can be checked against labels."""
    drawings = []
    for i in range(count):
        label = i % 10
        drawings.append(make_drawing(model_input=bytes([label * 20]) * 784, label=label))
    return drawings


def test_holdout_split_is_every_fifth_id_and_disjoint():
    drawings = labeled_fixture(12)
    make_drawing()  # unlabeled: in no split
    selection = export.select()
    x_train, y_train, ids_train = export.arrays(selection, "train")
    x_hold, y_hold, ids_hold = export.arrays(selection, "holdout")
    all_ids = sorted(d.pk for d in drawings)
    assert sorted([*ids_train.tolist(), *ids_hold.tolist()]) == all_ids
    assert set(ids_train.tolist()).isdisjoint(ids_hold.tolist())
    assert all(pk % export.HOLDOUT_EVERY == 0 for pk in ids_hold.tolist())
    assert all(pk % export.HOLDOUT_EVERY != 0 for pk in ids_train.tolist())
    for x, y in ((x_train, y_train), (x_hold, y_hold)):
        assert x.dtype == np.uint8 and x.shape == (len(y), 28, 28)
        assert (x[:, 0, 0] == y * 20).all()  # pixels line up with labels


def test_a_drawing_keeps_its_side_as_more_are_labeled():
    labeled_fixture(6)
    before = set(export.arrays(export.select(), "holdout")[2].tolist())
    labeled_fixture(9)
    after = set(export.arrays(export.select(), "holdout")[2].tolist())
    assert before <= after


def test_user_labels_only_when_asked():
    make_drawing(label=3)
    make_drawing(label=4, label_source="user")
    assert len(export.arrays(export.select(), "all")[1]) == 1
    assert sorted(export.arrays(export.select(include_user_labels=True), "all")[1].tolist()) == [3, 4]


def test_unknown_split_is_refused():
    with pytest.raises(ValueError, match="split"):
        export.arrays(export.select(), "test")
