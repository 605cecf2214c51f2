"""Classical restoration that needs no training: what every learned model here is measured against
(design notes, section 5), on the same images in the same run.

Image functions take and return 8-bit RGB arrays (H, W, 3); hole fillers also take a boolean mask
(H, W), True = missing. Where a method needs a parameter of the damage (noise sigma, blur sigma,
pixelation factor) it is given the true one: the baselines get every advantage, so a model that
beats them has earned it.

- holes: `inpaint_telea`, `inpaint_navier_stokes` (OpenCV), `inpaint_biharmonic` (scikit-image)
- noise / JPEG: `denoise_nlm` (non-local means), `denoise_tv` (total variation), `denoise_bm3d`
- blur: `unsharp_mask`, `deconvolve_richardson_lucy`
- resampling: `upscale_bicubic`, `upscale_lanczos` (also used by super-resolution and colorization)
"""
from __future__ import annotations

import cv2
import numpy as np
from PIL import Image
from skimage import restoration


def _float(im: np.ndarray) -> np.ndarray:
    return np.asarray(im, dtype=np.float64) / 255.0


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


# --- resampling -----------------------------------------------------------------------------
def _resample(im, scale: float, method) -> Image.Image | np.ndarray:
    pil = im if isinstance(im, Image.Image) else Image.fromarray(np.asarray(im))
    out = pil.resize((round(pil.width * scale), round(pil.height * scale)), method)
    return out if isinstance(im, Image.Image) else np.asarray(out)


def upscale_bicubic(im, scale: float):
    """Bicubic resize by `scale` (a PIL image or uint8 array in, the same type out)."""
    return _resample(im, scale, Image.BICUBIC)


def upscale_lanczos(im, scale: float):
    """Lanczos (a=3) resize by `scale` (a PIL image or uint8 array in, the same type out)."""
    return _resample(im, scale, Image.LANCZOS)


def depixelate(im: np.ndarray, factor: int, method: str = "bicubic") -> np.ndarray:
    """Undo a mosaic of `factor` x `factor` blocks aligned at the top-left: take one value per block
    and resample it back up (blocks at the right/bottom edge may be partial)."""
    h, w = im.shape[:2]
    small = np.asarray(im)[::factor, ::factor]
    up = upscale_bicubic(small, factor) if method == "bicubic" else upscale_lanczos(small, factor)
    return np.ascontiguousarray(up[:h, :w])


# --- holes ----------------------------------------------------------------------------------
def inpaint_telea(im: np.ndarray, mask: np.ndarray, radius: int = 5) -> np.ndarray:
    """Fast marching inpainting (Telea 2004), OpenCV."""
    return cv2.inpaint(np.ascontiguousarray(im), mask.astype(np.uint8), radius, cv2.INPAINT_TELEA)


def inpaint_navier_stokes(im: np.ndarray, mask: np.ndarray, radius: int = 5) -> np.ndarray:
    """Fluid-dynamics inpainting (Bertalmio et al. 2001), OpenCV."""
    return cv2.inpaint(np.ascontiguousarray(im), mask.astype(np.uint8), radius, cv2.INPAINT_NS)


def inpaint_biharmonic(im: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Smoothest fill (biharmonic equation) of each hole from its border, scikit-image. A mask over
    the whole image leaves nothing to fill from: the image comes back as it is."""
    if mask.all():
        return im.copy()
    return _u8(restoration.inpaint_biharmonic(_float(im), mask.astype(bool), channel_axis=-1))


# --- noise and compression artifacts --------------------------------------------------------
NOISE_MIN_SIDE = 8  # px: below it the wavelet estimate has no detail coefficients to read (NaN, warnings)


def noise_sigma(im: np.ndarray) -> float:
    """Blind estimate of Gaussian noise sigma (in [0, 1] units) from wavelet coefficients; 0 for an
    image under NOISE_MIN_SIDE a side, too small to tell noise from detail."""
    if min(im.shape[:2]) < NOISE_MIN_SIDE:
        return 0.0
    return float(restoration.estimate_sigma(_float(im), channel_axis=-1, average_sigmas=True))


def denoise_nlm(im: np.ndarray, sigma: float | None = None, strength: float = 0.8) -> np.ndarray:
    """Non-local means (Buades et al. 2005), 5x5 patches searched within 13x13; h = strength * sigma."""
    sigma = noise_sigma(im) if sigma is None else sigma
    out = restoration.denoise_nl_means(_float(im), h=strength * sigma, sigma=sigma, patch_size=5,
                                       patch_distance=6, fast_mode=True, channel_axis=-1)
    return _u8(out)


def denoise_tv(im: np.ndarray, sigma: float | None = None, strength: float = 0.6) -> np.ndarray:
    """Total-variation denoising (Chambolle 2004) with weight strength * sigma."""
    sigma = noise_sigma(im) if sigma is None else sigma
    return _u8(restoration.denoise_tv_chambolle(_float(im), weight=strength * sigma, channel_axis=-1))


def denoise_bm3d(im: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """BM3D (Dabov et al. 2007), colour version. About 13 s per 178x218 image on one core."""
    import bm3d

    sigma = noise_sigma(im) if sigma is None else sigma
    return _u8(bm3d.bm3d_rgb(_float(im), sigma))


# --- blur -----------------------------------------------------------------------------------
def unsharp_mask(im: np.ndarray, radius: float = 2.0, amount: float = 1.5) -> np.ndarray:
    """Unsharp masking: im + amount * (im - gaussian(im, radius))."""
    x = _float(im)
    return _u8(x + amount * (x - cv2.GaussianBlur(x, (0, 0), radius, borderType=cv2.BORDER_REFLECT_101)))


def gaussian_psf(sigma: float) -> np.ndarray:
    r = int(np.ceil(3 * sigma))
    g = np.exp(-(np.arange(-r, r + 1) ** 2) / (2 * sigma**2))
    k = np.outer(g, g)
    return k / k.sum()


def deconvolve_richardson_lucy(im: np.ndarray, sigma: float, iterations: int = 20) -> np.ndarray:
    """Richardson-Lucy deconvolution with the true Gaussian PSF, per channel (reflect-padded)."""
    psf = gaussian_psf(sigma)
    r = psf.shape[0] // 2
    x = np.pad(_float(im), ((r, r), (r, r), (0, 0)), mode="reflect")
    out = np.stack([restoration.richardson_lucy(x[..., c], psf, num_iter=iterations, clip=True)
                    for c in range(3)], axis=-1)
    return _u8(out[r:-r, r:-r])


# --- which baselines answer which damage ----------------------------------------------------
def _input(im, mask, params):
    return np.asarray(im)


FOR_DAMAGE = {
    "noise": {"input": _input,
              "nlm": lambda im, m, p: denoise_nlm(im, p["sigma"]),
              "tv": lambda im, m, p: denoise_tv(im, p["sigma"]),
              "bm3d": lambda im, m, p: denoise_bm3d(im, p["sigma"])},
    "jpeg": {"input": _input,
             "nlm": lambda im, m, p: denoise_nlm(im),
             "tv": lambda im, m, p: denoise_tv(im),
             "bm3d": lambda im, m, p: denoise_bm3d(im)},
    "pixelate": {"input": _input,
                 "bicubic": lambda im, m, p: depixelate(im, p["factor"], "bicubic"),
                 "lanczos": lambda im, m, p: depixelate(im, p["factor"], "lanczos")},
    "blur": {"input": _input,
             "unsharp": lambda im, m, p: unsharp_mask(im, radius=p["sigma"], amount=1.5),
             "richardson-lucy": lambda im, m, p: deconvolve_richardson_lucy(im, p["sigma"])},
}
for _kind in ("blocks", "squares", "grid"):
    FOR_DAMAGE[_kind] = {"input": _input,
                         "telea": lambda im, m, p: inpaint_telea(im, m),
                         "navier-stokes": lambda im, m, p: inpaint_navier_stokes(im, m),
                         "biharmonic": lambda im, m, p: inpaint_biharmonic(im, m)}
SLOW = {"bm3d"}  # left out of the cpu profile's runs (see denoise_bm3d)


def restore(method: str, kind: str, im: np.ndarray, mask: np.ndarray | None, params: dict) -> np.ndarray:
    """Run baseline `method` on an image damaged by `kind` (uint8 (H, W, 3) in and out)."""
    return FOR_DAMAGE[kind][method](im, mask, params)
