"""The settings of each profile: `hparams` for a `train` run on aligned faces (notebook 10's study,
its table), `photo_hparams` for a `train_photos` fine-tune. Shipped files record their profile, and their
model cards look the settings up here."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StudyConfig:
    """A `train` run's settings. Faces are CelebA's 178x218 resized to `size` (64x78 on cpu); training
    takes random `crop`-sided crops with flips, evaluation the whole image. The limits count faces
    (None: all); `prior_limit` the training faces the mean ab and the bin counts are taken from."""

    size: tuple[int, int]
    crop: int
    batch: int
    steps: int
    lr: float
    val_every: int
    image_every: int
    val_limit: int | None
    test_limit: int | None
    prior_limit: int | None
    train_limit: int | None
    enc_channels: tuple[int, ...]
    widths: tuple[int, ...]


def hparams(profile: str) -> StudyConfig:
    """The settings of `profile` for a `train` run (the notebook's table)."""
    return {
        "smoke": StudyConfig(size=(32, 32), crop=32, batch=4, steps=3, lr=1e-3, val_every=3, image_every=3,
                             val_limit=4, test_limit=4, prior_limit=8, train_limit=8, enc_channels=(8, 16, 24, 32),
                             widths=(24, 16, 16)),
        "cpu": StudyConfig(size=(64, 78), crop=64, batch=16, steps=250, lr=1e-3, val_every=50, image_every=200,
                           val_limit=100, test_limit=None, prior_limit=1000, train_limit=None,
                           enc_channels=(16, 32, 64, 128), widths=(64, 32, 24)),
        "paper": StudyConfig(size=(128, 156), crop=128, batch=64, steps=20000, lr=3e-4, val_every=500,
                             image_every=1000, val_limit=None, test_limit=None, prior_limit=None, train_limit=None,
                             enc_channels=(32, 64, 128, 256), widths=(128, 64, 48)),
    }[profile]


@dataclass(frozen=True)
class PhotoConfig:
    """A `train_photos` fine-tune's settings: the shipped model's architecture, a lower rate decayed to
    a tenth, and the selection on three validation sources (`val_images` each) every `val_every` steps."""

    crop: int
    batch: int
    steps: int
    lr: float
    val_every: int
    val_images: int


def photo_hparams(profile: str) -> PhotoConfig:
    """The settings of `profile` for a `train_photos` fine-tune on photo-like crops. Validation takes
    80 images per source on cpu: the shipped model's lfw-val ratio read 0.825 on 24 and 0.807 on 80
    (2026-12-04), a spread as large as the gains between checkpoints."""
    return {
        "smoke": PhotoConfig(crop=32, batch=4, steps=3, lr=1e-4, val_every=3, val_images=2),
        "cpu": PhotoConfig(crop=64, batch=16, steps=3000, lr=1e-4, val_every=200, val_images=80),
        "paper": PhotoConfig(crop=128, batch=64, steps=10000, lr=1e-4, val_every=500, val_images=100),
    }[profile]


# The crop window is 1/0.6 to 1/0.25 times the crop: whole faces at about the scale `colorize_image`
# shows the model (a photo's shorter side shrunk to WORK_SIDE), tighter and looser framings around it.
PHOTO_SCALE = (0.25, 0.6)
