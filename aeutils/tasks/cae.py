"""The seven compression experiments of the original report (seed-report.md), as data and one
training function shared by notebooks 01-07 and `aeutils train cae --experiment N`.

An experiment's hyperparameters are an `Hparams` per profile: `paper` is the original tables
verbatim (epochs converted to steps), `cpu` the reduced budget that runs on a 2-core CPU, `smoke`
seconds for CI. Experiments 3, 5 and 7 are the second of the "two training stages": they start
from the best checkpoint of experiment 2, 4 and 6, freeze the encoder and train the decoder with
the quantizer on.

    hparams(n, profile) -> build_model -> fit (aeutils.train) -> best.pt chosen on CelebA validation
                        -> evaluate_test (once, final model) -> results JSON + figure

Multi-GPU: run under `torchrun --nproc_per_node K -m aeutils train cae ...`; the processes train one
DistributedDataParallel model (NCCL on GPUs, gloo on CPU), rank 0 validates, checkpoints and
writes the results. On CUDA the forward pass runs in bfloat16 autocast (mixed precision);
`--precision bf16` asks for the same on the CPU, so that path can be checked without a GPU.

`--schedule gpu` (paper profile only) keeps the original's model, data, batch and crops but
replaces its learning rates (1e-6..1e-8) and epoch counts (days on a P100) by GPU_SCHEDULE, meant
to reach the original's quality in hours on one modern GPU. Untested until a GPU run confirms it
(scripts/gpu_run.py); its runs live in runs/paper-gpu/ and keep their results JSON there.
"""
from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from aeutils import config, metrics, zoo
from aeutils.benchmark.classical import classical_codecs
from aeutils.datasets import sources
from aeutils.datasets.sources import voxceleb2_test_frames
from aeutils.errors import UserError
from aeutils.images import load_rgb, to_image, to_tensor, to_uint8
from aeutils.models.cae import CompressiveAutoencoder
from aeutils.options import OneLineParser, add_training_options, positive_float
from aeutils.task import Task
from aeutils.train import LoopConfig, fit, load_best, make_run_dir

RESULTS_DIR = config.RESOURCES_DIR / "experiments"
SIDE_INFO_BITS = 16  # each per-channel min and max is stored as float16


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


def run_dir_for(hp: Hparams, profile: str) -> Path:
    """runs/<profile>/<experiment name> (runs/paper-gpu/... for the gpu schedule): profiles and
    schedules never share checkpoints."""
    return config.RUNS_DIR / (profile if hp.schedule == "original" else f"{profile}-{hp.schedule}") / hp.name


def results_path(hp: Hparams, profile: str, run_dir: Path) -> Path:
    """resources/experiments/<name>.json for cpu/paper; the smoke profile and the untested gpu
    schedule write only under runs/ (a gpu result is committed by hand once checked)."""
    folder = run_dir if hp.schedule != "original" else config.results_dir("experiments", profile, smoke=run_dir)
    return Path(folder) / f"{hp.name}.json"


def build_model(hp: Hparams, quantize: bool | None = None) -> CompressiveAutoencoder:
    return CompressiveAutoencoder(hp.hidden_state_num_channels, width=hp.width, num_bits=hp.num_bits,
                                  quantize=hp.quantize if quantize is None else quantize,
                                  upsample=hp.upsample)


# ------------------------------------------------------------------------------------------ data
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


# ----------------------------------------------------------------------------------- measuring
@torch.no_grad()
def reconstruct(model: CompressiveAutoencoder, images: list[torch.Tensor], device: str | torch.device = "cpu",
                batch: int = 8) -> list[torch.Tensor]:
    """Reconstructions (3, H, W) on the CPU of a list of images (same-size runs are batched)."""
    model.eval()
    out = []
    for i in range(0, len(images), batch):
        chunk = images[i:i + batch]
        if len({tuple(x.shape) for x in chunk}) > 1:
            out += [model(x[None].to(device))["x_hat"][0].float().cpu() for x in chunk]
        else:
            out += list(model(torch.stack(chunk).to(device))["x_hat"].float().cpu())
    return out


def quality(originals: list[torch.Tensor], recons: list[torch.Tensor], with_ssim: bool = True) -> dict:
    """Mean PSNR (and SSIM) over images, each on clamped, rounded 8-bit RGB."""
    p, s = [], []
    for x, y in zip(originals, recons):
        a, b = to_uint8(x), to_uint8(y)
        p.append(metrics.psnr(a, b))
        if with_ssim:
            s.append(metrics.ssim(a, b))
    out = {"psnr": float(np.mean(p))}
    if with_ssim:
        out["ssim"] = float(np.mean(s))
    return out


def latent_bpp(hp: Hparams, height: int, width: int, header_bits: int = 0) -> tuple[float, str]:
    """Bits per pixel of the latent with its side information, and what was counted.

    Quantized: C*h*w*num_bits code bits + 2*C float16 min/max (+ header). Unquantized models
    have no codes: their latent is counted as float16 values, what storing it would take."""
    c, pixels = hp.hidden_state_num_channels, height * width
    h, w = height // 8, width // 8
    if hp.quantize:
        return (c * h * w * hp.num_bits + 2 * c * SIDE_INFO_BITS + header_bits) / pixels, \
            f"{hp.num_bits}-bit codes + per-channel float16 min/max (header not counted)"
    return c * h * w * 16 / pixels, "unquantized latent stored as float16"


def jpeg2000_at(images: list[torch.Tensor], bpp: float) -> dict:
    """JPEG 2000 (aeutils.benchmark.classical: OpenJPEG, mct=1) at a target rate on the same images:
    mean PSNR, SSIM and the measured bpp of the whole codestreams."""
    codec = next(c for c in classical_codecs() if c.name == "jpeg2000")
    p, s, rates = [], [], []
    for x in images:
        im = to_image(x)
        blob = codec.encode(im, bpp)
        rec = np.array(codec.decode(blob))
        a = to_uint8(x)
        p.append(metrics.psnr(a, rec))
        s.append(metrics.ssim(a, rec))
        rates.append(metrics.bpp(len(blob), im.width, im.height))
    return {"target_bpp": bpp, "bpp": float(np.mean(rates)), "psnr": float(np.mean(p)), "ssim": float(np.mean(s))}


def evaluate_test(model: CompressiveAutoencoder, hp: Hparams, profile: str, device="cpu",
                  jpeg2000: bool = True) -> dict:
    """The final model on each test set, once: PSNR, SSIM, bpp (side information counted),
    compression ratio, and (unless `jpeg2000` is False) JPEG 2000 at the same bpp on the same images."""
    out = {}
    for name, images in test_sets(hp, profile).items():
        recons = reconstruct(model, images, device)
        h, w = images[0].shape[-2:]
        bpp, counted = latent_bpp(hp, h, w)
        out[name] = {"images": len(images), "size": f"{w}x{h}", **quality(images, recons),
                     "bpp": bpp, "bpp_counts": counted, "ratio": metrics.compression_ratio(bpp)}
        if jpeg2000:
            out[name]["jpeg2000"] = jpeg2000_at(images, min(bpp, 24.0))
    return out


def image_grids(model: CompressiveAutoencoder, images: list[torch.Tensor], device) -> dict[str, torch.Tensor]:
    """TensorBoard grids: originals above reconstructions, and error maps (|x - x_hat| x 5)."""
    x = torch.stack(images)
    x_hat = torch.stack(reconstruct(model, images, device)).clamp(0, 1)
    return {"val/reconstructions": torch.cat([x, x_hat]), "val/error_maps": ((x - x_hat).abs() * 5).clamp(0, 1)}


# ------------------------------------------------------------------------------------ training
def pick_device(name: str = "auto") -> torch.device:
    """`auto`: this process's GPU under torchrun (LOCAL_RANK), else the first GPU, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError("--device cuda asked for, but no CUDA GPU is available")
        if name == "cuda":
            name = f"cuda:{os.environ.get('LOCAL_RANK', 0)}"
    return torch.device(name)


def _distributed(device: torch.device) -> tuple[int, int]:
    """Join the torchrun process group when there is one: (rank, world size)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), world


def _start_second_stage(model: CompressiveAutoencoder, hp: Hparams, profile: str, progress: bool) -> None:
    """Load the earlier experiment's best weights (training it first if it has not been run), then
    freeze the encoder and switch the quantizer on."""
    first = hparams(hp.start_from, profile, hp.upsample, hp.schedule)
    first_dir = run_dir_for(first, profile)
    if not (first_dir / "best.pt").exists():
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise UserError(f"experiment {hp.number} starts from experiment {hp.start_from}: train that first")
        print(f"experiment {hp.number} starts from experiment {hp.start_from}, which has no run yet: training it")
        train_experiment(hp.start_from, profile, device=hp.device, precision=hp.precision, schedule=hp.schedule,
                         progress=progress)
    load_best(model, first_dir)


def train_experiment(number: int, profile: str | None = None, *, run_dir: str | Path | None = None,
                     steps: int | None = None, minutes: float | None = None, lr: float | None = None,
                     device: str = "auto", upsample: str = "subpixel", progress: bool = True, test: bool = True,
                     train: bool = True, precision: str = "auto", schedule: str = "original",
                     jpeg2000: bool = True) -> dict:
    """Train experiment `number` at a profile (resuming its run), then evaluate the final model on
    the test sets once and write its results JSON. Returns the results (on rank 0; {} elsewhere).
    `train=False` only (re-)evaluates the run's best checkpoint; `jpeg2000=False` leaves JPEG 2000
    out of the test results (it needs imagecodecs, which a GPU machine may lack)."""
    profile = config.get_profile(profile)
    hp = hparams(number, profile, upsample, schedule)
    if lr and hp.lr_final is not None:  # the schedule keeps its shape at another starting rate
        hp = replace(hp, lr_final=hp.lr_final * lr / hp.lr)
    hp = replace(hp, steps=steps or hp.steps, minutes=minutes if minutes is not None else hp.minutes,
                 lr=lr or hp.lr, device=device, precision=precision)
    run_dir = Path(run_dir) if run_dir else run_dir_for(hp, profile)
    if not train and not (run_dir / "summary.json").exists():
        raise UserError(f"{run_dir} holds no finished run to evaluate")
    dev = pick_device(device)
    rank, world = _distributed(dev)
    seed = 1000 * number + rank
    random.seed(seed)
    torch.manual_seed(seed)

    model = build_model(hp, quantize=False).to(dev)
    notes = {}
    own_dir = run_dir if rank == 0 else run_dir / f".rank{rank}"
    if hp.start_from:
        fresh = not (run_dir / "last.pt").exists()
        if fresh:
            _start_second_stage(model, hp, profile, progress and rank == 0)
        model.freeze_encoder()
        model.quantize = True
        start_file = run_dir / "stage2_start.json"
        if fresh and rank == 0:
            make_run_dir(run_dir)
            val = validation_images(hp, profile)
            start = quality(val, reconstruct(model, val, dev), with_ssim=False)
            start_file.write_text(json.dumps({"val_psnr_quantized_before_stage2": start["psnr"]}))
        if start_file.exists():
            notes.update(json.loads(start_file.read_text()))
    if world > 1:
        # Every rank resumes from rank 0's last checkpoint, so all take the same steps.
        own_dir.mkdir(parents=True, exist_ok=True)
        if rank != 0 and (run_dir / "last.pt").exists():
            shutil.copyfile(run_dir / "last.pt", own_dir / "last.pt")
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    else:
        net = model

    train_set, used = train_dataset(hp, profile)
    workers = sources.loader_workers(hp.num_workers)
    loader = DataLoader(train_set, batch_size=hp.batch_size, shuffle=True, drop_last=len(train_set) >= hp.batch_size,
                        num_workers=workers, pin_memory=dev.type == "cuda",
                        persistent_workers=workers > 0, generator=torch.Generator().manual_seed(seed))
    amp = hp.precision == "bf16" or (hp.precision == "auto" and dev.type == "cuda")
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop and batch sizes: let cuDNN pick its fastest kernels

    def step_fn(_model, batch):
        x = batch.to(dev, non_blocking=True)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            x_hat = net(x)["x_hat"]
        mse = F.mse_loss(x_hat.float(), x)
        return {"loss": mse, "psnr_float": -10 * torch.log10(mse.detach().clamp_min(1e-10))}

    val = validation_images(hp, profile) if rank == 0 else []
    grid_images = [x[:, :96, :96] for x in val[:8]]

    def evaluate(m):
        if rank != 0:
            return {"psnr": 0.0}  # only rank 0 chooses checkpoints
        return quality(val, reconstruct(m, val, dev), with_ssim=False)

    cfg = LoopConfig(max_steps=hp.steps, lr=hp.lr, lr_final=hp.lr_final, val_every=hp.inference_freq,
                     image_every=hp.inference_freq,
                     ckpt_every=hp.checkpointing_freq, max_minutes=hp.minutes if world == 1 else None,
                     progress=progress and rank == 0, validate_start=bool(hp.start_from),
                     hparams={**{k: v for k, v in asdict(hp).items() if k != "sources"},
                              "sources": "+".join(hp.sources), "profile": profile, "world_size": world,
                              "device_type": dev.type, "autocast_bf16": amp})
    if train:
        summary = fit(model, step_fn, loader, evaluate, own_dir, cfg,
                      images=(lambda m: image_grids(m, grid_images, dev)) if rank == 0 else None)
    else:
        summary = json.loads((run_dir / "summary.json").read_text())
    if world > 1:
        torch.distributed.barrier()
    if rank != 0 or not test:
        return {}
    load_best(model, run_dir)
    threads = training_threads(summary)
    results = {
        "experiment": number, "name": hp.name, "purpose": PURPOSE[number], "profile": profile,
        "hparams": {**asdict(hp), "sources": list(hp.sources)},
        "training_data": used, "model_parameters": sum(p.numel() for p in model.parameters()),
        "device": describe_device(dev, world, threads), "threads": threads,
        "steps": summary["steps"], "train_seconds": summary["train_seconds"],
        "stopped_by": "steps" if summary["steps"] >= hp.steps else "wall-clock budget",
        "best_validation": summary["best"], **notes,
        "test": evaluate_test(model, hp, profile, dev, jpeg2000),
        "original": ORIGINAL[number],
        "measured": "PSNR/SSIM per image on clamped 8-bit RGB, averaged; checkpoint chosen on CelebA "
                    "validation identities; test sets evaluated once for this final model; bpp from "
                    "the formula in aeutils.tasks.cae.latent_bpp (file sizes: `aeutils compress`)",
    }
    out = results_path(hp, profile, run_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    return results


def describe_device(dev: torch.device, world: int = 1, threads: int | None = None) -> str:
    if dev.type == "cuda":
        return f"{world} x {torch.cuda.get_device_name(dev)}"
    threads = threads or torch.get_num_threads()
    return f"{world} process(es) on a {os.cpu_count()}-core CPU (no GPU), {threads} thread(s) each"


def training_threads(summary: dict) -> int:
    """The thread count of the last session that trained (a finished run evaluated again, e.g. by
    `make notebooks`, keeps the count it trained with); this process's for runs that predate the record."""
    trained = [s for s in summary.get("sessions", []) if s["from_step"] < summary["steps"] and "threads" in s]
    return trained[-1]["threads"] if trained else torch.get_num_threads()


def load_experiment(number: int, profile: str | None = None, upsample: str = "subpixel",
                    schedule: str = "original") -> CompressiveAutoencoder:
    """The best (validation-chosen) model of a trained experiment, in eval mode on the CPU."""
    profile = config.get_profile(profile)
    hp = hparams(number, profile, upsample, schedule)
    model = build_model(hp)
    run_dir = run_dir_for(hp, profile)
    if not (run_dir / "best.pt").exists():
        raise UserError(f"experiment {hp.name} has not been trained at profile {profile} ({run_dir})")
    load_best(model, run_dir)
    return model.eval()


def load_results(number: int, profile: str | None = None, upsample: str = "subpixel",
                 schedule: str = "original") -> dict:
    profile = config.get_profile(profile)
    hp = hparams(number, profile, upsample, schedule)
    path = results_path(hp, profile, run_dir_for(hp, profile))
    if not path.exists():
        raise UserError(f"no results for {hp.name} at profile {profile} ({path}); train it first")
    return json.loads(path.read_text())


def ship_experiment(number: int, path: str | Path, profile: str | None = None, schedule: str = "original") -> Path:
    """Write an experiment's final model as a shipped weights file (task "cae", float16), with its
    measured test numbers; load it with `zoo.load` (or `CompressiveAutoencoder.from_shipped`)."""
    profile = config.get_profile(profile)
    res = load_results(number, profile, schedule=schedule)
    model = load_experiment(number, profile, schedule=schedule)
    zoo.save_shipped(path, "cae", model.arch, model, metrics=res["test"], profile=profile,
                     experiment=number, steps=res["steps"], train_seconds=res["train_seconds"],
                     device=res["device"], hparams=res["hparams"])
    return Path(path)


def load(ck: dict) -> CompressiveAutoencoder:
    """A shipped experiment from its file's dict (`zoo.load_shipped`), in eval mode on the CPU."""
    model = CompressiveAutoencoder(**ck["arch"])
    model.load_state_dict(ck["state_dict"])
    return model.eval()


def main(argv: list[str] | None = None) -> int:
    """`aeutils train cae --experiment N`: train one of the seven experiments (see --help)."""
    p = OneLineParser(prog="aeutils train cae", description=__doc__.split("\n\n")[0])
    p.add_argument("--experiment", type=int, required=True, choices=range(1, 8), metavar="N",
                   help="experiment number 1-7 (seed-report.md)")
    add_training_options(p, run_dir="runs/<profile>/experimentN",
                         minutes_note="; ignored under torchrun, where every process must stop at the same step")
    p.add_argument("--lr", type=positive_float, default=None, help="Adam learning rate (default: the profile's)")
    p.add_argument("--device", default="auto", help="auto (a GPU if there is one), cpu, cuda or cuda:K")
    p.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                   help="forward pass in bfloat16 autocast (auto: on CUDA only) or float32")
    p.add_argument("--schedule", choices=SCHEDULES, default="original",
                   help="paper profile: the original's learning rates and epochs, or gpu (GPU_SCHEDULE: "
                        "meant for hours on one GPU, untested so far; runs in runs/paper-gpu/)")
    p.add_argument("--upsample", choices=("subpixel", "transposed"), default="subpixel",
                   help="decoder upsampler (transposed: the checkerboard comparison of experiment 1)")
    p.add_argument("--no-test", action="store_true", help="skip the final test evaluation")
    p.add_argument("--no-jpeg2000", action="store_true",
                   help="leave JPEG 2000 out of the test evaluation (it needs imagecodecs)")
    p.add_argument("--no-train", action="store_true",
                   help="only evaluate the run's best checkpoint on the test sets (rewrites its results JSON)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.time()
    try:
        res = train_experiment(args.experiment, args.profile, run_dir=args.run_dir, steps=args.steps,
                               minutes=args.minutes, lr=args.lr, device=args.device, upsample=args.upsample,
                               progress=not args.no_progress, test=not args.no_test, train=not args.no_train,
                               precision=args.precision, schedule=args.schedule, jpeg2000=not args.no_jpeg2000)
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    for name, r in res.get("test", {}).items():
        j = r.get("jpeg2000")
        print(f"{res['name']} {name}: PSNR {r['psnr']:.2f} dB, SSIM {r['ssim']:.4f}, {r['bpp']:.3f} bpp "
              f"(ratio {r['ratio']:.2f})" + (f"; JPEG 2000 at {j['bpp']:.3f} bpp: {j['psnr']:.2f} dB" if j else ""))
    if res:
        print(f"done in {time.time() - start:.0f} s")
    return 0


# ------------------------------------------------------------------------------ figures, tables
def figure_path(name: str, profile: str) -> Path:
    """resources/experiments/<name>.png for cpu/paper; runs/<profile>/figures/ in smoke."""
    folder = config.results_dir("experiments", profile, smoke=config.RUNS_DIR / profile / "figures")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.png"


def _first_test_set(hp: Hparams, profile: str) -> tuple[str, list[torch.Tensor]]:
    sets = test_sets(replace(hp, test_dataset_size=8 if profile != "smoke" else hp.test_dataset_size), profile)
    name = "voxceleb2-test" if "voxceleb2-test" in sets else next(iter(sets))
    return name, sets[name]


def reconstruction_figure(number: int, profile: str | None = None, n: int = 4):
    """Test images, the experiment's reconstructions, their error maps (|x - x_hat| x 5) and
    JPEG 2000 at the same bpp, written to figure_path(experimentN). Returns the figure."""
    import matplotlib.pyplot as plt

    profile = config.get_profile(profile)
    hp = hparams(number, profile)
    model = load_experiment(number, profile)
    set_name, images = _first_test_set(hp, profile)
    images = images[:n]
    recons = reconstruct(model, images)
    bpp = latent_bpp(hp, *images[0].shape[-2:])[0]
    j2k = next(c for c in classical_codecs() if c.name == "jpeg2000")
    rows = [("original", images), (f"{hp.name} ({bpp:.2f} bpp)", recons),
            ("|error| x 5", [((x - y).abs() * 5) for x, y in zip(images, recons)]),
            (f"JPEG 2000 at {min(bpp, 24):.2f} bpp", [to_tensor(j2k.decode(j2k.encode(to_image(x), min(bpp, 24.0))))
                                                      for x in images])]
    fig, axes = plt.subplots(len(rows), len(images), figsize=(2.2 * len(images), 2.3 * len(rows)), squeeze=False)
    for r, (label, ims) in enumerate(rows):
        for c, im in enumerate(ims):
            ax = axes[r][c]
            ax.imshow(to_uint8(im))
            ax.set_xticks([]), ax.set_yticks([])
            if r > 0 and r != 2:
                ax.set_xlabel(f"{metrics.psnr(to_uint8(images[c]), to_uint8(im)):.1f} dB", fontsize=8)
        axes[r][0].set_ylabel(label, fontsize=8)
    fig.suptitle(f"{hp.name}, {profile} profile: {set_name}", fontsize=10)
    fig.tight_layout()
    fig.savefig(figure_path(hp.name, profile), dpi=100)
    return fig


def stride_periodicity(original: torch.Tensor, recon: torch.Tensor, stride: int = 8) -> float:
    """How periodic the reconstruction error is on the decoder's stride grid: the mean error power
    at the spatial frequencies that repeat every `stride` pixels (multiples of 1/stride cycles,
    DC excluded) over the mean error power at all frequencies. About 1 for noise-like error; well
    above 1 when the upsamplers leave a checkerboard or grid pattern."""
    err = (recon.clamp(0, 1) - original).mean(0).double()
    power = torch.fft.fft2(err - err.mean()).abs() ** 2
    h, w = err.shape
    grid = torch.zeros_like(power, dtype=torch.bool)
    grid[:: h // stride if h % stride == 0 else h, :] = True
    grid[:, :: w // stride if w % stride == 0 else w] = True
    grid[0, 0] = False
    return float(power[grid].mean() / power.mean())


def checkerboard_figure(profile: str | None = None, n: int = 3, zoom: int = 56):
    """Experiment 1's claim, checked: the same model with a sub-pixel and with a transposed-
    convolution decoder, side by side on zoomed test crops, with their error maps and the
    stride-periodicity of the error (see `stride_periodicity`). Returns (figure, numbers)."""
    import matplotlib.pyplot as plt

    profile = config.get_profile(profile)
    hp = hparams(1, profile)
    models = {u: load_experiment(1, profile, upsample=u) for u in ("subpixel", "transposed")}
    set_name, images = _first_test_set(hp, profile)
    numbers = {}
    recons = {u: reconstruct(m, images) for u, m in models.items()}
    for u in models:
        numbers[u] = {"psnr": quality(images, recons[u], with_ssim=False)["psnr"],
                      "stride_periodicity": float(np.mean([stride_periodicity(x, y)
                                                           for x, y in zip(images, recons[u])]))}
    images, z = images[:n], min(zoom, *images[0].shape[-2:])
    cols = [("original", images)] + [(f"{u} decoder", recons[u][:n]) for u in models] + \
           [(f"{u} |error| x 8", [(x - y).abs() * 8 for x, y in zip(images, recons[u])]) for u in models]
    fig, axes = plt.subplots(len(images), len(cols), figsize=(2.3 * len(cols), 2.3 * len(images)), squeeze=False)
    for c, (label, ims) in enumerate(cols):
        for r, im in enumerate(ims):
            h, w = im.shape[-2:]
            top, left = (h - z) // 2, (w - z) // 2  # the middle of the face: eyes, nose
            ax = axes[r][c]
            ax.imshow(to_uint8(im[:, top:top + z, left:left + z]), interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
        axes[0][c].set_title(label, fontsize=9)
    fig.suptitle(f"Sub-pixel vs transposed-convolution decoder (experiment 1, {profile} profile, {set_name}); "
                 + ", ".join(f"{u}: {v['psnr']:.2f} dB, periodicity {v['stride_periodicity']:.2f}"
                             for u, v in numbers.items()), fontsize=8)
    fig.tight_layout()
    path = figure_path("checkerboard", profile)
    fig.savefig(path, dpi=100)
    path.with_suffix(".json").write_text(json.dumps({"test_set": set_name, "images": len(recons["subpixel"]),
                                                     "numbers": numbers}, indent=2))
    return fig, numbers


def hparams_table(number: int) -> str:
    """A markdown table of experiment `number`'s hyperparameters in every profile (`paper`: the original's
    table), then what the original published for it: the same text whatever the active profile."""
    columns = {p: asdict(hparams(number, p)) for p in ("paper", "cpu", "smoke")}

    def shown(key: str, value) -> str:
        if value is None and key == "train_dataset_size":
            return "all"
        if isinstance(value, tuple):
            return "+".join(value)
        return f"{value:g}" if isinstance(value, float) else str(value)

    lines = ["| hparam | paper (the original's table) | cpu | smoke |", "|---|---|---|---|"]
    lines += [f"| {key} | " + " | ".join(f"`{shown(key, columns[p][key])}`" for p in columns) + " |"
              for key in columns["paper"] if key != "number"]
    return "\n".join(lines) + f"\n\nThe original published: {ORIGINAL[number]['text']}."


def results_table(numbers: list[int], profile: str | None = None) -> str:
    """A markdown table of the experiments' test results beside JPEG 2000 and the original's number."""
    profile = config.get_profile(profile)
    lines = ["| experiment | test set | steps | PSNR (dB) | SSIM | bpp | ratio "
             "| JPEG 2000 at that bpp: PSNR / SSIM | original |",
             "|---|---|---|---|---|---|---|---|---|"]
    for n in numbers:
        res = load_results(n, profile)
        for set_name, t in res["test"].items():
            j = t["jpeg2000"]
            lines.append(f"| {n} | {set_name} ({t['images']} x {t['size']}) | {res['steps']} | {t['psnr']:.2f} | "
                         f"{t['ssim']:.4f} | {t['bpp']:.3f} | {t['ratio']:.2f} | {j['psnr']:.2f} / {j['ssim']:.4f} "
                         f"({j['bpp']:.3f} bpp) | {res['original']['text']} |")
    return "\n".join(lines)


TASK = Task("cae", main=main, load=load)  # the model card of cae-exp7 is written by hand
