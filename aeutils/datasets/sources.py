"""Face datasets: CelebA split by identity, folders of images, and tiny fixtures for the smoke profile.

Splits are identity-disjoint (see ../shared/data/README.md): CelebA identities 0-159 train,
160-169 validation, 170-199 test.
"""
from __future__ import annotations

import csv
import os
import random
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset

from aeutils import config
from aeutils.errors import UserError
from aeutils.images import load_rgb, sample_faces, to_tensor

CELEBA_SPLITS = {"train": range(0, 160), "val": range(160, 170), "test": range(170, 200)}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


def celeba_files(split: str, root: Path | None = None) -> list[Path]:
    """Paths of the CelebA images of one identity-disjoint split, sorted by name."""
    root = Path(root) if root else config.celeba_dir()
    ids = CELEBA_SPLITS[split]
    with open(root / "identity.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if int(r["identity"]) in ids]
    return sorted(root / "img_align_celeba" / r["image"] for r in rows)


def image_files(folder: str | Path) -> list[Path]:
    """All images in a folder (not recursive), sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def worker_options(requested: int) -> dict:
    """DataLoader keyword arguments for worker processes: a profile's number, capped by the cores this
    process may use (a GPU profile's 4 workers on a 2-core machine only oversubscribe it), kept for the
    whole run and started from a fork server: a plain fork copies locks that the trainer's other threads
    may hold, and a worker can wait on one forever (as `compile-voxceleb2`'s did)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    n = min(requested, cores)
    return {"num_workers": n, "persistent_workers": n > 0, "multiprocessing_context": "forkserver" if n else None}


def have_celeba() -> bool:
    return (config.celeba_dir() / "identity.csv").is_file()


def smoke_images(n: int = 8, size: int = 96, seed: int = 0) -> list[Image.Image]:
    """A few face images made from the photographs installed packages ship (no data needed):
    random crops, flips and small rescales of the astronaut and Grace Hopper faces."""
    rng = random.Random(seed)
    faces = list(sample_faces().values())
    out = []
    for i in range(n):
        im = faces[i % len(faces)]
        s = rng.uniform(0.8, 1.0)
        w, h = int(im.width * s), int(im.height * s)
        x, y = rng.randint(0, im.width - w), rng.randint(0, im.height - h)
        crop = im.crop((x, y, x + w, y + h)).resize((size, size), Image.BICUBIC)
        out.append(crop.transpose(Image.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else crop)
    return out


class FaceImages(Dataset):
    """Face images as float tensors (3, H, W) in [0, 1].

    `crop`: side of a random crop (with a random horizontal flip) for training; None keeps the whole
    image (evaluation at native size). `resize`: optional (W, H) applied first. Decoded images are
    kept in memory, since the face sets here are small and decoding JPEG dominates a CPU step."""

    def __init__(self, images: list[Path] | list[Image.Image], crop: int | None = None,
                 resize: tuple[int, int] | None = None, flip: bool = True):
        self.items = list(images)
        self.crop, self.resize, self.flip = crop, resize, flip
        self._cache: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.items)

    def image(self, i: int) -> torch.Tensor:
        if i not in self._cache:
            item = self.items[i]
            im = item if isinstance(item, Image.Image) else load_rgb(item)
            if self.resize:
                im = im.resize(self.resize, Image.BICUBIC)
            self._cache[i] = (to_tensor(im) * 255).round().to(torch.uint8)
        return self._cache[i].float() / 255.0

    def __getitem__(self, i: int) -> torch.Tensor:
        x = self.image(i)
        if self.crop:
            _, h, w = x.shape
            c = min(self.crop, h, w)
            top, left = random.randint(0, h - c), random.randint(0, w - c)
            x = x[:, top:top + c, left:left + c]
            if self.flip and random.random() < 0.5:
                x = x.flip(-1)
        return x


class GroupedBatches(torch.utils.data.Sampler):
    """Shuffled batches of dataset indices that never mix groups (images of different sizes, which
    cannot be stacked): each pass shuffles every group, cuts it into full batches, shuffles those."""

    def __init__(self, groups: list[range | list[int]], batch_size: int):
        self.groups, self.batch_size = [list(g) for g in groups], batch_size

    def __iter__(self):
        batches = []
        for g in self.groups:
            g = random.sample(g, len(g))
            batches += [g[i:i + self.batch_size] for i in range(0, len(g) - self.batch_size + 1, self.batch_size)]
        random.shuffle(batches)
        return iter(batches)

    def __len__(self) -> int:
        return sum(len(g) // self.batch_size for g in self.groups)


def face_split(split: str, profile: str, crop: int | None = None, limit: int | None = None,
               resize: tuple[int, int] | None = None) -> FaceImages:
    """The CelebA split for a profile; the smoke profile (or a machine without the data) gets the
    tiny fixture instead, so every notebook runs anywhere."""
    if profile == "smoke" or not have_celeba():
        images = smoke_images(n=limit or 8, seed={"train": 0, "val": 1, "test": 2}[split])
    else:
        images = celeba_files(split)[:limit]
    return FaceImages(images, crop=crop, resize=resize)


# --- Compiled frame datasets (aeutils compile-voxceleb2 / compile-images) ---------------------------

MANIFEST_FIELDS = ("split", "identity", "video", "utterance", "time_s", "path")
# $AEUTILS_VOXCELEB2_FRAMES points elsewhere (e.g. the small copy scripts/gpu_run.py carries to a GPU)
VOXCELEB2_FRAMES = Path(os.environ.get("AEUTILS_VOXCELEB2_FRAMES") or config.REPO_ROOT / "data" / "voxceleb2-frames")


def read_manifest(root: str | Path, split: str | None = None) -> list[dict[str, str]]:
    """Rows of a compiled dataset's `manifest.csv` (columns MANIFEST_FIELDS, `path` relative to
    `root`), optionally only one split; a trailing half-written line (an interrupted run) is ignored."""
    path = Path(root) / "manifest.csv"
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        lines = f.read().splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines.pop()
    rows = list(csv.DictReader(lines))
    return [r for r in rows if split is None or r["split"] == split]


class VoxCeleb2Frames(FaceImages):
    """The frames of one split of a compiled dataset, as float tensors (3, H, W) in [0, 1].

    `root` is what `aeutils compile-voxceleb2` (or `compile-images`, same manifest) wrote; by default
    data/voxceleb2-frames. Crops, flips and resizes are FaceImages's. `limit` keeps the first rows of
    the manifest; `cache=False` decodes the PNGs on every access (for sets too big for memory).
    `rows[i]` is frame i's manifest row (identity, video, utterance, time_s, path)."""

    def __init__(self, split: str, root: str | Path | None = None, crop: int | None = None,
                 resize: tuple[int, int] | None = None, flip: bool = True,
                 limit: int | None = None, cache: bool = True):
        self.root = Path(root) if root else VOXCELEB2_FRAMES
        self.rows = read_manifest(self.root, split)[:limit]
        if not self.rows:
            raise FileNotFoundError(f"no {split!r} frames in {self.root / 'manifest.csv'}; "
                                    f"compile them with `aeutils compile-voxceleb2`")
        super().__init__([self.root / r["path"] for r in self.rows], crop=crop, resize=resize, flip=flip)
        self.cache = cache

    def image(self, i: int) -> torch.Tensor:
        x = super().image(i)
        if not self.cache:
            self._cache.pop(i, None)
        return x

    @property
    def identities(self) -> list[str]:
        return sorted({r["identity"] for r in self.rows})


def voxceleb2_test_frames(frames_dir: Path | None = None) -> list[Path]:
    """The first frame (time 0) of every test-split clip in a compiled VoxCeleb2 frame folder
    (`aeutils compile-voxceleb2`; default data/voxceleb2-frames)."""
    frames_dir = Path(frames_dir or VOXCELEB2_FRAMES)
    rows = [r for r in read_manifest(frames_dir, "test") if float(r["time_s"]) == 0.0]
    if not rows:
        raise UserError(f"no VoxCeleb2 test frames at {frames_dir} (run `aeutils compile-voxceleb2` first)")
    rows.sort(key=lambda r: (r["identity"], r["video"], r["utterance"]))
    return [frames_dir / r["path"] for r in rows]
