"""The repair task's settings: the study's architectures and training per profile (notebook 09), the
wide models' (`--strengths wide`), and per damage what a wide model is told and keeps."""
from __future__ import annotations

from dataclasses import dataclass

from aeutils.datasets import damage

# Architectures of the study, per profile. `paper` is the original's scale (FC-DenseNet-103);
# `cpu` keeps each model trainable in minutes on one core; `smoke` only checks the wiring.
MODELS = {
    "shallow": {"smoke": dict(name="plain", width=8, depth=1), "cpu": dict(name="plain", width=32, depth=1),
                "paper": dict(name="plain", width=64, depth=1)},
    "deep": {"smoke": dict(name="plain", width=8, depth=3), "cpu": dict(name="plain", width=16, depth=4),
             "paper": dict(name="plain", width=64, depth=5)},
    "unet": {"smoke": dict(name="unet", widths=(8, 16)), "cpu": dict(name="unet", widths=(16, 32, 64, 128)),
             "paper": dict(name="unet", widths=(64, 128, 256, 512, 512))},
    "fcdensenet": {"smoke": dict(name="fcdensenet", first=8, down_blocks=(2,), bottleneck=2, growth=4, dropout=0.0),
                   "cpu": dict(name="fcdensenet", first=16, down_blocks=(2, 3, 4), bottleneck=4, growth=8,
                               dropout=0.0, down="avg", up="pixelshuffle"),
                   "paper": dict(name="fcdensenet", first=48, down_blocks=(4, 5, 7, 10, 12), bottleneck=15,
                                 growth=16, dropout=0.2, down="max", up="transposed")},
}


@dataclass(frozen=True)
class Comparison:
    """The architecture comparison: each model trained on each of `kinds` alone. On the shared 2-core CPU
    this is a short run on small crops (enough to show what each architecture can do, not to rank
    them finally); the paper profile trains them as long as the blind model."""

    kinds: tuple[str, ...]
    steps: int
    crop: int
    images: int  # test images per damage


@dataclass(frozen=True)
class StudyConfig:
    """A study model's training (the notebook's table says the same), the notebook's comparison and
    the number of test images it measures the shipped models on."""

    crop: int
    batch: int
    lr: float
    weight_decay: float
    steps: int
    val_images: int
    val_every: int
    image_every: int
    mask_keep: float  # the probability a sample with holes shows its mask
    compare: Comparison
    test_images: int


def study_hparams(profile: str) -> StudyConfig:
    """The study's settings of `profile`."""
    return {
        "smoke": StudyConfig(crop=32, batch=4, lr=1e-3, weight_decay=0.0, steps=20, val_images=7, val_every=10,
                             image_every=20, mask_keep=0.8, test_images=2,
                             compare=Comparison(kinds=("blocks", "noise"), steps=4, crop=32, images=1)),
        "cpu": StudyConfig(crop=64, batch=8, lr=1e-3, weight_decay=0.0, steps=20000, val_images=35, val_every=200,
                           image_every=400, mask_keep=0.8, test_images=60,
                           compare=Comparison(kinds=("blocks", "noise"), steps=300, crop=32, images=30)),
        "paper": StudyConfig(crop=128, batch=32, lr=1e-4, weight_decay=1e-4, steps=100000, val_images=70,
                             val_every=1000, image_every=2000, mask_keep=0.8, test_images=300,
                             compare=Comparison(kinds=tuple(damage.KINDS), steps=50000, crop=128, images=300)),
    }[profile]


@dataclass(frozen=True)
class WideConfig:
    """A model that must hold up on any photo at any strength (`--strengths wide`): its architecture
    (no batch norm) and training."""

    arch: dict
    crop: int
    batch: int
    lr: float
    steps: int
    val_images: int  # per validation source
    hole_val_images: int  # per validation source for the hole models (see below)
    val_every: int
    image_every: int
    scale: tuple[float, float] = (0.5, 1.0)  # `photos.PhotoCrops`' scale: above 1 a crop is enlarged, soft


def wide_hparams(profile: str) -> WideConfig:
    """The wide models' settings of `profile`. The hole models are chosen on more faces: on 8 per source
    the worst cell of one blocks run swung between -0.19 and -1.33 dB from one checkpoint to the next,
    and checkpoints chosen there lost to the shipped file on 24 (2026-12-04)."""
    return {
        "smoke": WideConfig(arch=dict(name="unet", widths=(8, 16), norm=False), crop=32, batch=4, lr=1e-3, steps=20,
                            val_images=2, hole_val_images=2, val_every=10, image_every=20),
        "cpu": WideConfig(arch=dict(name="unet", widths=(16, 32, 64, 128), norm=False), crop=96, batch=8, lr=5e-4,
                          steps=40000, val_images=8, hole_val_images=24, val_every=500, image_every=2000),
        "paper": WideConfig(arch=dict(name="unet", widths=(64, 128, 256, 512), norm=False), crop=128, batch=32,
                            lr=2e-4, steps=200000, val_images=40, hole_val_images=40, val_every=2000,
                            image_every=5000),
    }[profile]


# JPEG's correction is small: at the profile's lr, Adam's first steps silence the U-Net's correction for
# good (measured on cpu: zero gain after 20 steps at 5e-4, from scratch or from repair-noise); at a fifth
# of it, starting from repair-noise, it learns.
WIDE_LR_SCALE = {"jpeg": 0.2}
# Hole models also see crops enlarged up to 2x, as soft as many video frames and small photos shown big:
# trained on sharp crops only (0.5-1x), the squares model drew texture into the holes of soft faces and
# fell 0.3 dB behind its own fill on validation faces blurred by 1.5 px; continued 40 minutes on 0.5-2x
# it is ahead there everywhere (+0.30 dB at worst) and on the plain validation faces too (2026-12-03).
WIDE_SCALE = dict.fromkeys(damage.HOLE_KINDS, (0.5, 2.0))
# A hole model for JPEG files (`--jpeg`) trains on damaged crops saved as JPEGs of a quality drawn from
# JPEG_TRAIN and is chosen on validation faces saved at JPEG_VAL. One model for both kinds of file could
# not serve both: fine-tuned on crops half saved as JPEGs, the grid and blocks models gained on JPEG
# files and fell behind the biharmonic fill on lossless ones (2026-12-05).
JPEG_TRAIN, JPEG_VAL = (30, 95), 75
# The damages with a model for JPEG files (`--jpeg`): the holes, and blur, whose lossless model sharpens a
# JPEG's blocks with the blur (`infer.blur_repairable`).
JPEG_KINDS = (*damage.HOLE_KINDS, "blur")
# Damages whose wide model is told the strength in its fourth channel (`damage.told_level`), as FBCNN
# is told a JPEG's quality: a JPEG file's own tables give it (`images.jpeg_quality`), a blur's sigma
# comes from the user (`--strength`). Not told, one JPEG model smoothed quality-95 photos by up to 9 dB
# to gain 2 dB at quality 10, and blind blur models either stayed the identity or sharpened soft
# photos 11-17 dB worse than their input (measured on validation, 2026-12-02). Noise is told the
# estimate the command reads (`repair.estimate_noise`), as FFDNet is told a noise level, so that light
# noise on a textured face need not be smoothed like heavy noise; the shipped model reads it only
# weakly so far (docs/repair.md, "The told noise model").
TOLD = {"jpeg", "blur", "noise"}
# Damages that keep each channel's mean (JPEG every block's DC, a mosaic every block's mean, a Gaussian
# blur every channel's): their wide model's correction is made zero-mean (`keep_mean`), so it cannot add
# a colour cast (measured without it: the told JPEG model added up to 3.9 levels at quality 5, the
# pixelate model up to 1.9).
KEEP_MEAN = {"jpeg", "pixelate", "blur"}
INPUTS = "RGB in [0, 1] + hole mask (1 = missing; zeros if none/unknown)"
INPUTS_TOLD = {"jpeg": "RGB in [0, 1] + the JPEG's (100 - quality) / 100 as a constant map (0: never saved as a JPEG)",
               "blur": "RGB in [0, 1] + the blur's Gaussian sigma / 3 as a constant map (0: sharp)",
               "noise": "RGB in [0, 1] + the noise's estimated sigma / (75 / 255) as a constant map (0: none)"}


def wide_arch(kind: str, profile: str) -> dict:
    """The architecture of `kind`'s wide model: the profile's, its correction zero-mean for KEEP_MEAN;
    for holes the study's U-Net (batch norm sees only photos there, the holes being prefilled), so the
    wide model continues the study's specialist (`--init repair-KIND`)."""
    if kind in damage.HOLE_KINDS:
        return MODELS["unet"][profile]
    arch = wide_hparams(profile).arch
    return dict(arch, keep_mean=True) if kind in KEEP_MEAN else arch


def told(kind: str | None, strengths: str | None) -> bool:
    """Whether the model of `kind` trained at `strengths` reads the damage's strength (TOLD)."""
    return strengths == "wide" and kind in TOLD


# The wide squares, grid, JPEG, noise, blur and mosaic models run as a flip self-ensemble (`mirrored`). On validation
# faces (24 per source and 24 softened, 2026-12-06) the mean of a model's fill and its fill of the mirrored photo
# (mirrored back) was ahead of its fill alone in every cell for squares (+0.06 dB on average over the cells; the model
# for JPEG files at quality 75: +0.07) and in all but one for grid lines (+0.19; at quality 75 +0.02, one cell -0.01);
# for blocks it gained +0.03 / +0.04 on average but lost up to 0.04 dB in a cell of each: blocks run once. On 24
# validation faces per source, every strength, the JPEG model (told the quality) gained +0.02 to +0.11 dB in every
# cell of quality 5-50, the noise model (told its estimate) +0.14 to +0.25 in every noisy cell (+0.23 on average), the
# blur model (told the sigma) +0.06 to +0.57 in every blurred cell (+0.20). The default reads a photo's noise and
# mosaic on the JPEG model's output run once (`AutoRepair`); its noise ramps were chosen again with both models
# mirrored (`scripts/noise_gate.py`). The mosaic model too, its input and the mirrored one shifted onto the mosaic's
# grid (`infer.forward`): on the same validation faces (every mosaic found from the photo) +0.03 dB or more in every
# mosaic cell, +0.23 on average over all cells; mirrored without the shift, one cell lost 0.03 dB (lfw-val, 16 px
# blocks).
MIRRORED = ("squares", "grid", "jpeg", "noise", "blur", "pixelate")


def mirrored(kind: str | None, strengths: str | None) -> bool:
    """Whether the model of `kind` trained at `strengths` is run as a flip self-ensemble (`infer.forward`)."""
    return strengths == "wide" and kind in MIRRORED
