"""Quality and rate metrics, measured honestly (design notes, section 4).

PSNR and SSIM take 8-bit images (clamp and round first: `images.to_uint8`), so no metric is ever
computed on unclamped float outputs. `bd_rate` summarises two rate-distortion curves.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _as_float(a) -> torch.Tensor:
    """uint8 (H, W, C) / (H, W) array or tensor -> float64 tensor (1, C, H, W) in [0, 255]."""
    t = torch.as_tensor(np.asarray(a)).double()
    if t.ndim == 2:
        t = t[..., None]
    return t.permute(2, 0, 1)[None]


def psnr(a, b, peak: float = 255.0) -> float:
    """PSNR in dB between two 8-bit images of the same shape (inf when identical)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {a.shape} vs {b.shape}")
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(peak**2 / mse))


def _gaussian_window(size: int, sigma: float) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _ssim_maps(x: torch.Tensor, y: torch.Tensor, win: int, sigma: float, peak: float):
    """Per-pixel SSIM and contrast-structure maps (Wang et al. 2004), valid region only."""
    c = x.shape[1]
    g = _gaussian_window(win, sigma)
    kx = g.view(1, 1, 1, win).repeat(c, 1, 1, 1)
    ky = g.view(1, 1, win, 1).repeat(c, 1, 1, 1)

    def blur(t):
        return F.conv2d(F.conv2d(t, kx, groups=c), ky, groups=c)

    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    lum = (2 * mx * my + c1) / (mx * mx + my * my + c1)
    return lum * cs, cs


def ssim(a, b, win: int = 11, sigma: float = 1.5, peak: float = 255.0) -> float:
    """Mean SSIM of two 8-bit images (averaged over channels), Gaussian window 11 / sigma 1.5."""
    x, y = _as_float(a), _as_float(b)
    win = min(win, x.shape[-1], x.shape[-2])
    s, _ = _ssim_maps(x, y, win, sigma, peak)
    return float(s.mean())


MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ms_ssim(a, b, win: int = 11, sigma: float = 1.5, scales: int | None = None, peak: float = 255.0) -> float:
    """Multi-scale SSIM (Wang et al. 2003). With `scales=None` it uses as many of the five scales as
    the image allows (the coarsest must still hold a `win`-sized window), renormalising the weights,
    so 64-128 px faces get a meaningful value instead of an error."""
    x, y = _as_float(a), _as_float(b)
    if scales is None:
        scales, side = 1, min(x.shape[-2:])
        while scales < 5 and side // 2 ** scales >= win:
            scales += 1
    w = torch.tensor(MS_SSIM_WEIGHTS[:scales], dtype=torch.float64)
    w = w / w.sum()
    values = []
    for i in range(scales):
        s, cs = _ssim_maps(x, y, min(win, x.shape[-1], x.shape[-2]), sigma, peak)
        values.append((s if i == scales - 1 else cs).mean().clamp(min=0))
        if i < scales - 1:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    return float(torch.prod(torch.stack(values) ** w))


def bpp(num_bytes: int, width: int, height: int) -> float:
    """Bits per pixel of a whole file."""
    return 8.0 * num_bytes / (width * height)


def compression_ratio(bits_per_pixel: float) -> float:
    """The original report's "compression ratio": 24-bit RGB over the coded rate."""
    return 24.0 / bits_per_pixel


def bd_rate(rate_anchor, psnr_anchor, rate_test, psnr_test) -> float:
    """Bjontegaard delta rate in percent: the average rate change of `test` against `anchor` at equal
    PSNR, over the overlapping PSNR range (negative = test needs fewer bits).

    Fits log-rate as a cubic in PSNR for each curve (Bjontegaard, VCEG-M33) and integrates the
    difference exactly over the overlap. Needs at least 4 points per curve; raises ValueError when
    the curves do not overlap."""
    ra, pa = np.log(np.asarray(rate_anchor, float)), np.asarray(psnr_anchor, float)
    rt, pt = np.log(np.asarray(rate_test, float)), np.asarray(psnr_test, float)
    if min(len(ra), len(rt)) < 4:
        raise ValueError("bd_rate needs at least 4 rate points per curve")
    lo, hi = max(pa.min(), pt.min()), min(pa.max(), pt.max())
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
