"""The settings of super-resolution: each phase's hyperparameters per profile (`SRConfig`,
`hparams`, `photo_hparams`), and the fixed notes on how inputs are made and where the models ran,
which the logs, results and model cards repeat."""
from __future__ import annotations

from dataclasses import dataclass, replace

NAME = "superres"  # what the shipped files record as their task (TASK in __init__ declares it)
PHASES = ("srresnet", "srgan", "evaluate")
# The shipped variants and the phase each trains: the two phases on aligned CelebA crops with clean
# inputs, and `photo`, the SRResNet fine-tuned on photo-like crops whose small inputs are mostly JPEGs
# (`--data photos`), which `aeutils upscale` runs on JPEG files.
VARIANTS = {"srresnet": "srresnet", "srgan": "srgan", "photo": "srresnet"}
DEVICE_NOTE = "2-core CPU (no GPU), one thread"
LR_NOTE = "bicubic downsampling with antialiasing (torch interpolate, antialias=True), rounded to 8 bits"
DATA = ("celeba", "photos")  # training data: aligned CelebA crops, clean inputs | PhotoPairs
# --data photos: the HR crop's rescale (photos.PhotoCrops's `scale`). (1, 1): the HR target stays at the
# source's own resolution, as the whole faces the model is measured on are; in 400-step pilots from the
# shipped x4 SRResNet (2026-12-03) PhotoCrops' default 0.5-1 did worse on validation, on both PNG (-0.3 dB)
# and JPEG inputs (-0.1 dB), its sharper downscaled targets costing most on the VoxCeleb2 frames.
PHOTO_SCALE = (1.0, 1.0)
PHOTO_JPEG = 0.7  # --data photos: the probability that a small input is saved as a JPEG ...
PHOTO_QUALITY = (30, 95)  # ... of a quality drawn uniformly from this range (inclusive)
PHOTO_LR_NOTE = (f"{LR_NOTE}, then with probability {PHOTO_JPEG} saved and decoded as a JPEG (Pillow, 4:2:0) "
                 f"of quality {PHOTO_QUALITY[0]}-{PHOTO_QUALITY[1]}, else kept lossless")


@dataclass
class SRConfig:
    """Hyperparameters of one training phase (the notebook's table, per profile)."""

    scale: int = 4
    phase: str = "srresnet"
    crop: int = 64  # side of the high-resolution training crop
    batch: int = 16
    channels: int = 64
    blocks: int = 8
    d_channels: int = 32
    lr: float = 3e-4
    d_lr: float = 1e-4
    steps: int = 431
    minutes: float | None = None
    val_images: int = 32
    val_every: int = 100
    image_every: int = 100
    pixel_weight: float = 1.0  # L1; the SRGAN phase keeps a little of it to hold colours
    perceptual_weight: float = 0.0
    adversarial_weight: float = 0.0
    perceptual: str = "auto"  # feature source: auto | vgg16 | face | none
    data: str = "celeba"  # one of DATA; with "photos", val_images counts per validation source


def hparams(profile: str, scale: int, phase: str) -> SRConfig:
    """The settings of `profile` for one scale and phase. cpu: the step counts the shipped models
    reached in their wall-clock budgets on a shared 2-core CPU (x4 SRResNet 20 min, x4 SRGAN 30 min,
    x8 SRResNet 7 min starting from x4, x8 SRGAN 5 min), 64x64 crops;
    paper: Ledig et al.'s 96x96 crops, 16 blocks, 10^6 + 2x10^5 steps at 1e-4."""
    gan = dict(phase="srgan", lr=1e-4, pixel_weight=0.1, perceptual_weight=1.0, adversarial_weight=5e-3)
    base = {
        "smoke": SRConfig(crop=32, batch=4, channels=16, blocks=2, d_channels=8, steps=3, minutes=None,
                          val_images=2, val_every=3, image_every=3),
        "cpu": SRConfig(),
        "paper": SRConfig(crop=96, blocks=16, lr=1e-4, steps=1_000_000, minutes=None, val_images=100,
                          val_every=5000, image_every=5000),
    }[profile]
    cfg = replace(base, scale=scale)
    if profile == "cpu" and scale == 8:
        cfg = replace(cfg, steps=300)
    if phase == "srgan":
        cfg = replace(cfg, **gan)
        cfg = replace(cfg, **{"smoke": dict(steps=2, val_every=2, image_every=2),
                              "cpu": dict(steps=278 if scale == 4 else 56, val_every=100 if scale == 4 else 50,
                                          image_every=100 if scale == 4 else 50),
                              "paper": dict(steps=200_000, adversarial_weight=1e-3)}[profile])
    return cfg


def photo_hparams(cfg: SRConfig, profile: str) -> SRConfig:
    """`cfg` for `--data photos`, a fine-tune of a trained SRResNet: a third of the learning rate, a
    step budget that --minutes ends first on a CPU, and each validation a sweep of
    `val_images` whole faces per source, every small input as PNG and as JPEG (`photo_scores`)."""
    if profile == "smoke":
        return replace(cfg, data="photos", val_images=1)
    return replace(cfg, data="photos", lr=cfg.lr / 3, steps=max(cfg.steps, 20_000), val_images=8,
                   val_every=100, image_every=400)
