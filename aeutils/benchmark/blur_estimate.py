"""How blurred is a photo: a blind, deliberately low estimate of its Gaussian blur sigma (pixels), what
`aeutils repair --damage blur` tells the blur model when the user gives no `--strength`.

The measurement is the re-blur gradient ratio (Zhuo & Sim, "Defocus map estimation from a single
image", 2011): at an edge blurred by sigma, the gradient magnitudes at scales s1 < s2 are in the ratio
R = sqrt(sigma^2 + s2^2) / sqrt(sigma^2 + s1^2), so sigma^2 = (s2^2 - R^2 s1^2) / (R^2 - 1). It is read
at the strongest edges of the luminance (`edge_sigmas`: gradient maxima along the gradient, the top
EDGE_TOP of them) and summarised by a low quantile over them (the `Reading`'s: every edge of a blurred
photo is blurred, only some of a soft photo's are soft).

A photo is never perfectly sharp, and a naturally soft one (a video frame, an upscaled JPEG) cannot
be told from a sharper one blurred: on validation, sharp CelebA / lfw-val faces measured 0.2-0.9 px
and the VoxCeleb2 validation identity's frames 0.4-1.4 px before any blur. Telling the blur model
more than the truth ruins a photo (told 0.5 px on a clean face: 12-27 dB lost; told 0.5 on a soft
VoxCeleb2 frame blurred by 0.5: up to 2 dB lost), telling it less only forgoes part of the gain. So
`blur_sigma` is slope * (measurement - offset), floored at 0: the offset and slope that gave the most
gain on validation faces (CelebA / VoxCeleb2 validation identities, even-numbered lfw-val) without
any face losing more than 0.3 dB or any cell losing at all. It reads 0 on most photos blurred by up
to 1.5 px and about half the truth at 3 px (docs/repair.md has the table); `--strength` does better
wherever the user knows the blur.

A JPEG file is read differently (READINGS["jpeg"]): its quantisation leaves fine, sharp-looking error
at the finest scale, so the ratio at (0, 1) px read faces blurred by 3 px and saved at quality 70 as
blurred by about 1.6 (median). Read between 0.7 and 1.5 px, past that error, they measure about 2.3, and the
margin for JPEG files was chosen the same way with the blur model for JPEG files (`repair-blur-jpeg`)
on faces saved at quality 50-95.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from aeutils.images import central_window


@dataclass(frozen=True)
class Reading:
    """How one kind of file is read: the gradient ratio's scales (s1, s2) in pixels, the quantile of the
    edges' sigmas that is the measurement, and the margin: blur_sigma = slope * (measurement - offset)."""
    scales: tuple[float, float]
    quantile: float
    offset: float
    slope: float


# Chosen on validation faces (`python scripts/blur_estimate.py --choose [--jpeg]`): lossless on 8 faces per
# source (2026-12-03); JPEG on 16 per source saved at quality 50 / 70 / 85 / 95 (2026-12-06), where the
# scales (0, 1), (0.5, 1), (0.7, 1.5) and (1, 2) px and quantiles 0.1, 0.15 and 0.25 were compared, each with
# its best margin: (0.7, 1.5) at 0.25 summed 6.6 dB of mean gain over the blurred cells, (0, 1) at 0.15
# 5.2 (3.3 with the lossless margin, what JPEG files were told before).
READINGS = {"lossless": Reading((0.0, 1.0), 0.15, 1.3, 1.5), "jpeg": Reading((0.7, 1.5), 0.25, 2.2, 3.0)}
EDGE_TOP = 0.2  # the strongest fifth of the edge pixels are measured
SIGMA_MAX = 3.0  # the strongest blur the estimate reports (what the blur model was trained on)
BLUR_PROBE = 512  # only a central window of this side is read (bounded time on a large photo)
MIN_EDGES = 30  # fewer edge pixels than this (a flat window): no blur is claimed


def _gradient(g: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if scale > 0:
        g = cv2.GaussianBlur(g, (0, 0), scale, borderType=cv2.BORDER_REFLECT_101)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=1, scale=0.5)  # central differences
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=1, scale=0.5)
    return np.hypot(gx, gy), gx, gy


def _edge_maxima(mag: np.ndarray, gx: np.ndarray, gy: np.ndarray, border: int = 4) -> np.ndarray:
    """Pixels whose gradient magnitude is a maximum along the gradient (quantised to 4 directions)."""
    direction = (np.round(np.arctan2(gy, gx) / (np.pi / 4)) % 4).astype(np.int8)
    pad = np.pad(mag, 1, mode="edge")
    h, w = mag.shape
    keep = np.zeros_like(mag, bool)
    for k, (dy, dx) in enumerate([(0, 1), (1, 1), (1, 0), (1, -1)]):
        ahead = pad[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
        behind = pad[1 - dy:1 - dy + h, 1 - dx:1 - dx + w]
        keep |= (direction == k) & (mag >= ahead) & (mag >= behind)
    keep[:border], keep[-border:], keep[:, :border], keep[:, -border:] = False, False, False, False
    return keep


def edge_sigmas(im: np.ndarray, scales: tuple[float, float]) -> np.ndarray:
    """The blur sigma (pixels) the gradient ratio at `scales` gives at each of the strongest edges of a
    uint8 (H, W, 3) image's luminance; empty when it has fewer than MIN_EDGES edge pixels."""
    s1, s2 = scales
    x = np.asarray(im, np.float32)
    g = x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114
    m1, gx, gy = _gradient(g, s1)
    m2 = _gradient(g, s2)[0]
    edges = _edge_maxima(m1, gx, gy)
    strengths = m1[edges]
    if strengths.size < MIN_EDGES or strengths.max() <= 0:
        return np.zeros(0)
    edges &= m1 >= np.quantile(strengths, 1 - EDGE_TOP)
    r2 = (m1[edges] / np.maximum(m2[edges], 1e-6)) ** 2
    return np.sqrt(np.clip((s2**2 - r2 * s1**2) / np.maximum(r2 - 1, 1e-6), 0, 100))


def _reading(jpeg: bool) -> Reading:
    return READINGS["jpeg" if jpeg else "lossless"]


def measure(im: np.ndarray, jpeg: bool = False) -> float:
    """The raw measurement (pixels; 0.5-1.4 on sharp lossless validation faces): the reading's quantile of
    `edge_sigmas` over the central BLUR_PROBE window of a uint8 (H, W, 3) image (`jpeg`: read as a JPEG file)."""
    reading = _reading(jpeg)
    sig = edge_sigmas(central_window(im, BLUR_PROBE), reading.scales)
    return float(np.quantile(sig, reading.quantile)) if sig.size >= MIN_EDGES else 0.0


def blur_sigma(im: np.ndarray, jpeg: bool = False) -> float:
    """A low estimate of the Gaussian blur sigma (pixels, 0 = sharp, at most SIGMA_MAX) of a uint8
    (H, W, 3) photo, `jpeg` if it is a JPEG file: safe to tell the blur model (see the module's notes)."""
    reading = _reading(jpeg)
    return float(np.clip(reading.slope * (measure(im, jpeg) - reading.offset), 0.0, SIGMA_MAX))
