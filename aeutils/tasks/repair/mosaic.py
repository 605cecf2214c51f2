"""Finding a mosaic (a pixelated photo) when the photo does not say it is one.

The mosaic model, run on a clean photo, alters it (on a clean lfw-val face saved at quality 90 it came
back at 37.3 dB), so it runs only where a mosaic is found. A mosaic of f-px blocks is flat inside each
block and steps at the blocks' edges: averaged over f-px runs starting at the blocks' offset, the
photo's brightness barely changes, while runs at any other offset straddle an edge. A photo without a
mosaic has no such offset. `mosaic_gaps` measures how much better the best offset explains the photo
than the others, along both axes. A JPEG's own 8-px blocks make an offset stand out too: weakly at
ordinary qualities, as much as a small mosaic's in the coarsest files, where the mosaic model changes a
photo without a mosaic very little. The gate was chosen on validation faces (`scripts/mosaic_gate.py`).
"""
from __future__ import annotations

import numpy as np

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
