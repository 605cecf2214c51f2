"""The images a colorizer learns from and is measured on: (L, ab) pairs of faces, the face splits at
the profile's size, the ab statistics of the training faces, and the Kodak photographs (non-faces)."""
from __future__ import annotations

import torch
from PIL import Image
from torch.utils.data import Dataset

from aeutils import config
from aeutils.color import rgb_to_lab
from aeutils.datasets import sources
from aeutils.images import load_rgb, to_tensor
from aeutils.models.colorize import nearest_bin
from aeutils.tasks.colorize.hparams import hparams


class LabFaces(Dataset):
    """(L, ab) pairs from a face dataset of RGB tensors: L (1, H, W) in [0, 100], ab (2, H, W)."""

    def __init__(self, faces: Dataset):
        self.faces = faces

    def __len__(self) -> int:
        return len(self.faces)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        lab = rgb_to_lab(self.faces[i])
        return lab[:1], lab[1:]


def faces(split: str, profile: str, crop: int | None = None, limit: int | None = None) -> sources.FaceImages:
    hp = hparams(profile)
    return sources.face_split(split, profile, crop=crop, limit=limit, resize=hp.size)


def ab_statistics(images: sources.FaceImages, bins: torch.Tensor | None = None,
                  limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Mean ab (2,) over the pixels of (whole, uncropped) training images, the "mean ab" baseline,
    and the count of pixels per ab bin (Q,) when `bins` are given (for class rebalancing)."""
    total, n = torch.zeros(2, dtype=torch.float64), 0
    counts = None if bins is None else torch.zeros(len(bins), dtype=torch.float64)
    for i in range(len(images) if limit is None else min(limit, len(images))):
        ab = rgb_to_lab(images.image(i))[1:]
        total += ab.double().sum((1, 2))
        n += ab.shape[1] * ab.shape[2]
        if bins is not None:
            counts += torch.bincount(nearest_bin(ab[None], bins).flatten(), minlength=len(bins)).double()
    return (total / n).float(), counts


def kodak_images(limit: int | None = None, max_side: int | None = None) -> list[torch.Tensor]:
    """Kodak photographs (non-face images) as RGB tensors, optionally shrunk to `max_side`; [] if absent."""
    folder = config.kodak_dir()
    if not folder.is_dir():
        return []
    out = []
    for path in sources.image_files(folder)[:limit]:
        im = load_rgb(path)
        if max_side and max(im.size) > max_side:
            im.thumbnail((max_side, max_side), Image.BICUBIC)
        out.append(to_tensor(im))
    return out
