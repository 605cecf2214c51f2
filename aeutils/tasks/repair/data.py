"""The repair task's data: training pairs made on the fly (study and wide) and the fixed, seeded
whole-image cases that validation and the test tables measure on. A study pair damages the whole face
first (so holes, grid periods and mosaic blocks have the scale they have at test time), then takes a
random crop of damaged and clean together."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from aeutils.datasets import damage, photos
from aeutils.datasets.sources import FaceImages, face_split
from aeutils.images import to_uint8
from aeutils.tasks.repair.hparams import told
from aeutils.tasks.repair.infer import noise_level, prefill


def prefilled_input(im: torch.Tensor, mask: torch.Tensor, jpeg: bool = False) -> torch.Tensor:
    """What a model reads for a damaged image (3, H, W) with known holes (1, H, W): the holes filled
    by `prefill` as the command fills them (`jpeg`: the image is a JPEG file's), and the mask as the
    fourth channel."""
    filled = prefill(to_uint8(im), mask[0].numpy() > 0.5, jpeg)
    return damage.model_input(torch.from_numpy(filled).permute(2, 0, 1).float() / 255, mask)


class RepairPairs(Dataset):
    """(clean, model input) training pairs: a face flipped at random, damaged whole by a kind drawn
    from `kinds`, then cropped to `crop` (clean (3, c, c), input (4, c, c)). The mask channel is
    shown with probability `mask_keep` (so the model also learns to find holes on its own)."""

    def __init__(self, faces: FaceImages, kinds: list[str], crop: int, mask_keep: float = 0.8):
        self.faces, self.kinds, self.crop, self.mask_keep = faces, kinds, crop, mask_keep

    def __len__(self) -> int:
        return len(self.faces)

    def __getitem__(self, i):
        rng = np.random.default_rng(int(torch.randint(2**62, ())))
        x = self.faces.image(i)
        if rng.random() < 0.5:
            x = x.flip(-1)
        d = damage.apply(str(rng.choice(self.kinds)), x, rng=rng)
        _, h, w = x.shape
        c = min(self.crop, h, w)
        top, left = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
        window = (slice(None), slice(top, top + c), slice(left, left + c))
        im, clean = d.image[window], x[window]
        if d.mask is not None and rng.random() < self.mask_keep:
            return clean, prefilled_input(im, d.mask[window])
        return clean, damage.model_input(im, None)


class WidePairs(Dataset):
    """(clean, model input) pairs for a model that must hold up on any photo: a photo-like crop
    (`photos.PhotoCrops`: rescaled, anywhere, jittered, re-saved as JPEG) damaged by `kind` at a
    strength drawn over everything a user meets, none included (`damage.draw_wide`). Holes are known
    (a hole model always has its mask: given, or found) and prefilled, as the command does. `saved_as`:
    (lowest, highest) quality: the damaged crop saved as a JPEG of a quality drawn between them, for
    the models of JPEG files (whose holes the command fills from Telea's fill: `prefill`)."""

    def __init__(self, crops: photos.PhotoCrops, kind: str, saved_as: tuple[int, int] | None = None):
        self.crops, self.kind, self.saved_as = crops, kind, saved_as

    def __len__(self) -> int:
        return len(self.crops)

    def __getitem__(self, i):
        clean = self.crops[i]
        rng = np.random.default_rng(int(torch.randint(2**62, ())))
        d = damage.draw_wide(self.kind, clean, rng)
        im = d.image
        if self.saved_as:
            im = damage.jpeg_roundtrip(im, int(rng.integers(self.saved_as[0], self.saved_as[1] + 1)))
        if d.mask is not None:
            return clean, prefilled_input(im, d.mask, jpeg=bool(self.saved_as))
        strength = None
        if told(self.kind, "wide"):  # noise: what the command will read in the file, not the sigma drawn
            level = noise_level(to_uint8(im), d.params.get("quality")) if self.kind == "noise" else \
                damage.told_level(self.kind, d.params)
            strength = torch.full_like(clean[:1], level)
        return clean, damage.model_input(im, strength)


def fixed_cases(split: str, profile: str, kinds: list[str], n: int, per_kind: bool = True, seed: int = 0):
    """A fixed, seeded evaluation set of whole images: (clean (3, H, W), Damaged) pairs.

    `per_kind`: every image under every kind (test tables); else image j gets kind j mod len(kinds)
    (a cheap validation mix). The damage of image j under kind k always uses seed (seed, k, j)."""
    faces = face_split(split, profile, limit=n)
    cases = []
    for j in range(len(faces)):
        x = faces.image(j)
        chosen = kinds if per_kind else [kinds[j % len(kinds)]]
        for kind in chosen:
            rng = np.random.default_rng([seed, damage_index(kind), j])
            cases.append((x, damage.apply(kind, x, rng=rng)))
    return cases


def damage_index(kind: str) -> int:
    return list(damage.KINDS).index(kind)
