"""recognizer.ml.strokes: pen strokes drawn like the page's canvas, then the live preprocessing."""

import io

import numpy as np
import pytest
from PIL import Image

from recognizer.ml import preprocess, strokes

# A "7" with a bar, as two strokes, in the UNIPEN 1000-unit box (y grows down).
SEVEN = [[[100, 0], [900, 0], [350, 1000]], [[300, 500], [750, 500]]]


def ink_mask(img: Image.Image) -> np.ndarray:
    return np.asarray(img) < 128


def test_draw_is_the_pages_round_pen():
    # a dot is a disc of the pen's diameter (app.js: arc of LINE_WIDTH / 2, filled)
    dot = ink_mask(strokes.draw([np.array([[140.0, 140.0]])], width=20))
    rows, cols = np.flatnonzero(dot.any(1)), np.flatnonzero(dot.any(0))
    assert 19 <= rows[-1] - rows[0] + 1 <= 22 and 19 <= cols[-1] - cols[0] + 1 <= 22
    assert abs(dot.sum() - np.pi * 10**2) < 0.1 * np.pi * 10**2
    # a horizontal line: as thick as the pen, with round caps past both ends
    line = ink_mask(strokes.draw([np.array([[60.0, 140.0], [220.0, 140.0]])], width=20))
    rows, cols = np.flatnonzero(line.any(1)), np.flatnonzero(line.any(0))
    assert 19 <= rows[-1] - rows[0] + 1 <= 22
    assert cols[0] in range(48, 53) and cols[-1] in range(228, 233)
    assert not line[130, 50] and line[140, 52]  # the cap is round, not square
    # a sharp corner, densely sampled like pointer events, is joined round: ink all around the vertex
    vee = np.concatenate([strokes.resample(np.array([[60.0, 200.0], [140.0, 60.0]]), 2.0),
                          strokes.resample(np.array([[140.0, 60.0], [220.0, 200.0]]), 2.0)[1:]])  # fmt: skip
    corner = ink_mask(strokes.draw([vee], width=20))
    assert corner[53, 140] and not corner[48, 140]  # 10 px above the vertex (a mitre would reach ~20 px)
    assert corner[60, 132] and corner[60, 148]


def test_page_path_is_quadratic_curves_through_midpoints():
    pts = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [20.0, 10.0]])
    path = strokes.page_path(pts, steps=4)
    assert np.array_equal(path[0], pts[0]) and np.array_equal(path[-1], pts[-1])
    # the first curve ends at the midpoint of p1, p2; the curve stays inside the control polygon's hull
    assert any(np.allclose(p, [10.0, 5.0]) for p in path)
    assert path[:, 0].min() >= 0 and path[:, 0].max() <= 20 and path[:, 1].min() >= 0 and path[:, 1].max() <= 10
    two = np.array([[0.0, 0.0], [5.0, 5.0]])
    assert np.array_equal(strokes.page_path(two), two)


def test_render_goes_through_the_live_preprocessing():
    img = strokes.draw(strokes.place(strokes.clean(strokes.as_strokes(SEVEN)), 180, 20))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    live = preprocess.to_model_input(buf.getvalue())  # exactly what POST /api/predict/ computes
    assert np.array_equal(live, strokes.to_model_input(img))
    x = strokes.render(SEVEN, height=180)
    assert np.array_equal(x, live)
    assert x.shape == (28, 28) and x.dtype == np.float32 and 0 <= x.min() and x.max() == 1.0
    ys, xs = np.mgrid[0:28, 0:28]
    assert abs((x * ys).sum() / x.sum() - 14) <= 1 and abs((x * xs).sum() / x.sum() - 14) <= 1


def test_size_place_and_pen_width():
    rng = np.random.default_rng(0)
    placed = strokes.place(strokes.as_strokes(SEVEN), 100, 20, rng)
    lo, hi = strokes.bounds(placed)
    assert max(hi - lo) == pytest.approx(100) and lo.min() >= 12 and hi.max() <= 268
    thin = strokes.render(SEVEN, width=10, height=200)
    thick = strokes.render(SEVEN, width=30, height=200)
    assert (thin > 0.5).sum() < (thick > 0.5).sum()


def test_clean_smooths_a_staircase():
    # a 72 dpi tablet's diagonal: unit steps, scaled to 1000 units
    steps = np.array([[i // 2 + i % 2, i // 2] for i in range(41)], float) * 50.0
    smooth = strokes.clean([steps])[0]
    assert strokes.staircase_step([steps]) == 50.0
    assert strokes.staircase_step([np.array([[0.0, 0.0], [30.0, 41.0], [70.0, 80.0], [90.0, 130.0], [95, 170]])]) == 0
    # how far the path wanders across the diagonal: a whole step for the staircase, little once smoothed
    assert np.ptp((steps[:, 0] - steps[:, 1]) / np.sqrt(2)) > 35
    assert np.ptp((smooth[10:-10, 0] - smooth[10:-10, 1]) / np.sqrt(2)) < 5


def test_augmentation_is_reproducible_and_varied():
    cfg = strokes.StrokeAugment()
    a = strokes.render(SEVEN, np.random.default_rng(1), cfg)
    b = strokes.render(SEVEN, np.random.default_rng(1), cfg)
    c = strokes.render(SEVEN, np.random.default_rng(2), cfg)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    # small rotations and shears only: the bar of the 7 stays a 7's bar, the digit its height
    for seed in range(20):
        out = strokes.augment_strokes(strokes.as_strokes(SEVEN), np.random.default_rng(seed), cfg)
        lo, hi = strokes.bounds(out)
        assert 700 < (hi - lo)[1] < 1400 and len(out) == 2


def test_render_many_and_validation_renders(pen_digits):
    items = [d.strokes for d in pen_digits[:40]]
    many = strokes.render_many(items, np.random.default_rng(0), strokes.StrokeAugment())
    assert many.shape == (40, 28, 28) and many.dtype == np.uint8 and (many.max(axis=(1, 2)) == 255).all()
    val = strokes.render_validation(items, seed=0)
    assert np.array_equal(val, strokes.render_validation(items, seed=0))
    assert not np.array_equal(val, strokes.render_validation(items, seed=1))
