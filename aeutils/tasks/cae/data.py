"""The experiments' images: random training crops of their sources, the CelebA validation faces that
choose the checkpoint, and the held-out test sets (VoxCeleb2 test frames, CelebA test identities)."""
from __future__ import annotations

import random

import torch

from aeutils.datasets import sources
from aeutils.datasets.sources import voxceleb2_test_frames
from aeutils.errors import UserError
from aeutils.images import load_rgb, to_tensor
from aeutils.tasks.cae.hparams import Hparams


def crop8(x: torch.Tensor) -> torch.Tensor:
    """Centre-crop (3, H, W) to multiples of 8 (the autoencoder's stride): 178x218 -> 176x216."""
    h, w = x.shape[-2:]
    top, left = (h % 8) // 2, (w % 8) // 2
    return x[..., top:top + h - h % 8, left:left + w - w % 8]


def _spaced(items: list, n: int | None) -> list:
    """n items spread evenly over the list (every identity represented), all when n is None."""
    if n is None or n >= len(items):
        return list(items)
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def train_dataset(hp: Hparams, profile: str) -> tuple[sources.FaceImages, dict]:
    """Random crops (block_size, with flips) of the experiment's training images, and a note of
    what was used. CelebA train identities 0-159; the compiled VoxCeleb2 "train" split (frames of
    dev-partition identities) when present."""
    if profile == "smoke" or "fixtures" in hp.sources:
        return sources.FaceImages(sources.smoke_images(8, 96, seed=0), crop=hp.block_size), {"fixtures": 8}
    paths, used = [], {}
    if "celeba" in hp.sources and sources.have_celeba():
        celeba = sources.celeba_files("train")
        paths += celeba
        used["celeba_train"] = len(celeba)
    if "voxceleb2" in hp.sources:
        rows = sources.read_manifest(sources.VOXCELEB2_FRAMES, "train")  # dev-partition identities
        vox = [sources.VOXCELEB2_FRAMES / r["path"] for r in rows]
        paths += vox
        used["voxceleb2_train_frames"] = len(vox)
    if not paths:
        raise UserError("no training images: CelebA not found and no compiled VoxCeleb2 frames "
                        f"in {sources.VOXCELEB2_FRAMES} (run `aeutils compile-voxceleb2`)")
    if hp.train_dataset_size is not None and hp.train_dataset_size < len(paths):
        paths = sorted(random.Random(0).sample(paths, hp.train_dataset_size))
    used["images"] = len(paths)
    return sources.FaceImages(paths, crop=hp.block_size), used


def validation_images(hp: Hparams, profile: str) -> list[torch.Tensor]:
    """CelebA validation identities (160-169), whole faces cropped to 176x216."""
    ds = sources.face_split("val", profile, limit=None if profile != "smoke" else hp.val_size)
    idx = _spaced(list(range(len(ds))), hp.val_size)
    return [crop8(ds.image(i)) for i in idx]


def test_sets(hp: Hparams, profile: str) -> dict[str, list[torch.Tensor]]:
    """The held-out test images: the first frame of each of the 66 VoxCeleb2 test-identity clips
    (id00067, 224x224, the original's domain) and CelebA test identities (170-199, 176x216)."""
    if profile == "smoke":
        ds = sources.face_split("test", profile, limit=hp.test_dataset_size)
        return {"fixtures": [crop8(ds.image(i)) for i in range(len(ds))]}
    sets = {}
    try:
        sets["voxceleb2-test"] = [to_tensor(load_rgb(p)) for p in voxceleb2_test_frames()]
    except UserError:
        pass  # frames not compiled: the results JSON then lists CelebA only
    if sources.have_celeba():
        sets["celeba-test"] = [crop8(to_tensor(load_rgb(p)))
                               for p in _spaced(sources.celeba_files("test"), hp.test_dataset_size)]
    if not sets:
        raise UserError("no test images: neither compiled VoxCeleb2 frames nor CelebA found")
    return sets
