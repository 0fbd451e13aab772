"""recognizer.ml.styles: European 1s, slashed zeros and crossed 7s added to real pen strokes."""

import numpy as np
import pytest

from recognizer.ml import augmentation, styles
from recognizer.ml.strokes import bounds

# Screen orientation (y grows down), the UNIPEN 1000-unit box.
PLAIN_ONE = [np.array([[500.0, 0.0], [505.0, 500.0], [510.0, 1000.0]])]
OVAL = np.stack([500 + 300 * np.cos(t := np.linspace(0, 2 * np.pi, 60)), 500 + 500 * np.sin(t)], axis=1)
SEVEN = [np.array([[100.0, 0.0], [900.0, 0.0], [400.0, 1000.0]])]
ALWAYS = styles.StyleAugment(european_one=1.0, slashed_zero=1.0, crossed_seven=1.0)


def test_european_one_adds_an_up_stroke_into_the_top_from_the_left():
    cfg = styles.StyleAugment()
    for seed in range(20):
        out = styles.european_one(PLAIN_ONE, np.random.default_rng(seed), cfg)
        assert len(out) == 2 and out[1] is PLAIN_ONE[0]
        flag = out[0]
        start, end = flag[0], flag[-1]
        assert np.allclose(end, [500.0, 0.0])  # it ends at the 1's top
        dx, dy = end - start
        assert dx > 0 and dy < 0  # drawn up and to the right, into the top
        length = np.hypot(dx, dy) / 1000.0
        angle = np.degrees(np.arctan2(-dy, dx))
        assert cfg.flag_length[0] - 1e-9 <= length <= cfg.flag_length[1] + 1e-9
        assert cfg.flag_angle_deg[0] - 1e-9 <= angle <= cfg.flag_angle_deg[1] + 1e-9


def test_a_one_that_already_has_a_flag_or_a_foot_is_left_alone():
    flagged = [np.array([[150.0, 300.0], [500.0, 0.0], [500.0, 1000.0]])]
    out = styles.european_one(flagged, np.random.default_rng(0), styles.StyleAugment())
    assert len(out) == 1 and out[0] is flagged[0]


def test_slashed_zero_crosses_the_oval_corner_to_corner():
    for seed in range(20):
        out = styles.slashed_zero([OVAL], np.random.default_rng(seed))
        assert len(out) == 2 and out[0] is OVAL
        slash = out[1]
        ends = sorted([tuple(slash[0]), tuple(slash[-1])])  # left end first
        (x0, y0), (x1, y1) = ends
        assert x0 < 300 and x1 > 700  # from near the left edge to near the right one
        assert y0 > 850 and y1 < 150  # bottom left to top right: a "/"
        # it passes through the middle of the oval
        mid = slash[len(slash) // 2]
        assert np.hypot(*(mid - [500.0, 500.0])) < 100


def test_crossed_seven_puts_a_short_level_bar_across_the_stem():
    for seed in range(20):
        out = styles.crossed_seven(SEVEN, np.random.default_rng(seed))
        assert len(out) == 2
        bar = out[1]
        y = bar[:, 1].mean()
        assert 400 < y < 680  # about halfway down
        assert abs(bar[0, 1] - bar[-1, 1]) < 0.2 * 1000  # nearly level
        # the stem at that height: the 7's diagonal from (900, 0) to (400, 1000)
        stem_x = 900 - 500 * y / 1000
        assert bar[:, 0].min() < stem_x < bar[:, 0].max()
        assert np.ptp(bar[:, 0]) < 0.75 * 800  # short: well inside the 7's width


def test_add_style_only_touches_its_own_digits():
    rng = np.random.default_rng(0)
    assert len(styles.add_style(PLAIN_ONE, 1, rng, ALWAYS)) == 2
    assert len(styles.add_style([OVAL], 0, rng, ALWAYS)) == 2
    assert len(styles.add_style(SEVEN, 7, rng, ALWAYS)) == 2
    for label in (2, 3, 4, 5, 6, 8, 9):
        out = styles.add_style(PLAIN_ONE, label, rng, ALWAYS)
        assert len(out) == 1 and out[0] is PLAIN_ONE[0]
    never = styles.StyleAugment(european_one=0.0, slashed_zero=0.0, crossed_seven=0.0)
    for label, digit in ((1, PLAIN_ONE), (0, [OVAL]), (7, SEVEN)):
        assert len(styles.add_style(digit, label, rng, never)) == len(digit)


def test_styles_keep_the_digit_in_its_box_give_or_take_the_slash():
    lo, hi = bounds(PLAIN_ONE)
    out = styles.add_style(PLAIN_ONE, 1, np.random.default_rng(3), ALWAYS)
    new_lo, new_hi = bounds(out)
    assert new_hi[1] == hi[1] and new_lo[1] == lo[1]  # no taller: the flag is within the 1's height
    assert new_lo[0] < lo[0]  # wider to the left


@pytest.fixture(scope="module")
def real_digits(pen_digits):
    return pen_digits[::10]  # ~690 digits, every class


def test_pen_set_renders_styles_on_real_digits_reproducibly(real_digits):
    items, y = [d.strokes for d in real_digits], np.array([d.label for d in real_digits])
    styled = augmentation.PenSet(items, y, 1, styles=ALWAYS)
    plain = augmentation.PenSet(items, y, 1, styles=None)
    a, b = styled.render(np.random.default_rng(5)), styled.render(np.random.default_rng(5))
    assert a.shape == (len(items), 28, 28) and a.dtype == np.uint8
    assert np.array_equal(a, b)  # a function of the rng's seed
    c = plain.render(np.random.default_rng(5))  # the same hand and pen, no styles
    differs = np.array([not np.array_equal(a[i], c[i]) for i in range(len(y))])
    assert not differs[~np.isin(y, [0, 1, 7])].any()  # other digits are drawn exactly as without styles
    assert differs[y == 0].all()  # every zero is slashed
    assert differs[y == 7].mean() > 0.9  # nearly every seven crossed (one without a stem at half height is not)
    assert 0.3 < differs[y == 1].mean() < 1.0  # the plain 1s get a flag, the flagged ones don't get another
    for label in (0, 1, 7):  # the added stroke is more ink
        sel = (y == label) & differs
        assert a[sel].astype(float).sum() > c[sel].astype(float).sum()
    assert styled.describe()["styles"] == ALWAYS.as_dict()
    assert plain.describe()["styles"] is None
