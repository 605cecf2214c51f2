"""Quality and rate metrics, measured honestly (design notes, section 4).

PSNR and SSIM take 8-bit images (clamp and round first: `images.to_uint8`), so no metric is ever
computed on unclamped float outputs. `bd_rate` summarises two rate-distortion curves.
"""
from __future__ import annotations

import numpy as np


def psnr(a, b, peak: float = 255.0) -> float:
    """PSNR in dB between two 8-bit images of the same shape (inf when identical)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {a.shape} vs {b.shape}")
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(peak**2 / mse))


MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ssim_and_ms_ssim(a, b, win: int = 11, sigma: float = 1.5, peak: float = 255.0) -> tuple[float, float]:
    """(SSIM, MS-SSIM) of two 8-bit images (H, W[, C]) in one pass (Wang et al. 2004 / 2003):
    Gaussian window 11 / sigma 1.5 over the valid region, averaged over channels.

    MS-SSIM uses as many of its five scales as the image allows (the coarsest must still hold a
    `win`-sized window), renormalising the weights, so 64-128 px faces get a meaningful value
    instead of an error. OpenCV's separable filter keeps it fast enough for codec sweeps."""
    import cv2

    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if x.shape != y.shape:
        raise ValueError(f"shape mismatch: {x.shape} vs {y.shape}")
    scales, side = 1, min(x.shape[:2])
    while scales < 5 and side // 2**scales >= win:
        scales += 1
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    weights = np.asarray(MS_SSIM_WEIGHTS[:scales]) / sum(MS_SSIM_WEIGHTS[:scales])
    values, first = [], 0.0
    for i in range(scales):
        w = min(win, *x.shape[:2])
        g = np.exp(-((np.arange(w) - (w - 1) / 2) ** 2) / (2 * sigma**2))
        g /= g.sum()
        r0, r1 = (w - 1) // 2, w // 2  # keep the valid region, as a convolution without padding

        def blur(t, g=g, r0=r0, r1=r1):
            return cv2.sepFilter2D(t, cv2.CV_64F, g, g, borderType=cv2.BORDER_REFLECT)[
                r0:t.shape[0] - r1, r0:t.shape[1] - r1]

        mx, my = blur(x), blur(y)
        sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
        cs = (2 * sxy + c2) / (sxx + syy + c2)
        s = (2 * mx * my + c1) / (mx * mx + my * my + c1) * cs
        if i == 0:
            first = float(s.mean())
        values.append(max(float((s if i == scales - 1 else cs).mean()), 0.0))
        if i < scales - 1:
            h, wd = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
            x = x[:h, :wd].reshape(h // 2, 2, wd // 2, 2, *x.shape[2:]).mean(axis=(1, 3))
            y = y[:h, :wd].reshape(h // 2, 2, wd // 2, 2, *y.shape[2:]).mean(axis=(1, 3))
    return first, float(np.prod(np.asarray(values) ** weights))


def ssim(a, b) -> float:
    """Mean SSIM of two 8-bit images (see `ssim_and_ms_ssim`)."""
    return ssim_and_ms_ssim(a, b)[0]


def ms_ssim(a, b) -> float:
    """Multi-scale SSIM of two 8-bit images (see `ssim_and_ms_ssim`)."""
    return ssim_and_ms_ssim(a, b)[1]


def bpp(num_bytes: int, width: int, height: int) -> float:
    """Bits per pixel of a whole file."""
    return 8.0 * num_bytes / (width * height)


def compression_ratio(bits_per_pixel: float) -> float:
    """The original report's "compression ratio": 24-bit RGB over the coded rate."""
    return 24.0 / bits_per_pixel


def bd_rate(rate_anchor, psnr_anchor, rate_test, psnr_test, within=None) -> float:
    """Bjontegaard delta rate in percent: the average rate change of `test` against `anchor` at equal
    PSNR, over the overlapping PSNR range, narrowed to `within` (lo, hi) when given (negative = test
    needs fewer bits).

    Fits log-rate as a cubic in PSNR for each curve (Bjontegaard, VCEG-M33) and integrates the
    difference exactly over the overlap. Needs at least 4 points per curve; raises ValueError when
    the curves do not overlap."""
    ra, pa = np.log(np.asarray(rate_anchor, float)), np.asarray(psnr_anchor, float)
    rt, pt = np.log(np.asarray(rate_test, float)), np.asarray(psnr_test, float)
    if min(len(ra), len(rt)) < 4:
        raise ValueError("bd_rate needs at least 4 rate points per curve")
    lo, hi = max(pa.min(), pt.min()), min(pa.max(), pt.max())
    if within is not None:
        lo, hi = max(lo, within[0]), min(hi, within[1])
    if hi <= lo:
        raise ValueError("the two curves have no PSNR range in common")
    fa, ft = np.polyfit(pa, ra, 3), np.polyfit(pt, rt, 3)
    ia, it = np.polyint(fa), np.polyint(ft)
    avg_diff = ((np.polyval(it, hi) - np.polyval(it, lo)) - (np.polyval(ia, hi) - np.polyval(ia, lo))) / (hi - lo)
    return float((np.exp(avg_diff) - 1) * 100)


def colorfulness(rgb) -> float:
    """Hasler and Suesstrunk (2003) colourfulness of an 8-bit RGB image (0 for gray)."""
    a = np.asarray(rgb, dtype=np.float64)
    rg = a[..., 0] - a[..., 1]
    yb = 0.5 * (a[..., 0] + a[..., 1]) - a[..., 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def cast_added(shift: float, reference: float, margin: float = 0.0, floor: float = 0.0) -> float:
    """How far a mean error (8-bit levels: one channel's, or the largest over channels) lies outside
    what the reference input leaves, so is a colour cast a model added: anywhere between the
    reference's own error and none is allowed, widened by `margin` on either side and never narrower
    than +-`floor`. The colorizer's reference is gray, the photo left as it is (`margin` 2: less colour
    than the truth is no cast); a repair model's is the damaged input (`floor` 1: heavy JPEG or clipped
    noise shift an input's means, which a model cannot always undo, but must not add to)."""
    return max(0.0, min(reference, 0.0, -floor) - margin - shift, shift - max(reference, 0.0, floor) - margin)


def bars_select(score: float, shortfall: float) -> float:
    """What picks a checkpoint that must meet bars: its `score` when it meets every one (`shortfall`
    0), otherwise minus how far it falls short of them, so one that meets them always wins."""
    return score if shortfall == 0 else -shortfall
