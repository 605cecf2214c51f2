"""Finding the holes of a damaged photo when no mask is given.

Holes (`aeutils.datasets.damage`: blocks, squares, grid lines) are pure black, but so are many pixels of
real photos: dark hair and clothes, the black corners of a rotated news photo, letterbox bars.
Taking every black pixel as a hole paints over those. A hole differs in two ways: its edge is
sharp (the pixels around it are not all dark), and its shape is the damage's (thin full-length lines
both ways, several of them, or unions of axis-aligned rectangles at least 3% of the shorter side
across, away from the border or short beside it: an outline of long straight runs, not a staircase, a
blob or a 1-px run of JPEG black). `find_holes` keeps only black regions that look like that, and
where a square has merged with a photo's own black, the square behind each of its straight sides
that stands out on the face. The thresholds were set on validation faces (CelebA, VoxCeleb2 and
lfw-val validation images with every hole damage of the robustness sweep, 2026-12-03 and -04): it
still misses about a thirtieth of the squares' pixels (a tenth at 30% coverage on lfw-val), in dark
hair or backgrounds where a black square cannot be told from a black part of the photo. At the
image's corners only unions of squares count (not the black corners of a rotated photo, 9-12 px
thick on 4 of 157 clean lfw-val photos, taken until 2026-12-04). A JPEG file smears its holes' black
into near-black and a ragged edge: `find_jpeg_holes` looks for those (2026-12-05), `holes_in` picks.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from aeutils.images import luma

LINE_MAX = 3  # grid lines are 1-2 px wide; thicker full-width black runs are bars of the photo
EDGE_MIN = 40  # 8-bit luminance the brightest tenth of a hole's surroundings reaches at least
# ... or, for a union of squares at least RECT_SIDE px a side (squares dropped into dark hair; a photo's
# own black is never so exactly square), only this: missed squares' pixels on validation 11.1% -> 8.5%
# (a whole rectangle away from the border, 2026-12-04), 8.5% -> 6.3% (any union of squares, anywhere,
# 2026-12-04, later), no more clean photos' pixels taken
EDGE_MIN_RECT, RECT_SIDE = 15, 5
SIDE_RUN = 0.06  # of the shorter side: a straight piece of outline this long, bright outside, is a square's side
BAR_FILLED = 0.9  # of its box: a region along or across the border filling more is a bar of the photo
AREA_MIN = 4
SIDE_MIN = 0.025  # of the shorter side: every hole is at least 3% of it across; thinner runs are the photo's
RING_PERCENTILE = 90
FILLED_MIN = 0.55  # of its bounding box a region at the border must fill (a rotated photo's corner: half)
BAND = 0.5  # of a side: a black region along a border longer than this is the photo's own border
# (squares are at most 12% of the side and blocks never reach the border; lfw-val has such borders)
RUN_MIN = 4  # px of boundary per corner, at least: holes are unions of rectangles, not staircases or blobs
# A JPEG file's holes (`find_jpeg_holes`), set on validation faces saved at quality 50-90 (2026-12-05):
JPEG_DARK = 24  # levels the brightest channel of a hole's inside and most of its smeared edge stays under
JPEG_LINE_DARK, JPEG_LINE_SHARE = 40, 0.9  # a grid line: this dark along this share of the row or column
JPEG_RING = 30  # median luminance 3-4 px outside a hole (past the smear) is at least this


def jpeg_inside(quality: int) -> float:
    """The most the median of the brightest channel may read inside a JPEG file's hole, 3 px from its
    edge, at the file's quality: holes read up to 5 levels at quality 90 and 11.5 at 50 on validation,
    the dark ties and suits otherwise taken 12-20."""
    return 6 + 6 * (100 - quality) / 50


def holes_in(im: np.ndarray, quality: int | None = None) -> np.ndarray:
    """The holes of an 8-bit RGB photo (H, W, 3) as `aeutils repair` finds them without a mask: bool
    (H, W), True = hole. `quality`: the JPEG file's it was decoded from (None: a lossless image)."""
    return find_holes(im) if quality is None else find_jpeg_holes(im, quality)


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
    luminance = luma(im)
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
        if not _rectilinear(region):
            continue  # a black part of the photo itself
        filled = area / region.size
        squares = _of_squares(region)
        corner = (ys.start == 0 or ys.stop == h) and (xs.start == 0 or xs.stop == w)
        bordering = spans or band or corner or (touches and filled < FILLED_MIN)
        if bordering and not (squares and filled < BAR_FILLED):
            continue  # a bar or border of the photo, or a corner of a rotated photo
        grown = (slice(max(ys.start - 2, 0), ys.stop + 2), slice(max(xs.start - 2, 0), xs.stop + 2))
        component = labels[grown] == i
        ring = ndimage.binary_dilation(component, iterations=2) & ~black[grown]
        edge = EDGE_MIN_RECT if squares else EDGE_MIN
        if ring.any() and np.percentile(luminance[grown][ring], RING_PERCENTILE) >= edge:
            holes[box] |= region
    return holes | _squares_behind_sides(black & ~holes, luminance >= EDGE_MIN)


def find_jpeg_holes(im: np.ndarray, quality: int) -> np.ndarray:
    """`find_holes` for an image decoded from a JPEG file of `quality`, whose holes are not pure black:
    the file smears their black into a ragged dark edge (at quality 90 the inside of a block reads up
    to 6 levels, its edge up to 18 or, beside bright skin, 34; at 50, 14 and 25). Grid lines are rows
    and columns dark along nearly all their length; other holes are the regions `find_holes` takes once
    everything under JPEG_DARK, and under JPEG_LINE_DARK within 2 px of it, is made black, trimmed to
    unions of squares at least RECT_SIDE px a side, bright past the smear and near black inside
    (`jpeg_inside`), and at the image's border only squares alone there (`_square_at_border`). The
    mask grows by 1 px to cover the smear. On 24 validation faces per source saved at quality 30-95 it
    took no pixel of a clean photo (at 15: 177 pixels of CelebA)."""
    brightest = im.max(axis=-1)
    line_dark = brightest <= JPEG_LINE_DARK
    rows, cols = (_thin_lines(line_dark, axis, JPEG_LINE_SHARE) for axis in (1, 0))
    lines = (rows[:, None] | cols[None, :]) & line_dark if rows.any() and cols.any() else np.zeros_like(line_dark)
    core = brightest <= JPEG_DARK
    dark = core | ndimage.binary_dilation(core, iterations=2) & line_dark  # and the brighter smear beside it
    dark &= ~ndimage.binary_dilation(lines)
    candidates = find_holes(np.where(dark[..., None], 0, np.maximum(im, 1)).astype(np.uint8))
    luminance = luma(im)
    square = np.ones((RECT_SIDE, RECT_SIDE), bool)
    border = np.ones_like(dark)
    border[3:-3, 3:-3] = False
    holes = lines.copy()
    labels, _ = ndimage.label(candidates)
    for i, (ys, xs) in enumerate(ndimage.find_objects(labels), start=1):
        near = (slice(max(ys.start - 5, 0), ys.stop + 5), slice(max(xs.start - 5, 0), xs.stop + 5))
        region = ndimage.binary_opening(labels[near] == i, structure=square)
        ring = ndimage.binary_dilation(region, iterations=4) & ~ndimage.binary_dilation(region, iterations=2)
        if not region.any() or np.median(luminance[near][ring]) < JPEG_RING \
                or np.median(brightest[near][_inside(region)]) > jpeg_inside(quality):
            continue
        if (region & border[near]).any():  # with grid lines, rotated photos' black borders split by them
            whole = np.zeros_like(dark)
            whole[near] = region
            if lines.any() or not _square_at_border(whole, line_dark):
                continue
        holes[near] |= region
    return ndimage.binary_dilation(holes)


def _square_at_border(region: np.ndarray, dark: np.ndarray, reach: int = 10) -> bool:
    """Whether a region within 3 px of the image's border is a hole: a union of squares at least
    2 RECT_SIDE px a side (a thinner dark band there is the photo's: one took 229 pixels of a clean
    validation face at quality 30), alone along each side it reaches, i.e. the first 3 px beside it
    (`reach` px either way) mostly not `dark`. A square dropped at the edge of a face is; a dark
    background or a rotated photo's black border running on is not."""
    if not (ndimage.binary_opening(region, structure=np.ones((2 * RECT_SIDE,) * 2, bool)) == region).all():
        return False
    for turns in range(4):
        r, d = np.rot90(region, turns), np.rot90(dark, turns)
        touching = np.flatnonzero(r[:3].any(axis=0))
        if touching.size:
            a, b = touching[0], touching[-1] + 1
            beside = np.r_[d[:3, max(a - reach, 0):a].ravel(), d[:3, b:b + reach].ravel()]
            if beside.size and beside.mean() > 0.2:
                return False
    return True


def _inside(region: np.ndarray, depth: int = 3) -> np.ndarray:
    """`region` less its outer `depth` px, or less as many as leave something."""
    for d in range(depth, 0, -1):
        if (core := ndimage.binary_erosion(region, iterations=d)).any():
            return core
    return region


def _thin_lines(black: np.ndarray, axis: int, share: float = 0.98) -> np.ndarray:
    """bool per row (axis=1) or column (axis=0): black across (nearly, `share`) the whole image, in a
    run of at most LINE_MAX such rows / columns, where there are at least two such runs (a grid; one
    black line is a photo's border)."""
    full = black.mean(axis=axis) >= share
    labels, n = ndimage.label(full)
    sizes = ndimage.sum(full, labels, range(1, n + 1))
    keep = np.zeros(n + 1, bool)
    keep[1:] = np.asarray(sizes) <= LINE_MAX
    if keep.sum() < 2:
        keep[:] = False
    return keep[labels] & full


def _squares_behind_sides(rest: np.ndarray, bright: np.ndarray) -> np.ndarray:
    """Squares merged into a photo's own black (a dark background, black hair), which the region tests
    reject whole: behind each straight piece of `rest`'s outline at least SIDE_RUN of the shorter side
    long with `bright` pixels all along its outside, the square as deep as the piece is long, where
    that is all black and clear of the image's border. A square's exposed side is such a piece; a
    photo's black rarely has one (on validation: missed squares' pixels 6.3% -> 3.4%, none of 205
    clean photos' pixels taken, 2026-12-04)."""
    found = np.zeros_like(rest)
    least = max(RECT_SIDE, round(SIDE_RUN * min(rest.shape)))
    for turns in range(4):  # each side in turn faces up: black at row y, bright at row y - 1
        dark, lit, out = np.rot90(rest, turns), np.rot90(bright, turns), np.rot90(found, turns)
        side = np.zeros_like(dark)
        side[1:] = dark[1:] & lit[:-1]
        for y in np.flatnonzero(side.any(axis=1)):
            ends = np.flatnonzero(np.diff(np.r_[False, side[y], False].astype(np.int8)))
            for x0, x1 in zip(ends[::2], ends[1::2]):
                n = x1 - x0
                inside = y + n < dark.shape[0] and x0 > 0 and x1 < dark.shape[1]  # not the end of a border band
                if n >= least and inside and dark[y:y + n, x0:x1].all():
                    out[y:y + n, x0:x1] = True  # `out` is a view: this writes into `found`
    return found


def _of_squares(region: np.ndarray) -> bool:
    """Whether a region is a union of black squares at least RECT_SIDE px a side, as the damage's holes
    are: every pixel lies in such a square inside it (no thin spur, tip or 1-px wiggle of a photo's
    black, nor the tip of a rotated photo's corner)."""
    square = np.ones((RECT_SIDE, RECT_SIDE), bool)
    return bool((ndimage.binary_opening(region, structure=square) == region).all())


def _rectilinear(region: np.ndarray) -> bool:
    """Whether a region's outline is made of straight runs (a union of axis-aligned rectangles, as the
    damage's holes are) rather than a staircase or a blob: at least RUN_MIN px of boundary per corner."""
    r = np.pad(region, 1).astype(np.int8)
    boundary = np.abs(np.diff(r, axis=0)).sum() + np.abs(np.diff(r, axis=1)).sum()
    quad = r[:-1, :-1] + r[1:, :-1] + r[:-1, 1:] + r[1:, 1:]
    diagonal = (quad == 2) & (r[:-1, :-1] == r[1:, 1:])
    corners = int(((quad == 1) | (quad == 3)).sum() + 2 * diagonal.sum())
    return boundary >= RUN_MIN * corners
