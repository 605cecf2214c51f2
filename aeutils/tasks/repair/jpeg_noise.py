"""Reading noise through a JPEG's quantization.

`estimate_noise` reads the finest detail of a photo's flattest patches, where a JPEG of quality 60-95 has
set most of the noise to zero: light noise saved as a JPEG reads as low as a clean textured face. The
JPEG keeps it elsewhere, in the coefficients its table quantizes finely enough. A file's luma DCT
coefficients are multiples of its quantization steps; for the higher frequencies (where a face has little
detail), the noise's sigma is the one under which the multiples observed are likeliest (a zero says the
coefficient was under half a step, a one that it was between a half and one and a half steps, ...). As
for `estimate_noise`, the estimate is read in small patches and taken at a low percentile of them: a
face's texture reaches these frequencies only in some patches, the noise in all.
"""
from __future__ import annotations

import numpy as np
from scipy.fft import dctn
from scipy.special import ndtr

from aeutils.images import LUMA_WEIGHTS, luma, luma_table

LOWEST = 5  # the coefficients read: u + v >= LOWEST of the 8 x 8 block (a face's detail lies lower)
PATCH = 2  # blocks a side of a patch
QUANTILE = 5  # percentile of the patches' estimates
PROBE = 512  # px: a central window of this side, on the 8-px grid (bounded time and memory)
OFF_GRID = 0.1  # `off_grid` past which the coefficients are not the file's (read as noiseless: no estimate)
SIGMAS = np.exp(np.linspace(np.log(0.25), np.log(40), 48))  # candidate luma sigmas, 8-bit levels
LUMA_GAIN = float(np.linalg.norm(LUMA_WEIGHTS))  # luma sigma of independent RGB noise of sigma 1


def estimate_jpeg_noise(im: np.ndarray, quality: int, steps: np.ndarray | None = None) -> float:
    """Gaussian noise sigma per RGB channel, in [0, 1] units, of a uint8 (H, W, 3) photo read from a JPEG
    file of `quality`, read from its quantized luma DCT coefficients: on the file's own luma quantization
    `steps` (8, 8) where given (`images.jpeg_luma_steps`), else libjpeg's at that quality. Where the
    coefficients are not multiples of those steps (`off_grid`: other steps, such as a camera's, or the photo
    moved off the file's 8-px grid), they would read as noise: no estimate (0)."""
    h, w = im.shape[:2]
    top, left = (max(0, (n - PROBE) // 2) // 8 * 8 for n in (h, w))
    y = luma(im[top:top + PROBE, left:left + PROBE])
    side = 8 * PATCH
    h, w = (n // side * side for n in y.shape)
    if not h or not w:
        return 0.0
    blocks = dctn(y[:h, :w].reshape(h // 8, 8, w // 8, 8), axes=(1, 3), norm="ortho").transpose(0, 2, 1, 3)
    table = luma_table(quality) if steps is None else np.asarray(steps, np.float64)
    if off_grid(blocks, table) > OFF_GRID:
        return 0.0
    u, v = np.indices((8, 8))
    read = u + v >= LOWEST
    levels = np.round(blocks[..., read] / table[read])  # (rows, cols, coefficients): multiples of the steps
    rows, cols, n = levels.shape
    levels = levels.reshape(rows // PATCH, PATCH, cols // PATCH, PATCH, n).transpose(0, 2, 1, 3, 4)
    levels = levels.reshape(-1, PATCH * PATCH * n)
    step = np.tile(table[read], PATCH * PATCH)
    low, high = (levels - 0.5) * step, (levels + 0.5) * step
    likelihood = np.stack([np.log(np.maximum(ndtr(high / s) - ndtr(low / s), 1e-300)).sum(axis=1)
                           for s in SIGMAS], axis=1)
    per_patch = SIGMAS[likelihood.argmax(axis=1)]
    return float(np.percentile(per_patch, QUANTILE)) / LUMA_GAIN / 255


def off_grid(blocks: np.ndarray, table: np.ndarray) -> float:
    """How far a photo's DCT coefficients (rows, cols, 8, 8) lie from multiples of the quantization `table`:
    the mean distance, in steps, of the AC coefficients of at least half a step where the step is 4 or more
    (smaller ones blur in the decoder's rounding). About 0.03-0.07 on the file's grid and table, 0.25 off its
    8-px grid (a photo cropped, or turned by its EXIF orientation where a side is not a multiple of 8), 0.13
    and more on a transposed table (one turned by 90 degrees)."""
    ratio = blocks / table
    telling = (table >= 4) & (np.abs(ratio) >= 0.5)
    telling[..., 0, 0] = False
    return float(np.abs(ratio - np.round(ratio))[telling].mean()) if telling.any() else 0.0
