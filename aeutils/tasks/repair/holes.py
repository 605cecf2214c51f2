"""Finding the holes of a damaged photo when no mask is given.

Holes (`aeutils.datasets.damage`: blocks, squares, grid lines) are pure black, but so are many pixels of
real photos: dark hair and clothes, the black corners of a rotated news photo, letterbox bars.
Taking every black pixel as a hole paints over those. A hole differs in two ways: its edge is
sharp (the pixels around it are not dark), and its shape is the damage's (thin full-length lines,
or rectangles). `find_holes` keeps only black regions that look like that.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

LINE_MAX = 3  # grid lines are 1-2 px wide; thicker full-width black runs are bars of the photo
EDGE_MIN = 40  # 8-bit luminance the brighter part of a hole's surroundings reaches at least
AREA_MIN = 4


def find_holes(im: np.ndarray) -> np.ndarray:
    """bool (H, W), True = hole, for an 8-bit RGB image (H, W, 3) whose holes are pure black."""
    black = (im == 0).all(axis=-1)
    holes = _thin_lines(black, axis=1)[:, None] | _thin_lines(black, axis=0)[None, :]
    rest = black & ~holes
    labels, n = ndimage.label(rest)
    if n == 0:
        return holes
    luminance = im.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    h, w = black.shape
    for i, box in enumerate(ndimage.find_objects(labels), start=1):
        region = labels[box] == i
        area = int(region.sum())
        if area < AREA_MIN:
            continue
        ys, xs = box
        touches = ys.start == 0 or xs.start == 0 or ys.stop == h or xs.stop == w
        spans = ys.stop - ys.start == h or xs.stop - xs.start == w
        filled = area / region.size
        if spans or (touches and filled < 0.9):
            continue  # a bar or a corner of the photo itself
        grown = (slice(max(ys.start - 2, 0), ys.stop + 2), slice(max(xs.start - 2, 0), xs.stop + 2))
        component = labels[grown] == i
        ring = ndimage.binary_dilation(component, iterations=2) & ~black[grown]
        if ring.any() and np.percentile(luminance[grown][ring], 75) >= EDGE_MIN:
            holes[box] |= region
    return holes


def _thin_lines(black: np.ndarray, axis: int) -> np.ndarray:
    """bool per row (axis=1) or column (axis=0): black across (nearly) the whole image, in a run
    of at most LINE_MAX such rows / columns."""
    full = black.mean(axis=axis) >= 0.98
    labels, n = ndimage.label(full)
    sizes = ndimage.sum(full, labels, range(1, n + 1))
    keep = np.zeros(n + 1, bool)
    keep[1:] = np.asarray(sizes) <= LINE_MAX
    return keep[labels] & full
