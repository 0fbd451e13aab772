"""The variants experiments/ carries of its own (the ML core has no option for them): they build and run.

The product never imports experiments/ (tests/test_architecture.py); the tests may.
"""

import numpy as np
import pytest

from experiments import keras_recipe_experiment as recipe
from recognizer.ml import augmentation, canvas_eval, keras_model, preprocess


@pytest.fixture(scope="module")
def digits(mnist_test):
    x, y = mnist_test
    return x[:60], y[:60]


def test_the_recipe_experiments_deeper_network_adds_convolutions_before_the_first_pooling():
    stem = recipe.build_stem_model(2)
    assert keras_model.describe(stem) == (
        "conv5x5x32-conv32-conv32-pool-conv64-conv64-pool-dense128-dropout0.4-dense10 (BatchNorm)"
    )
    assert stem.output_shape == (None, 10)
    # without extra convolutions it is the shipped network, layer for layer
    assert keras_model.describe(recipe.build_stem_model(0)) == keras_model.describe(keras_model.build_model())
    assert recipe.build_stem_model(0).count_params() == keras_model.build_model().count_params()


def test_the_recipe_experiment_redraws_a_fraction_of_mnist_on_the_page_canvas(digits):
    x, y = digits
    plain = augmentation.EpochData(x, y, seed=3).get(0)
    unchanged = recipe.RedrawnEpochData(x, y, seed=3, fraction=0.0).get(0)
    assert all(np.array_equal(a, b) for a, b in zip(unchanged, plain, strict=True))
    redrawn = recipe.RedrawnEpochData(x, y, seed=3, fraction=0.5).get(0)
    assert np.array_equal(redrawn[1], plain[1]) and np.array_equal(redrawn[2], plain[2])  # the same order
    again = recipe.RedrawnEpochData(x, y, seed=3, fraction=0.5).get(0)
    assert np.array_equal(again[0], redrawn[0])  # reproducible
    differ = (plain[0] != redrawn[0]).any(axis=(1, 2)).sum()
    assert 15 <= differ <= 45  # about half of the digits drawn on a canvas instead of augmented here
    # a redrawn digit is what the live preprocessing makes of that digit drawn on a 280x280 canvas
    one = recipe.redrawn_inputs(x[:1], np.random.default_rng(0))[0]
    png = canvas_eval.draw_on_canvas(x[0], -1, np.random.default_rng(0)).png
    assert np.array_equal(one, np.rint(preprocess.to_model_input(png) * 255).astype(np.uint8))
