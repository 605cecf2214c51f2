"""Training images that look like users' photos, and validation faces from more than one source.

The aligned face crops a model first sees are all alike (the same scale, the face in the middle,
one JPEG quality); a user's photo is not. `PhotoCrops` turns the project's training faces (CelebA
training identities and VoxCeleb2 dev frames) into crops that vary the way photos do: rescaled,
cut anywhere, flipped, with other light and white balance, and saved again as JPEG at a random
quality before any damage is added (most photos are JPEGs).

`validation_faces` gives whole clean images of three sources (CelebA validation identities,
VoxCeleb2 validation-identity frames, lfw-val: faces in the wild from another source) to choose
checkpoints and designs on, and `softened` a fourth source of them blurred, as soft as many video
frames. lfw-val is for validation only: nothing here trains on it.
"""
from __future__ import annotations

import io
import math
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageEnhance
from torch.utils.data import Dataset
from torchvision.transforms.functional import gaussian_blur

from aeutils import config
from aeutils.datasets.sources import FaceImages, VoxCeleb2Frames, face_split, image_files, smoke_images

# VoxCeleb2 frames sampled throughout every clip (one a second), compiled by
# `aeutils compile-voxceleb2 ../shared/data/voxceleb2 data/voxceleb2-dense --interval 1`;
# $AEUTILS_VOXCELEB2_DENSE points elsewhere (e.g. the small copy scripts/gpu_codec.py carries to a GPU).
VOXCELEB2_DENSE = Path(os.environ.get("AEUTILS_VOXCELEB2_DENSE") or config.REPO_ROOT / "data" / "voxceleb2-dense")
SOURCES = ("celeba", "voxceleb2", "lfw")


def lfw_dir():
    return config.data_root() / "lfw-val"


def lfw_files(split: str) -> list:
    """lfw-val split by position: even-numbered images validate, odd-numbered ones test."""
    return image_files(lfw_dir())[split == "test"::2]


class PhotoCrops(Dataset):
    """Clean (3, crop, crop) crops in [0, 1] of the images of `faces`, made to vary as photos do:
    a random downscale (`scale`, of the crop window, antialiased), a window anywhere in the image, a
    horizontal flip, brightness / contrast / saturation / per-channel gain jitter, and, with
    probability `jpeg`, a JPEG of quality 40-95. Draws come from torch's generator (seeded per worker)."""

    def __init__(self, faces: list[FaceImages], crop: int, scale=(0.5, 1.0), jitter: float = 0.15,
                 jpeg: float = 0.5, length: int | None = None):
        self.faces, self.crop, self.scale, self.jitter, self.jpeg = faces, crop, scale, jitter, jpeg
        self.index = [(f, i) for f in range(len(faces)) for i in range(len(faces[f]))]
        self.length = length or len(self.index)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i):
        rng = np.random.default_rng(int(torch.randint(2**62, ())))
        f, j = self.index[int(rng.integers(len(self.index)))]
        im = Image.fromarray((self.faces[f].image(j) * 255).round().byte().permute(1, 2, 0).numpy())
        return crop_photo(im, self.crop, rng, self.scale, self.jitter, self.jpeg)


def crop_photo(im: Image.Image, crop: int, rng: np.random.Generator, scale=(0.5, 1.0), jitter: float = 0.15,
               jpeg: float = 0.5) -> torch.Tensor:
    """One photo-like crop of `im` (see PhotoCrops): (3, crop, crop) float in [0, 1]."""
    s = rng.uniform(*scale)
    side = min(round(crop / s), im.width, im.height)
    left, top = int(rng.integers(0, im.width - side + 1)), int(rng.integers(0, im.height - side + 1))
    im = im.resize((crop, crop), Image.LANCZOS, box=(left, top, left + side, top + side))
    if rng.random() < 0.5:
        im = im.transpose(Image.FLIP_LEFT_RIGHT)
    if jitter:
        def factor():
            return float(rng.uniform(1 - jitter, 1 + jitter))
        im = ImageEnhance.Brightness(im).enhance(factor())
        im = ImageEnhance.Contrast(im).enhance(factor())
        im = ImageEnhance.Color(im).enhance(factor())
        gains = rng.uniform(1 - jitter / 3, 1 + jitter / 3, size=3)
        im = Image.fromarray(np.clip(np.asarray(im) * gains, 0, 255).round().astype(np.uint8))
    if rng.random() < jpeg:
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=int(rng.integers(40, 96)))
        im = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1).float() / 255


def training_faces(profile: str) -> list[FaceImages]:
    """What the photo-like models train on: CelebA training identities, and VoxCeleb2 dev frames
    sampled throughout every clip (VOXCELEB2_DENSE) where they are compiled. Smoke: the fixture."""
    faces = [face_split("train", profile, limit=None if profile != "smoke" else 8)]
    if profile != "smoke" and (VOXCELEB2_DENSE / "manifest.csv").is_file():
        faces.append(VoxCeleb2Frames("train", VOXCELEB2_DENSE))
    return faces


def validation_faces(profile: str, per_source: int) -> dict[str, list[torch.Tensor]]:
    """Whole clean images to choose checkpoints and designs on, {source: [(3, H, W) in [0, 1]]}, up to
    `per_source` each, spread over the source: CelebA and VoxCeleb2 validation identities and the
    even-numbered lfw-val images. Smoke gets the fixture as its one source."""
    if profile == "smoke":
        return {"smoke": [FaceImages(smoke_images(n=per_source, seed=1)).image(i) for i in range(per_source)]}
    return _sources("val", per_source)


SOFT_SIGMA = 1.5  # px: as soft as the softer VoxCeleb2 frames (sharp faces blurred 1.5-2 px read like them)


def softened(sources: dict[str, list[torch.Tensor]], per_source: int,
             sigma: float = SOFT_SIGMA) -> list[torch.Tensor]:
    """A softened validation source: `per_source` images spread over `sources`, blurred by a Gaussian
    of `sigma` px. A model trained mostly on sharp faces can fall behind a smooth fill on soft photos
    while every plain source hides it (the squares model trained on sharp crops: ahead of its fill on
    all three, 0.3 dB behind it on these, measured 2026-12-03)."""
    k = 2 * math.ceil(3 * sigma) + 1
    n = math.ceil(per_source / len(sources))
    picked = [x for images in sources.values() for x in images[::max(len(images) // n, 1)][:n]]
    return [gaussian_blur(x, [k, k], [sigma, sigma]) for x in picked[:per_source]]


def test_faces(per_source: int, profile: str = "cpu") -> dict[str, list[torch.Tensor]]:
    """Whole clean images to report on: CelebA test identities, VoxCeleb2 test-identity frames, and
    the odd-numbered lfw-val images (never those that chose a checkpoint). Smoke: another fixture."""
    if profile == "smoke":
        return {"smoke": [FaceImages(smoke_images(n=per_source, seed=2)).image(i) for i in range(per_source)]}
    return _sources("test", per_source)


def _sources(split: str, per_source: int) -> dict[str, list[torch.Tensor]]:
    """Up to `per_source` images of each source, every k-th so that more identities are seen;
    sources missing on this machine are left out. lfw-val is split by position (even: val, odd: test)."""
    dense = VOXCELEB2_DENSE if (VOXCELEB2_DENSE / "manifest.csv").is_file() else None
    sets = {"celeba": lambda: face_split(split, "cpu"),
            "voxceleb2": lambda: VoxCeleb2Frames(split, dense),
            "lfw": lambda: FaceImages(lfw_files(split))}
    out = {}
    for name, make in sets.items():
        try:
            faces = make()
        except FileNotFoundError:
            continue
        step = max(len(faces) // per_source, 1)
        out[name] = [faces.image(i) for i in range(0, len(faces), step)][:per_source]
    return out
