"""Zhang-Suen thinning: binary images to one-pixel-wide skeletons, many at once.

Used to redraw digits with a round pen of another width: by augmentation (on its 2x grid) and by the canvas set
(on a 280x280 canvas).
"""

import numpy as np


def _thinning_tables() -> tuple[np.ndarray, np.ndarray]:
    """Zhang-Suen deletion rules for both sub-iterations, indexed by the 8-neighbour code."""
    first, second = np.zeros(256, bool), np.zeros(256, bool)
    for code in range(256):
        p = [(code >> k) & 1 for k in range(8)]  # P2, P3, ..., P9 (clockwise from north)
        b = sum(p)
        a = sum(p[k] == 0 and p[(k + 1) % 8] == 1 for k in range(8))
        p2, p4, p6, p8 = p[0], p[2], p[4], p[6]
        ok = 2 <= b <= 6 and a == 1
        first[code] = ok and p2 * p4 * p6 == 0 and p4 * p6 * p8 == 0
        second[code] = ok and p2 * p4 * p8 == 0 and p2 * p6 * p8 == 0
    return first, second


_THIN_TABLES = _thinning_tables()


def _neighbour_code(img: np.ndarray) -> np.ndarray:
    """Each pixel's 8 neighbours (0/1) as one byte: bit 0 = north (P2), then clockwise.

    Shifted views of a zero-padded copy, OR-ed: 1.5x faster than an ``ndimage.correlate`` (measured).
    """
    p = np.pad(img, ((0, 0), (1, 1), (1, 1)))
    h, w = img.shape[1:]
    code = np.zeros_like(img)
    for bit, (dy, dx) in enumerate([(-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1)]):
        code |= p[:, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] << bit
    return code


def thin(masks: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of a stack of boolean images (n, H, W) to one-pixel-wide lines."""
    img = np.ascontiguousarray(masks, dtype=np.uint8)
    while True:
        changed = False
        for table in _THIN_TABLES:
            delete = table[_neighbour_code(img)]
            delete &= img == 1
            if delete.any():
                img[delete] = 0
                changed = True
        if not changed:
            return img.astype(bool)
