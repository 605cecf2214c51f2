"""Synthetic damage for the repair study (design notes, section 6), reproducible from a seed.

Every transform takes a clean image as a float tensor (3, H, W) in [0, 1] and a
`numpy.random.Generator`, draws its own parameters from a fixed range (the original study's, used
by notebook 09's tables) unless they are given, and returns a `Damaged`: the damaged image
(quantised to 8 bits, as a file of it would be), the hole mask (1, H, W) with 1 = missing where the
damage has holes (None otherwise), and the parameters it used. Holes are filled with black,
`HOLE_FILL`. `draw_wide` draws parameters over every strength a user meets, from none to heavy
(what the models that must hold up on any photo train on).

    damage.apply("blocks", x, seed=3)           # the same damage every time for seed 3
    damage.apply("noise", x, seed=3, sigma=10 / 255)   # a given strength
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
from PIL import Image

from aeutils.images import to_image, to_tensor

HOLE_FILL = 0.0


@dataclass
class Damaged:
    image: torch.Tensor  # (3, H, W) in [0, 1], on the 8-bit grid
    mask: torch.Tensor | None  # (1, H, W), 1 = missing pixel; None for damage without holes
    kind: str
    params: dict = field(default_factory=dict)


def _quantize(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(0, 1).mul(255).round().div(255)


def _with_holes(x: torch.Tensor, mask: np.ndarray, kind: str, params: dict) -> Damaged:
    m = torch.from_numpy(mask.astype(np.float32))[None]
    return Damaged(_quantize(x) * (1 - m) + HOLE_FILL * m, m, kind, params)


def gaussian_noise(x: torch.Tensor, rng: np.random.Generator, sigma: float | None = None) -> Damaged:
    """Additive Gaussian noise, clipped; by default heavy, sigma 0.1-0.3 (25-75 on the 8-bit scale)."""
    sigma = float(rng.uniform(0.1, 0.3)) if sigma is None else float(sigma)
    noise = torch.from_numpy(rng.standard_normal(x.shape).astype(np.float32)) * sigma
    return Damaged(_quantize(x + noise), None, "noise", {"sigma": sigma})


def face_blocks(x: torch.Tensor, rng: np.random.Generator, size: float | None = None) -> Damaged:
    """One to three rectangles, each side by default 15-35% of the image's (`size` fixes both sides'
    fraction), centred around the middle where an aligned face has its eyes, nose and mouth."""
    _, h, w = x.shape
    mask = np.zeros((h, w), bool)
    boxes = []
    for _ in range(int(rng.integers(1, 4))):
        fh, fw = (rng.uniform(0.15, 0.35), rng.uniform(0.15, 0.35)) if size is None else (size, size)
        bh, bw = max(1, int(fh * h)), max(1, int(fw * w))
        cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
        top, left = int(np.clip(cy - bh / 2, 0, h - bh)), int(np.clip(cx - bw / 2, 0, w - bw))
        mask[top:top + bh, left:left + bw] = True
        boxes.append((top, left, bh, bw))
    return _with_holes(x, mask, "blocks", {"boxes": boxes})


def random_squares(x: torch.Tensor, rng: np.random.Generator, coverage: float | None = None) -> Damaged:
    """Many small squares anywhere: 5-12% of the shorter side each, covering about 10-25% of the
    image by default (`coverage` fixes the fraction)."""
    _, h, w = x.shape
    mask = np.zeros((h, w), bool)
    target = rng.uniform(0.1, 0.25) if coverage is None else coverage
    while mask.mean() < target:
        s = max(2, int(rng.uniform(0.05, 0.12) * min(h, w)))
        top, left = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
        mask[top:top + s, left:left + s] = True
    return _with_holes(x, mask, "squares", {"coverage": float(mask.mean())})


def grid_lines(x: torch.Tensor, rng: np.random.Generator, period: int | None = None) -> Damaged:
    """Horizontal and vertical lines 1-2 px wide every 8-16 px by default (`period` fixes the
    spacing), at a random offset."""
    _, h, w = x.shape
    period = int(rng.integers(8, 17)) if period is None else int(period)
    width = int(rng.integers(1, 3))
    oy, ox = int(rng.integers(0, period)), int(rng.integers(0, period))
    mask = np.zeros((h, w), bool)
    for k in range(width):
        mask[(np.arange(h) - oy - k) % period == 0, :] = True
        mask[:, (np.arange(w) - ox - k) % period == 0] = True
    return _with_holes(x, mask, "grid", {"period": period, "width": width})


def pixelate(x: torch.Tensor, rng: np.random.Generator, factor: int | None = None,
             part: float | None = None) -> Damaged:
    """Mosaic: the mean of each f x f block (by default f = 4-8, aligned to the top-left corner) fills
    the block; f = 1 leaves the image as it is. `part`: only a box of that share of each side is
    pixelated, from its own corner, placed within a tenth of each side of the centre (a face pixelated
    in a larger photo); the params then hold the box (top, left, height, width)."""
    f = int(rng.integers(4, 9)) if factor is None else int(factor)
    _, h, w = x.shape
    if part is not None:
        bh, bw = round(part * h), round(part * w)
        top = int(np.clip((h - bh) // 2 + rng.integers(-(h // 10), h // 10 + 1), 0, h - bh))
        left = int(np.clip((w - bw) // 2 + rng.integers(-(w // 10), w // 10 + 1), 0, w - bw))
        out = _quantize(x)
        out[:, top:top + bh, left:left + bw] = pixelate(x[:, top:top + bh, left:left + bw], rng, f).image
        return Damaged(out, None, "pixelate", {"factor": f, "part": part, "box": (top, left, bh, bw)})
    ph, pw = -h % f, -w % f
    xp = torch.nn.functional.pad(x[None], (0, pw, 0, ph), mode="replicate")
    small = torch.nn.functional.avg_pool2d(xp, f)
    big = torch.nn.functional.interpolate(small, scale_factor=f, mode="nearest")[0, :, :h, :w]
    return Damaged(_quantize(big), None, "pixelate", {"factor": f})


def gaussian_blur(x: torch.Tensor, rng: np.random.Generator, sigma: float | None = None) -> Damaged:
    """Gaussian blur, by default sigma 1.5-3 px (reflected borders); sigma 0 leaves the image as it is."""
    sigma = float(rng.uniform(1.5, 3.0)) if sigma is None else float(sigma)
    arr = x.permute(1, 2, 0).numpy()
    if sigma > 0:
        arr = cv2.GaussianBlur(arr, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT_101)
    out = np.ascontiguousarray(arr)
    return Damaged(_quantize(torch.from_numpy(out).permute(2, 0, 1)), None, "blur", {"sigma": sigma})


def jpeg_artifacts(x: torch.Tensor, rng: np.random.Generator, quality: int | None = None) -> Damaged:
    """JPEG (Pillow, 4:2:0), by default at quality 5-20: blocking, ringing and colour bleeding."""
    q = int(rng.integers(5, 21)) if quality is None else int(quality)
    return Damaged(jpeg_roundtrip(x, q), None, "jpeg", {"quality": q})


def jpeg_roundtrip(x: torch.Tensor, quality: int) -> torch.Tensor:
    """`x` (3, H, W) saved as a JPEG of `quality` (Pillow, 4:2:0) and read back."""
    buf = io.BytesIO()
    to_image(x).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    return to_tensor(Image.open(buf))


KINDS = {
    "noise": gaussian_noise,
    "blocks": face_blocks,
    "squares": random_squares,
    "grid": grid_lines,
    "pixelate": pixelate,
    "blur": gaussian_blur,
    "jpeg": jpeg_artifacts,
}
HOLE_KINDS = ("blocks", "squares", "grid")
BLIND = "blind"  # a random kind per image: what the blind model trains on


def apply(kind: str, x: torch.Tensor, seed: int | None = None,
          rng: np.random.Generator | None = None, **params) -> Damaged:
    """Damage `x` (3, H, W) in [0, 1] with `kind` (or "blind": one kind drawn at random), drawing
    every random choice from `rng`, or from a generator seeded with `seed`. `params` fix the
    strength (noise/blur `sigma`, jpeg `quality`, pixelate `factor`, blocks `size`, squares
    `coverage`, grid `period`) instead of drawing it."""
    rng = rng if rng is not None else np.random.default_rng(seed)
    if kind == BLIND:
        kind = str(rng.choice(list(KINDS)))
    if kind not in KINDS:
        raise ValueError(f"unknown damage {kind!r}; choose from {', '.join(KINDS)} or {BLIND}")
    return KINDS[kind](x.float().cpu(), rng, **params)


# Every strength a user meets, as fractions of draws: (probability of no damage at all, then the
# range). Light damage is drawn as often as heavy, since that is where a model most easily does harm.
WIDE = {
    # Noise is then saved, in some draws, as a JPEG of a quality in a range: (share of draws, lowest, highest + 1).
    "noise": dict(none=0.1, sigma=[(0.45, 0 / 255, 20 / 255), (0.45, 0 / 255, 75 / 255)], jpeg_after=(0.35, 30, 96)),
    "blur": dict(none=0.1, sigma=[(0.45, 0.0, 1.2), (0.45, 0.0, 3.0)]),
    "jpeg": dict(none=0.1, quality=[(0.45, 40, 96), (0.45, 5, 96)]),
    "pixelate": dict(none=0.1, factor=[(0.45, 2, 6), (0.45, 2, 17)]),
    # Holes from a few pixels to a third of the face: a crop without holes teaches a hole model nothing.
    "blocks": dict(none=0.0, size=[(0.5, 0.02, 0.12), (0.5, 0.02, 0.34)]),
    "squares": dict(none=0.0, coverage=[(0.5, 0.01, 0.1), (0.5, 0.01, 0.3)]),
    "grid": dict(none=0.0, period=[(0.5, 12, 33), (0.5, 6, 33)]),
}


# Strengths the robustness sweeps visit: below, inside and above the study's ranges (and the clean
# image itself, `sweep_damage(kind, x, None)`).
SWEEP = {
    "noise": ("sigma", [2 / 255, 3 / 255, 5 / 255, 10 / 255, 15 / 255, 25 / 255, 50 / 255, 75 / 255]),
    "blur": ("sigma", [0.5, 0.75, 1.0, 1.5, 2.0, 3.0]),
    "jpeg": ("quality", [95, 90, 70, 50, 30, 20, 10, 5]),
    "pixelate": ("factor", [2, 3, 4, 6, 8, 12, 16]),
    "blocks": ("size", [0.03, 0.07, 0.15, 0.25, 0.33]),
    "squares": ("coverage", [0.02, 0.05, 0.1, 0.2, 0.3]),
    "grid": ("period", [32, 16, 10, 8, 6]),
}


# Damages that come together in users' photos, each applied in turn as it happens: a noisy or soft
# photo saved as a JPEG, a soft photo with sensor noise. What the sweep of the command's default
# (`scripts/robustness.py --kinds mixed`) visits, by name; noise sigma on the 8-bit scale.
MIXED = "mixed"
MIXES = {
    "noise 5 + q90": (("noise", 5 / 255), ("jpeg", 90)),
    "noise 10 + q90": (("noise", 10 / 255), ("jpeg", 90)),
    "noise 10 + q75": (("noise", 10 / 255), ("jpeg", 75)),
    "noise 25 + q75": (("noise", 25 / 255), ("jpeg", 75)),
    "noise 10 + q50": (("noise", 10 / 255), ("jpeg", 50)),
    "noise 25 + q50": (("noise", 25 / 255), ("jpeg", 50)),
    "blur 1 + noise 5": (("blur", 1.0), ("noise", 5 / 255)),
    "blur 2 + noise 10": (("blur", 2.0), ("noise", 10 / 255)),
    "blur 1 + q90": (("blur", 1.0), ("jpeg", 90)),
    "blur 2 + q75": (("blur", 2.0), ("jpeg", 75)),
}


def sweep_damage(kind: str, x: torch.Tensor, strength, seed: int = 0, **params) -> Damaged:
    """`x` damaged by `kind` at a SWEEP `strength` (None: left clean, on the 8-bit grid, with a mask
    of no holes for a hole damage), seeded; `params` go to the damage (a mosaic's `part`). For MIXED,
    `strength` names a MIXES entry, and the params hold what the file tells of it: the JPEG's quality,
    where it was saved as one."""
    if strength is None:
        return Damaged(_quantize(x.float()), torch.zeros_like(x[:1]) if kind in HOLE_KINDS else None, kind, {})
    if kind == MIXED:
        rng, told = np.random.default_rng(seed), {}
        for step, value in MIXES[strength]:
            x = apply(step, x, rng=rng, **{SWEEP[step][0]: value}).image
            told = {"quality": value} if step == "jpeg" else told
        return Damaged(x, None, MIXED, told)
    return apply(kind, x, seed=seed, **{SWEEP[kind][0]: strength}, **params)


def draw_wide(kind: str, x: torch.Tensor, rng: np.random.Generator) -> Damaged:
    """Damage `x` with `kind` at a strength drawn from `WIDE` (none included). Noise is followed, in
    some draws (`jpeg_after`), by a JPEG, as a phone or a website saves a noisy photo."""
    spec = WIDE[kind]
    if rng.random() < spec["none"]:
        return Damaged(_quantize(x.float()), None, kind, {})
    name = next(k for k in spec if k not in ("none", "jpeg_after"))
    ranges = spec[name]
    weights = np.array([w for w, _, _ in ranges])
    _, lo, hi = ranges[int(rng.choice(len(ranges), p=weights / weights.sum()))]
    value = rng.uniform(lo, hi) if isinstance(lo, float) else int(rng.integers(lo, hi))
    d = apply(kind, x, rng=rng, **{name: value})
    share, lowest, above = spec.get("jpeg_after", (0.0, 0, 0))
    if rng.random() < share:
        q = int(rng.integers(lowest, above))
        d = Damaged(jpeg_roundtrip(d.image, q), None, kind, dict(d.params, quality=q))
    return d


BLUR_TOLD_MAX = 3.0  # the blur sigma a told model reads as its strongest (1.0)
NOISE_TOLD_MAX = 75 / 255  # the noise sigma a told model reads as its strongest (1.0)


def told_level(kind: str, params: dict) -> float:
    """How strong the damage is, as a wide model told it reads it in its fourth channel (0 = none):
    a JPEG's (100 - quality) / 100 (0 for an image never saved as a JPEG), a blur's sigma / 3, a
    noise's sigma / (75 / 255)."""
    if kind == "jpeg":
        quality = params.get("quality")
        return 0.0 if quality is None else (100 - quality) / 100
    if kind == "blur":
        return min(params.get("sigma") or 0.0, BLUR_TOLD_MAX) / BLUR_TOLD_MAX
    if kind == "noise":
        return min(params.get("sigma") or 0.0, NOISE_TOLD_MAX) / NOISE_TOLD_MAX
    raise ValueError(f"no told strength for {kind!r}")


def model_input(damaged: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """What a repair model reads: the damaged RGB and a fourth channel holding the hole mask
    (all zeros when there is no mask or it is unknown), or for a model told the damage's strength,
    that strength as a constant map (`told_level`). (3, H, W) -> (4, H, W), batched alike."""
    if mask is None:
        mask = torch.zeros_like(damaged[..., :1, :, :])
    return torch.cat([damaged, mask.to(damaged.dtype)], dim=-3)
