"""Finding the holes of a damaged photo when no mask is given.

Holes (`aeutils.datasets.damage`: blocks, squares, grid lines) are pure black, but so are many pixels of
real photos: dark hair and clothes, the black corners of a rotated news photo, letterbox bars.
Taking every black pixel as a hole paints over those. A hole differs in two ways: its edge is
sharp (the pixels around it are not all dark), and its shape is the damage's (thin full-length lines
both ways, several of them, or unions of axis-aligned rectangles at least 3% of the shorter side
across, away from the border or short beside it: an outline of long straight runs, not a staircase, a
blob or a 1-px run of JPEG black). `find_holes` keeps only black regions that look like that. The
thresholds were set on validation faces (CelebA, VoxCeleb2 and lfw-val validation images with every
hole damage of the robustness sweep, 2026-12-03 and -04): it still misses about a twelfth of the small
squares' pixels, those merged with black hair or background, where a black square cannot be told from
a black part of the photo, and takes 4 of 157 clean lfw-val photos' black corners (9-12 px thick) for
holes.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

LINE_MAX = 3  # grid lines are 1-2 px wide; thicker full-width black runs are bars of the photo
EDGE_MIN = 40  # 8-bit luminance the brightest tenth of a hole's surroundings reaches at least
# ... or, for a whole rectangle of at least RECT_SIDE px a side away from the border (a square dropped
# into dark hair; a photo's own black is never so exactly square), only this: missed squares' pixels
# on validation 11.1% -> 8.5%, no more clean photos' pixels taken (2026-12-04)
EDGE_MIN_RECT, RECT_SIDE = 15, 5
AREA_MIN = 4
SIDE_MIN = 0.025  # of the shorter side: every hole is at least 3% of it across; thinner runs are the photo's
RING_PERCENTILE = 90
FILLED_MIN = 0.55  # of its bounding box a region at the border must fill (a rotated photo's corner: half)
BAND = 0.5  # of a side: a black region along a border longer than this is the photo's own border
# (squares are at most 12% of the side and blocks never reach the border; lfw-val has such borders)
RUN_MIN = 4  # px of boundary per corner, at least: holes are unions of rectangles, not staircases or blobs


def find_holes(im: np.ndarray) -> np.ndarray:
    """bool (H, W), True = hole, for an 8-bit RGB image (H, W, 3) whose holes are pure black."""
    black = (im == 0).all(axis=-1)
    rows, cols = _thin_lines(black, axis=1), _thin_lines(black, axis=0)
    if not (rows.any() and cols.any()):  # the damage draws its lines both ways; black rows alone are borders
        rows[:], cols[:] = False, False
    holes = rows[:, None] | cols[None, :]
    rest = black & ~holes
    labels, n = ndimage.label(rest)
    if n == 0:
        return holes
    luminance = im.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    h, w = black.shape
    for i, box in enumerate(ndimage.find_objects(labels), start=1):
        region = labels[box] == i
        area = int(region.sum())
        ys, xs = box
        if area < AREA_MIN or min(ys.stop - ys.start, xs.stop - xs.start) < SIDE_MIN * min(h, w):
            continue
        touches = ys.start == 0 or xs.start == 0 or ys.stop == h or xs.stop == w
        spans = ys.stop - ys.start == h or xs.stop - xs.start == w
        band = ((ys.start == 0 or ys.stop == h) and xs.stop - xs.start > BAND * w) or \
               ((xs.start == 0 or xs.stop == w) and ys.stop - ys.start > BAND * h)
        if spans or band or not _rectilinear(region) or (touches and area / region.size < FILLED_MIN):
            continue  # a bar or border, a corner of a rotated photo, or a black part of the photo itself
        grown = (slice(max(ys.start - 2, 0), ys.stop + 2), slice(max(xs.start - 2, 0), xs.stop + 2))
        component = labels[grown] == i
        ring = ndimage.binary_dilation(component, iterations=2) & ~black[grown]
        whole = area == region.size and min(region.shape) >= RECT_SIDE and not touches
        edge = EDGE_MIN_RECT if whole else EDGE_MIN
        if ring.any() and np.percentile(luminance[grown][ring], RING_PERCENTILE) >= edge:
            holes[box] |= region
    return holes


def _thin_lines(black: np.ndarray, axis: int) -> np.ndarray:
    """bool per row (axis=1) or column (axis=0): black across (nearly) the whole image, in a run
    of at most LINE_MAX such rows / columns, where there are at least two such runs (a grid; one
    black line is a photo's border)."""
    full = black.mean(axis=axis) >= 0.98
    labels, n = ndimage.label(full)
    sizes = ndimage.sum(full, labels, range(1, n + 1))
    keep = np.zeros(n + 1, bool)
    keep[1:] = np.asarray(sizes) <= LINE_MAX
    if keep.sum() < 2:
        keep[:] = False
    return keep[labels] & full


def _rectilinear(region: np.ndarray) -> bool:
    """Whether a region's outline is made of straight runs (a union of axis-aligned rectangles, as the
    damage's holes are) rather than a staircase or a blob: at least RUN_MIN px of boundary per corner."""
    r = np.pad(region, 1).astype(np.int8)
    boundary = np.abs(np.diff(r, axis=0)).sum() + np.abs(np.diff(r, axis=1)).sum()
    quad = r[:-1, :-1] + r[1:, :-1] + r[:-1, 1:] + r[1:, 1:]
    diagonal = (quad == 2) & (r[:-1, :-1] == r[1:, 1:])
    corners = int(((quad == 1) | (quad == 3)).sum() + 2 * diagonal.sum())
    return boundary >= RUN_MIN * corners
