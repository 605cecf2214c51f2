"""Synthetic damage for the repair study (design notes, section 6), reproducible from a seed.

Every transform takes a clean image as a float tensor (3, H, W) in [0, 1] and a
`numpy.random.Generator`, draws its own parameters from a fixed range, and returns a `Damaged`:
the damaged image (quantised to 8 bits, as a file of it would be), the hole mask (1, H, W) with 1 =
missing where the damage has holes (None otherwise), and the parameters it drew. Holes are filled
with black, `HOLE_FILL`.

    damage.apply("blocks", x, seed=3)      # the same damage every time for seed 3
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


def gaussian_noise(x: torch.Tensor, rng: np.random.Generator) -> Damaged:
    """Heavy additive Gaussian noise, sigma 0.1-0.3 (25-75 on the 8-bit scale), clipped."""
    sigma = float(rng.uniform(0.1, 0.3))
    noise = torch.from_numpy(rng.standard_normal(x.shape).astype(np.float32)) * sigma
    return Damaged(_quantize(x + noise), None, "noise", {"sigma": sigma})


def face_blocks(x: torch.Tensor, rng: np.random.Generator) -> Damaged:
    """One to three rectangles, each 15-35% of the image side, centred around the middle where an
    aligned face has its eyes, nose and mouth."""
    _, h, w = x.shape
    mask = np.zeros((h, w), bool)
    boxes = []
    for _ in range(int(rng.integers(1, 4))):
        bh, bw = int(rng.uniform(0.15, 0.35) * h), int(rng.uniform(0.15, 0.35) * w)
        cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
        top, left = int(np.clip(cy - bh / 2, 0, h - bh)), int(np.clip(cx - bw / 2, 0, w - bw))
        mask[top:top + bh, left:left + bw] = True
        boxes.append((top, left, bh, bw))
    return _with_holes(x, mask, "blocks", {"boxes": boxes})


def random_squares(x: torch.Tensor, rng: np.random.Generator) -> Damaged:
    """Many small squares anywhere: 5-12% of the shorter side each, covering about 10-25% of the image."""
    _, h, w = x.shape
    mask = np.zeros((h, w), bool)
    target = rng.uniform(0.1, 0.25)
    while mask.mean() < target:
        s = max(2, int(rng.uniform(0.05, 0.12) * min(h, w)))
        top, left = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
        mask[top:top + s, left:left + s] = True
    return _with_holes(x, mask, "squares", {"coverage": float(mask.mean())})


def grid_lines(x: torch.Tensor, rng: np.random.Generator) -> Damaged:
    """Horizontal and vertical lines 1-2 px wide every 8-16 px, at a random offset."""
    _, h, w = x.shape
    period, width = int(rng.integers(8, 17)), int(rng.integers(1, 3))
    oy, ox = int(rng.integers(0, period)), int(rng.integers(0, period))
    mask = np.zeros((h, w), bool)
    for k in range(width):
        mask[(np.arange(h) - oy - k) % period == 0, :] = True
        mask[:, (np.arange(w) - ox - k) % period == 0] = True
    return _with_holes(x, mask, "grid", {"period": period, "width": width})


def pixelate(x: torch.Tensor, rng: np.random.Generator) -> Damaged:
    """Mosaic: the mean of each f x f block (f = 4-8, aligned to the top-left corner) fills the block."""
    f = int(rng.integers(4, 9))
    _, h, w = x.shape
    ph, pw = -h % f, -w % f
    xp = torch.nn.functional.pad(x[None], (0, pw, 0, ph), mode="replicate")
    small = torch.nn.functional.avg_pool2d(xp, f)
    big = torch.nn.functional.interpolate(small, scale_factor=f, mode="nearest")[0, :, :h, :w]
    return Damaged(_quantize(big), None, "pixelate", {"factor": f})


def gaussian_blur(x: torch.Tensor, rng: np.random.Generator) -> Damaged:
    """Gaussian blur, sigma 1.5-3 px (reflected borders)."""
    sigma = float(rng.uniform(1.5, 3.0))
    arr = x.permute(1, 2, 0).numpy()
    out = cv2.GaussianBlur(arr, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT_101)
    return Damaged(_quantize(torch.from_numpy(out).permute(2, 0, 1)), None, "blur", {"sigma": sigma})


def jpeg_artifacts(x: torch.Tensor, rng: np.random.Generator) -> Damaged:
    """JPEG at quality 5-20 (Pillow, 4:2:0): blocking, ringing and colour bleeding."""
    q = int(rng.integers(5, 21))
    buf = io.BytesIO()
    to_image(x).save(buf, format="JPEG", quality=q)
    buf.seek(0)
    return Damaged(to_tensor(Image.open(buf)), None, "jpeg", {"quality": q})


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
          rng: np.random.Generator | None = None) -> Damaged:
    """Damage `x` (3, H, W) in [0, 1] with `kind` (or "blind": one kind drawn at random), drawing
    every random choice from `rng`, or from a generator seeded with `seed`."""
    rng = rng if rng is not None else np.random.default_rng(seed)
    if kind == BLIND:
        kind = str(rng.choice(list(KINDS)))
    if kind not in KINDS:
        raise ValueError(f"unknown damage {kind!r}; choose from {', '.join(KINDS)} or {BLIND}")
    return KINDS[kind](x.float().cpu(), rng)


def model_input(damaged: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """What a repair model reads: the damaged RGB and a fourth channel holding the hole mask
    (all zeros when there is no mask or it is unknown). (3, H, W) -> (4, H, W), batched alike."""
    if mask is None:
        mask = torch.zeros_like(damaged[..., :1, :, :])
    return torch.cat([damaged, mask.to(damaged.dtype)], dim=-3)
