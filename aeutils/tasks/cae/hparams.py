"""The seven experiments' settings, as data, and the model they build. An experiment's hyperparameters
are an `Hparams` per profile: `paper` is the original tables verbatim (epochs converted to steps), `cpu`
the reduced budget that runs on a 2-core CPU, `smoke` seconds for CI. Experiments 3, 5 and 7 are the
second of the "two training stages": they start from the best checkpoint of experiment 2, 4 and 6,
freeze the encoder and train the decoder with the quantizer on.

`--schedule gpu` (paper profile only) keeps the original's model, data, batch and crops but
replaces its learning rates (1e-6..1e-8) and epoch counts (days on a P100) by GPU_SCHEDULE, meant
to reach the original's quality in hours on one modern GPU. Untested until a GPU run confirms it
(scripts/gpu_run.py); its runs live in runs/paper-gpu/ and keep their results JSON there.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from aeutils import config
from aeutils.errors import UserError
from aeutils.models.cae import CompressiveAutoencoder


@dataclass
class Hparams:
    """One experiment at one profile. The first block is the original report's table."""

    number: int
    batch_size: int
    lr: float
    block_size: int  # side of the square training crops (block_width = block_height)
    hidden_state_num_channels: int
    quantize: bool
    num_bits: int
    train_dataset_size: int | None  # None: every image of the sources
    test_dataset_size: int | None  # CelebA test images (the VoxCeleb2 test frames are always all 66)
    num_epochs: int | None  # the original's; steps below are what the loop runs
    num_workers: int
    port: int
    checkpointing_freq: int  # steps
    inference_freq: int  # steps between validation runs and TensorBoard image grids
    # What this rebuild adds.
    steps: int
    minutes: float | None  # wall-clock cap of one training session (cpu profile)
    width: int  # channels of the encoder/decoder trunk (the original: 128)
    start_from: int | None  # two-stage training: experiment whose best weights are the start
    sources: tuple = ("celeba",)  # training images: "celeba" train identities, "voxceleb2" train frames
    val_size: int | None = 100  # CelebA validation images (identities 160-169)
    upsample: str = "subpixel"
    device: str = "auto"
    precision: str = "auto"  # auto: bfloat16 autocast on CUDA, float32 on the CPU; bf16 / fp32: forced
    schedule: str = "original"  # or "gpu" (paper profile): GPU_SCHEDULE's learning rates and steps
    lr_final: float | None = None  # cosine decay of the learning rate to this at the last step; None: constant

    @property
    def name(self) -> str:
        return f"experiment{self.number}" + ("" if self.upsample == "subpixel" else f"-{self.upsample}")


# The original tables (seed-report.md): batch, lr, block, channels, quantize, bits, train size,
# test size, epochs.
PAPER_TABLE = {
    1: (32, 1e-6, 128, 96, False, 0, 5000, 500, 12577),
    2: (40, 1e-6, 224, 48, False, 0, 1000, 500, 16000),
    3: (40, 1e-6, 224, 48, True, 3, 1000, 500, 2500),
    4: (40, 1e-6, 224, 24, False, 0, 1000, 500, 110000),
    5: (40, 1e-8, 224, 24, True, 6, 1000, 500, 12650),
    6: (40, 2e-5, 224, 24, False, 0, 60000, 6000, 960),
    7: (40, 1e-8, 224, 24, True, 6, 60000, 6000, 350),
}
START_FROM = {3: 2, 5: 4, 7: 6}

PURPOSE = {
    1: "Sparsity 1/2 (96 latent channels), no quantization: can the Theis et al. autoencoder "
       "reconstruct faces at all, and does sub-pixel upsampling avoid checkerboard artifacts?",
    2: "Sparsity 1/4 (48 channels), no quantization: can the latent be squeezed further without "
       "serious damage (the original's line: test PSNR above 32 dB)?",
    3: "3-bit quantization of experiment 2's latent, trained in two stages: freeze the encoder, "
       "switch the quantizer on, and train the decoder to undo the quantization noise.",
    4: "Sparsity 1/8 (24 channels), no quantization: the starting point for a compression ratio "
       "comparable with JPEG and JPEG 2000.",
    5: "6-bit quantization of experiment 4 (second training stage, decoder only).",
    6: "The model of experiment 4 trained on far more data (VoxCeleb2 frames beside CelebA) with a "
       "higher learning rate.",
    7: "6-bit quantization of experiment 6 (second training stage): the final model.",
}

# What the original report published for each experiment (its test frames, best epoch picked on the
# test curve, PSNR on unclamped float outputs, side information not counted: see design notes 5).
ORIGINAL = {
    1: {"psnr": 43.0, "text": "about 43 dB (\"upper bound\"), 4 days on a P100"},
    2: {"psnr": 32.0, "text": "32 dB after 31 hours, still rising"},
    3: {"psnr": None, "text": "+0.2 dB over the quantized start (no absolute number published)"},
    4: {"psnr": 40.1, "text": "40.1 dB after 14 days on a P100"},
    5: {"psnr": 39.9, "text": "39.7 dB with quantization, 39.9 dB after decoder training"},
    6: {"psnr": 44.02, "text": "44.02 dB after 5 days"},
    7: {"psnr": 43.4, "text": "43.08 dB quantized, 43.4 dB after 12 h of decoder training; "
                              "\"compression ratio 10.66\" (2.25 bpp)"},
}

# The cpu profile: narrow model (32-channel trunk), 64x64 crops, batch 8, Adam at a CPU-sized learning
# rate (the original's 1e-6..1e-8 would not move on a CPU) decayed along a cosine to 1/100 of it, one
# thread, about an hour per experiment instead of days: a first stage runs 40,000 steps (about 0.1 s
# each on one core of the 2-core machine, shared with other jobs), a decoder-only second stage
# 16,000. A session may stop earlier (`--minutes`) and the next one resumes the same schedule.
CPU_STEPS = {1: 40_000, 2: 40_000, 3: 16_000, 4: 40_000, 5: 16_000, 6: 40_000, 7: 16_000}
CPU_LR = {1: 5e-4, 2: 5e-4, 3: 1e-4, 4: 5e-4, 5: 1e-4, 6: 1e-3, 7: 1e-4}
CPU_LR_FINAL_SHARE = 0.01
CPU_TRAIN_SIZE = {1: None, 2: 1000, 3: 1000, 4: 1000, 5: 1000, 6: None, 7: None}


# The gpu schedule of the paper profile: (Adam lr, steps) per experiment, batch 40 of 224x224 crops
# at full width as in the original. Measured cost: 7.4 GMAC per 224x224 forward pass, so one step
# of batch 40 is about 1.8 TFLOP with the backward pass; at a guessed 50-100 TFLOP/s effective in
# bfloat16 that is 30-55 steps/s: the 200k steps of 6 would take 1-2 hours, those of 7 minutes.
# The learning rates follow the cpu profile's finding (1e-3 for 6 and 1e-4 for 7 at batch 8 moved
# in minutes where 1e-6 did not), halved for the full-width model. UNTESTED on a GPU so far.
GPU_SCHEDULE = {1: (5e-4, 100_000), 2: (5e-4, 100_000), 3: (5e-5, 20_000), 4: (5e-4, 200_000),
                5: (5e-5, 20_000), 6: (5e-4, 200_000), 7: (5e-5, 20_000)}
GPU_VAL_EVERY, GPU_CKPT_EVERY, GPU_VAL_SIZE = 2000, 1000, 100
SCHEDULES = ("original", "gpu")


def hparams(number: int, profile: str | None = None, upsample: str = "subpixel",
            schedule: str = "original") -> Hparams:
    """The hyperparameters of experiment `number` (1-7) at a profile (and, for paper, a schedule)."""
    if number not in PAPER_TABLE:
        raise UserError(f"unknown experiment {number}; choose 1-7")
    profile = config.get_profile(profile)
    if schedule not in SCHEDULES:
        raise UserError(f"unknown schedule {schedule!r}; choose {' or '.join(SCHEDULES)}")
    if schedule != "original" and profile != "paper":
        raise UserError(f"--schedule {schedule} is a variant of the paper profile, not of {profile}")
    bs, lr, block, ch, quant, bits, n_train, n_test, epochs = PAPER_TABLE[number]
    steps_per_epoch = math.ceil(n_train / bs)
    paper = Hparams(number, bs, lr, block, ch, quant, bits, n_train, n_test, epochs, num_workers=4,
                    port=6000 + 100 * number, checkpointing_freq=10 * steps_per_epoch,
                    inference_freq=200 * steps_per_epoch, steps=epochs * steps_per_epoch, minutes=None,
                    width=128, start_from=START_FROM.get(number), sources=("voxceleb2",), val_size=None,
                    upsample=upsample)
    if profile == "paper" and schedule == "gpu":
        lr, steps = GPU_SCHEDULE[number]
        return replace(paper, lr=lr, steps=steps, inference_freq=GPU_VAL_EVERY, checkpointing_freq=GPU_CKPT_EVERY,
                       val_size=GPU_VAL_SIZE, schedule="gpu")
    if profile == "paper":
        return paper
    if profile == "cpu":
        sources = ("celeba", "voxceleb2") if number in (6, 7) else ("celeba",)
        return replace(paper, batch_size=8, lr=CPU_LR[number], lr_final=CPU_LR[number] * CPU_LR_FINAL_SHARE,
                       block_size=64, width=32, train_dataset_size=CPU_TRAIN_SIZE[number], test_dataset_size=150,
                       num_workers=0, checkpointing_freq=200, inference_freq=1000, minutes=None,
                       steps=CPU_STEPS[number], sources=sources, val_size=50)
    return replace(paper, batch_size=4, lr=1e-3, block_size=32, width=16, train_dataset_size=8,
                   test_dataset_size=2, num_workers=0, checkpointing_freq=2, inference_freq=2, steps=3,
                   minutes=None, sources=("fixtures",), val_size=2)


def build_model(hp: Hparams, quantize: bool | None = None) -> CompressiveAutoencoder:
    return CompressiveAutoencoder(hp.hidden_state_num_channels, width=hp.width, num_bits=hp.num_bits,
                                  quantize=hp.quantize if quantize is None else quantize,
                                  upsample=hp.upsample)
