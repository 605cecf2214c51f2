"""Finding a mosaic (a pixelated photo) when the photo does not say it is one.

The mosaic model, run on a clean photo, alters it (on a clean lfw-val face saved at quality 90 it came
back at 37.3 dB), so it runs only where a mosaic is found. A mosaic of f-px blocks is flat inside each
block and steps at the blocks' edges: averaged over f-px runs starting at the blocks' offset, the
photo's brightness barely changes, while runs at any other offset straddle an edge. A photo without a
mosaic has no such offset. `mosaic_gaps` measures how much better the best offset explains the photo
than the others, along both axes. A JPEG's own 8-px blocks make an offset stand out too: weakly at
ordinary qualities, as much as a small mosaic's in the coarsest files, where the mosaic model changes a
photo without a mosaic very little. The gate was chosen on validation faces (`scripts/mosaic_gate.py`).

A mosaic over only part of a photo (a face pixelated in a larger picture) barely moves those photo-wide
averages. `find_region` looks block by block instead: a mosaic's block is flat, while a block of the same
side shifted by half of it, across or down, straddles the mosaic's edges; a photo's own blocks, textured or
flat, look alike either way. The grid is the offset where most blocks look so, and the region the largest compact
patch of such blocks, most of whose neighbours agree, with the mosaic-like blocks at its edge.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from aeutils.images import central_window, luma

# dB: the least gap that is a mosaic. On validation faces (8 per source, `scripts/mosaic_gate.py`,
# 2026-12-05) photos without a mosaic (clean, noisy, blurred; lossless or saved at quality 30-95)
# measured at most 2.85 dB, mosaics of 2-16 px (lossless or saved at quality 30-95) at least 3.74.
# Saved at quality 5-20, photos without one measured up to 8.8 dB, but there the model changed them by
# -0.21 to +0.20 dB on average per source (clean lossless photos it returned at 42.6-49.6 dB); the
# default looks after its JPEG model, where they measured at most 2.1.
MOSAIC_GATE = 3.3
FACTORS = range(2, 17)  # block sides looked for: those the mosaic model trained on
MOSAIC_PROBE = 1024  # the mosaic is looked for in a central window of this side (bounded time and memory)


def _offset_residuals(rows: np.ndarray, factor: int) -> np.ndarray:
    """Per offset 0..factor-1, the mean squared difference of `rows` (n, L) from their means over
    `factor`-long runs starting at that offset (whole runs only)."""
    n, length = rows.shape
    zero = np.zeros((n, 1))
    total, squares = (np.concatenate([zero, np.cumsum(v, axis=1)], axis=1) for v in (rows, rows * rows))
    out = []
    for offset in range(factor):
        starts = np.arange(offset, length - factor + 1, factor)
        s = total[:, starts + factor] - total[:, starts]
        s2 = squares[:, starts + factor] - squares[:, starts]
        out.append((s2 - s * s / factor).sum() / (n * len(starts) * factor))
    return np.array(out)


def _axis_fit(rows: np.ndarray, factor: int) -> tuple[float, int]:
    """(dB by which `factor`-long runs at their best offset explain `rows` (n, L) better than at the median
    other offset, that best offset)."""
    r = _offset_residuals(rows, factor)
    best = int(r.argmin())
    return 10 * np.log10((np.median(np.delete(r, best)) + 1e-3) / (r[best] + 1e-3)), best


def mosaic_gaps(im: np.ndarray) -> dict[int, float]:
    """{block side: dB by which runs of that many px at their best offset explain the luminance of a
    uint8 (H, W, 3) image better than at the median other offset}, the lesser of the two axes (a
    mosaic's blocks are square): about 0-2 dB for a photo, 4-50 for a mosaic of that side or a
    divisor of it."""
    y = luma(central_window(im, MOSAIC_PROBE))
    gaps = {}
    for factor in FACTORS:
        if min(y.shape) < 2 * factor:
            break
        gaps[factor] = float(min(_axis_fit(rows, factor)[0] for rows in (y, y.T)))
    return gaps


def find_mosaic(im: np.ndarray) -> int | None:
    """The block side of the mosaic a uint8 (H, W, 3) image shows (the side with the largest
    `mosaic_gaps`, at least MOSAIC_GATE), or None."""
    gaps = mosaic_gaps(im)
    factor = max(gaps, key=gaps.get, default=None)
    return factor if factor and gaps[factor] >= MOSAIC_GATE else None


def mosaic_grid(im: np.ndarray) -> tuple[int, int] | None:
    """(block side, the first column of a block, 0 to side - 1) of the mosaic a uint8 (H, W, 3) image shows,
    or None: where the mosaic model's input is shifted to so its blocks start at its first column, as they
    did in training (`infer.forward`)."""
    factor = find_mosaic(im)
    if factor is None:
        return None
    window = central_window(im, MOSAIC_PROBE)
    left = max(0, (im.shape[1] - MOSAIC_PROBE) // 2)  # the window's first column in the image
    return factor, (_axis_fit(luma(window), factor)[1] + left) % factor


# A block is mosaic-like where its variance is at least REGION_EVIDENCE dB below the mean variance of the four
# blocks half a block away diagonally, and at least REGION_AXIS dB below that of the two half a block across
# and of the two half a block down (flat stripes between straight edges are flat along them and fail); every
# variance with REGION_NOISE squared levels added (a JPEG's error in a flat block). It counts where most
# (REGION_AGREE) of its 3 x 3 neighbours whose diagonal blocks vary by at least REGION_FLAT squared levels (the
# rest are flat either way and tell nothing) are mosaic-like too. A region (the largest patch of such blocks
# and the mosaic-like blocks next to it) covers at least REGION_MIN of the photo's window, REGION_FILL of its
# bounding box and REGION_BLOCKS blocks: on fewer (large blocks in a small box) the mosaic model made some
# validation faces up to 0.18 dB worse; from 30 on, none (6 faces per source, boxes of 30, 50 and 70% of each
# side, lossless and quality 90 and 50; before the regions took in their edge blocks, 20 had been enough).
# Chosen on validation faces (`scripts/mosaic_gate.py --regions`).
REGION_EVIDENCE = 6.0
REGION_AXIS = 1.5
REGION_NOISE = 4.0
REGION_FLAT = 2.0
REGION_AGREE = 0.7
REGION_MIN = 0.02
REGION_FILL = 0.5
REGION_BLOCKS = 30


@dataclass(frozen=True)
class Region:
    """A mosaic over part of a photo: its block side, the first row and column of a block (0 to side - 1),
    and where its blocks are (bool (H, W), the photo's size)."""
    factor: int
    top: int
    left: int
    mask: np.ndarray


def _block_variances(y: np.ndarray, factor: int) -> np.ndarray:
    """The variance of the `factor`-px block whose top-left pixel is at each (row, column) where one fits."""
    mean = cv2.boxFilter(y, cv2.CV_64F, (factor, factor), anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
    square = cv2.boxFilter(y * y, cv2.CV_64F, (factor, factor), anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
    fits = (y.shape[0] - factor + 1, y.shape[1] - factor + 1)
    return np.maximum(square - mean * mean, 0)[:fits[0], :fits[1]]


def _mosaic_blocks(y: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(whether each block of the grid is a mosaic's, by the rules above; whether it is mosaic-like, its
    neighbours aside; the first block's row and column): the grid is the offset with the most mosaic-like blocks."""
    v = _block_variances(y, factor)
    h, w = v.shape
    half = factor // 2
    inner = v[half:h - half, half:w - half]
    shifted = (v[:h - 2 * half, :w - 2 * half] + v[:h - 2 * half, 2 * half:] + v[2 * half:, :w - 2 * half]
               + v[2 * half:, 2 * half:]) / 4  # the blocks half a block up-left, up-right, down-left, down-right
    across = (v[half:h - half, :w - 2 * half] + v[half:h - half, 2 * half:]) / 2  # half a block left and right
    down = (v[:h - 2 * half, half:w - half] + v[2 * half:, half:w - half]) / 2  # half a block up and down

    def evidence(other: np.ndarray) -> np.ndarray:
        return 10 * np.log10((other + REGION_NOISE) / (inner + REGION_NOISE))
    like = (evidence(shifted) >= REGION_EVIDENCE) & (np.minimum(evidence(across), evidence(down)) >= REGION_AXIS)
    rows, cols = (n // factor * factor for n in like.shape)
    counts = like[:rows, :cols].reshape(rows // factor, factor, cols // factor, factor).sum(axis=(0, 2))
    top, left = np.unravel_index(int(counts.argmax()), counts.shape)
    like, telling = like[top::factor, left::factor], shifted[top::factor, left::factor] >= REGION_FLAT
    around = np.ones((3, 3), np.float32)
    agree = cv2.filter2D(like.astype(np.float32), -1, around, borderType=cv2.BORDER_CONSTANT)
    told = cv2.filter2D(telling.astype(np.float32), -1, around, borderType=cv2.BORDER_CONSTANT)
    blocks = like & (told >= 3) & (agree >= REGION_AGREE * told)
    return blocks, like, top + half, left + half


def _patch(blocks: np.ndarray, like: np.ndarray) -> np.ndarray | None:
    """The largest connected patch of `blocks`, closed and with its holes filled, and grown by the mosaic-like
    blocks (`like`) next to it: a mosaic's edge blocks, whose neighbours outside it disagree, were about half of a
    small mosaic's blocks (on validation faces the grown regions gained 221 dB summed over the cells, against
    183). None unless it is compact enough."""
    filled = ndimage.binary_fill_holes(blocks | ndimage.binary_closing(blocks, np.ones((3, 3), bool)))
    labels, n = ndimage.label(filled)
    if not n:
        return None
    patch = labels == 1 + int(np.argmax(ndimage.sum(filled, labels, range(1, n + 1))))
    patch |= ndimage.binary_dilation(patch, np.ones((3, 3), bool)) & like  # the mosaic's edge blocks
    rows, cols = np.nonzero(patch)
    return patch if patch.sum() >= REGION_FILL * (np.ptp(rows) + 1) * (np.ptp(cols) + 1) else None


def find_region(im: np.ndarray) -> Region | None:
    """The mosaic over part of a uint8 (H, W, 3) image (looked for in its central MOSAIC_PROBE window), or
    None. Of the block sides whose region is at least half as large as the largest, the largest side (a
    mosaic's blocks are also flat at every divisor of its side), if its region has REGION_BLOCKS blocks."""
    window = central_window(im, MOSAIC_PROBE)
    y = luma(window)
    found = []
    for factor in FACTORS:
        if min(y.shape) < 4 * factor:
            break
        blocks, like, top, left = _mosaic_blocks(y, factor)
        patch = _patch(blocks, like)
        if patch is not None and patch.sum() * factor ** 2 >= REGION_MIN * y.size:
            found.append((patch.sum() * factor ** 2, factor, top, left, patch))
    if not found:
        return None
    largest = max(area for area, *_ in found)
    _, factor, top, left, patch = max((f for f in found if f[0] >= largest / 2), key=lambda f: f[1])
    if patch.sum() < REGION_BLOCKS:
        return None
    mask = np.zeros(im.shape[:2], bool)
    wtop, wleft = max(0, (im.shape[0] - MOSAIC_PROBE) // 2), max(0, (im.shape[1] - MOSAIC_PROBE) // 2)
    rows, cols = (n * factor for n in patch.shape)
    mask[wtop + top:wtop + top + rows, wleft + left:wleft + left + cols] = patch.repeat(factor, 0).repeat(factor, 1)
    return Region(factor, (wtop + top) % factor, (wleft + left) % factor, mask)
