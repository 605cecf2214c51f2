"""The images super-resolution trains and is measured on: HR crops and the LR inputs made from them.

Low-resolution inputs are always made the same way: bicubic downsampling with antialiasing
(`torch.nn.functional.interpolate(..., antialias=True)`) of the high-resolution crop, rounded to
8 bits, as a real small image would be. With `--data photos` (SRResNet phase) the crops are
photo-like (`PhotoPairs`) and most small inputs are then saved as a JPEG, as most small photos are.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from aeutils.datasets import damage, photos, sources
from aeutils.images import load_rgb, to_tensor
from aeutils.tasks.superres.hparams import PHOTO_JPEG, PHOTO_QUALITY

EVAL_CROP = 176  # centre crop of the 178x218 CelebA faces; both x4 and x8 divide it


def downscale(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """The low-resolution input of an HR image or batch (..., 3, H, W) in [0, 1], H and W divisible
    by `scale`: antialiased bicubic downsampling, clamped and rounded to 8-bit levels."""
    x = hr[None] if hr.ndim == 3 else hr
    lr = F.interpolate(x, scale_factor=1 / scale, mode="bicubic", antialias=True, align_corners=False)
    lr = lr.clamp(0, 1).mul(255).round().div(255)
    return lr[0] if hr.ndim == 3 else lr


class PhotoPairs(Dataset):
    """(HR crop, LR input) pairs that look like users' photos (`--data photos`): the HR crop is a
    photo-like crop (`photos.PhotoCrops`: rescaled, anywhere, flipped, jittered; build it with
    jpeg=0 so that the target stays as clean as its source), the LR input its `downscale`, then with
    probability `jpeg` saved and decoded as a JPEG of a quality drawn from `quality`, as most small
    photos are. Draws come from torch's generator."""

    def __init__(self, crops: photos.PhotoCrops, scale: int, jpeg: float = PHOTO_JPEG,
                 quality: tuple[int, int] = PHOTO_QUALITY):
        self.crops, self.scale, self.jpeg, self.quality = crops, scale, jpeg, quality

    def __len__(self) -> int:
        return len(self.crops)

    def __getitem__(self, i):
        hr = self.crops[i]
        lr = downscale(hr, self.scale)
        rng = np.random.default_rng(int(torch.randint(2**62, ())))
        if rng.random() < self.jpeg:
            lr = damage.jpeg_roundtrip(lr, int(rng.integers(self.quality[0], self.quality[1] + 1)))
        return hr, lr


def center_crop(x: torch.Tensor, size: int, multiple: int = 16) -> torch.Tensor:
    """Centre crop (3, H, W) to a square of `size` (or the largest multiple of `multiple` that fits)."""
    _, h, w = x.shape
    s = min(size, h, w) // multiple * multiple
    top, left = (h - s) // 2, (w - s) // 2
    return x[:, top:top + s, left:left + s]


def eval_images(split: str, profile: str, limit: int, crop: int = EVAL_CROP) -> list[torch.Tensor]:
    """`limit` images of a split (spread over its identities), centre-cropped to `crop`."""
    if profile == "smoke" or not sources.have_celeba():
        ds = sources.face_split(split, "smoke", limit=limit)
        return [center_crop(ds.image(i), crop) for i in range(len(ds))]
    files = sources.celeba_files(split)
    files = files[::max(1, len(files) // limit)][:limit]
    return [center_crop(to_tensor(load_rgb(p)), crop) for p in files]
