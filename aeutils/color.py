"""sRGB <-> CIE Lab in torch, differentiable (D65 white, 2-degree observer, as scikit-image).

Shapes: RGB (N, 3, H, W) or (3, H, W) in [0, 1]; Lab the same shape with L in [0, 100] and a, b
roughly in [-110, 110]. `fit_to_gamut` pulls colours that RGB cannot show back to the edge of the
gamut at constant lightness, so a colorizer's output keeps the input's L channel.
"""
from __future__ import annotations

import torch

# sRGB primaries -> XYZ (D65), the matrix of IEC 61966-2-1 (scikit-image uses the same).
XYZ_FROM_RGB = torch.tensor([
    [0.412453, 0.357580, 0.180423],
    [0.212671, 0.715160, 0.072169],
    [0.019334, 0.119193, 0.950227],
], dtype=torch.float64)
RGB_FROM_XYZ = torch.linalg.inv(XYZ_FROM_RGB)
WHITE_D65 = torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64)
_EPS = 0.008856  # (6/29)^3: where the cube root of CIE Lab turns linear
_KAPPA = 7.787


def _channels_first(x: torch.Tensor) -> tuple[torch.Tensor, bool]:
    if x.ndim == 3:
        return x[None], True
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected (N, 3, H, W) or (3, H, W), got {tuple(x.shape)}")
    return x, False


def _mix(m: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Apply a 3x3 matrix to the channel axis of (N, 3, H, W)."""
    return torch.einsum("ij,njhw->nihw", m.to(x), x)


def srgb_to_linear(c: torch.Tensor) -> torch.Tensor:
    return torch.where(c > 0.04045, ((c.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4, c / 12.92)


def linear_to_srgb(c: torch.Tensor) -> torch.Tensor:
    return torch.where(c > 0.0031308, 1.055 * c.clamp(min=0.0031308) ** (1 / 2.4) - 0.055, 12.92 * c)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] -> Lab (L in [0, 100]); matches skimage.color.rgb2lab."""
    rgb, squeeze = _channels_first(rgb)
    xyz = _mix(XYZ_FROM_RGB, srgb_to_linear(rgb)) / WHITE_D65.to(rgb).view(1, 3, 1, 1)
    f = torch.where(xyz > _EPS, xyz.clamp(min=_EPS) ** (1 / 3), _KAPPA * xyz + 16 / 116)
    fx, fy, fz = f.unbind(1)
    lab = torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], 1)
    return lab[0] if squeeze else lab


def lab_to_rgb(lab: torch.Tensor, clamp: bool = True) -> torch.Tensor:
    """Lab -> sRGB, clamped to [0, 1] unless `clamp=False` (then out-of-gamut values show as <0 or >1).

    Matches skimage.color.lab2rgb for in-gamut colours."""
    lab, squeeze = _channels_first(lab)
    L, a, b = lab.unbind(1)
    fy = (L + 16) / 116
    # A negative z is not a colour; scikit-image sets it to 0 in the same place.
    f = torch.stack([fy + a / 500, fy, (fy - b / 200).clamp(min=0)], 1)
    t = torch.where(f > 6 / 29, f.clamp(min=6 / 29) ** 3, (f - 16 / 116) / _KAPPA)
    rgb = linear_to_srgb(_mix(RGB_FROM_XYZ, t * WHITE_D65.to(lab).view(1, 3, 1, 1)))
    rgb = rgb.clamp(0, 1) if clamp else rgb
    return rgb[0] if squeeze else rgb


def gray_rgb(L: torch.Tensor) -> torch.Tensor:
    """Lightness (N, 1, H, W) in [0, 100] -> the neutral sRGB image (N, 3, H, W) of that lightness."""
    return lab_to_rgb(torch.cat([L, torch.zeros_like(L).expand(-1, 2, -1, -1)], 1))


def fit_to_gamut(L: torch.Tensor, ab: torch.Tensor, iters: int = 14) -> torch.Tensor:
    """Scale each pixel's ab towards gray (same lightness, same hue) just enough that the colour fits
    in sRGB, so that clamping the RGB never changes L. Gray (ab = 0) is always inside for L in
    [0, 100], so a bisection on the chroma factor finds the largest colour that fits.

    L (N, 1, H, W), ab (N, 2, H, W) -> ab (N, 2, H, W). Not differentiable (use on outputs)."""
    L = L.clamp(0, 100)

    def inside(s):
        rgb = lab_to_rgb(torch.cat([L, ab * s], 1), clamp=False)
        return ((rgb >= -1e-4) & (rgb <= 1 + 1e-4)).all(1, keepdim=True)

    ok = inside(torch.ones_like(L))
    lo, hi = torch.zeros_like(L), torch.ones_like(L)
    for _ in range(iters):
        mid = (lo + hi) / 2
        fits = inside(mid)
        lo, hi = torch.where(fits, mid, lo), torch.where(fits, hi, mid)
    return ab * torch.where(ok, torch.ones_like(lo), lo)


def combine(L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """Lightness + predicted chroma -> sRGB in [0, 1] with the lightness kept (chroma fitted to gamut)."""
    return lab_to_rgb(torch.cat([L, fit_to_gamut(L, ab)], 1))
