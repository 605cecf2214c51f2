"""Super-resolution of faces: SRResNet (pixel loss) then SRGAN (perceptual + adversarial loss).

Ledig et al. 2017 in two phases, as usual: `--phase srresnet` pre-trains the generator on an L1
pixel loss (the PSNR-oriented model); `--phase srgan` fine-tunes it against a discriminator with a
perceptual content loss. `--phase evaluate` measures both on CelebA test identities beside bicubic
and Lanczos upscaling in the same run; `aeutils upscale` applies a shipped model in tiles.

Low-resolution inputs are always made the same way: bicubic downsampling with antialiasing
(`torch.nn.functional.interpolate(..., antialias=True)`) of the high-resolution crop, rounded to
8 bits, as a real small image would be. With `--data photos` (SRResNet phase) the crops are
photo-like (`PhotoPairs`) and most small inputs are then saved as a JPEG, as most small photos are.

The perceptual term uses `aeutils.models.features.pretrained_encoder`: VGG16 ImageNet features when the
user has them in $TORCH_HOME, otherwise the project's own face-codec encoder. Its source is
recorded in the logs, the results and the model card. LPIPS needs downloaded weights, so the
sharpness of the results is measured here by two labelled stand-ins (see `sharpness_metrics`).
"""
from __future__ import annotations

import functools
import json
import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.utils import make_grid
from tqdm.auto import tqdm

from aeutils import batch, checkpoint, config, metrics, tb, zoo
from aeutils.datasets import damage, photos, sources
from aeutils.errors import UserError
from aeutils.images import check_output, check_pixels, load_rgb, save_image, to_tensor, to_uint8
from aeutils.models.features import pretrained_encoder
from aeutils.models.sr import Discriminator, SRResNet
from aeutils.options import OneLineParser, add_training_options, positive_int
from aeutils.task import Task
from aeutils.tiles import tiled
from aeutils.train import LoopConfig, fit

PHASES = ("srresnet", "srgan", "evaluate")
EVAL_CROP = 176  # centre crop of the 178x218 CelebA faces; both x4 and x8 divide it
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


# --- data ------------------------------------------------------------------------------------------

def downscale(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """The low-resolution input of an HR image or batch (..., 3, H, W) in [0, 1], H and W divisible
    by `scale`: antialiased bicubic downsampling, clamped and rounded to 8-bit levels."""
    x = hr[None] if hr.ndim == 3 else hr
    lr = F.interpolate(x, scale_factor=1 / scale, mode="bicubic", antialias=True, align_corners=False)
    lr = lr.clamp(0, 1).mul(255).round().div(255)
    return lr[0] if hr.ndim == 3 else lr


class PhotoPairs(Dataset):
    """(HR crop, LR input) pairs that look like users' photos (`--data photos`): the HR crop is a
    photo-like crop (`photos.PhotoCrops`: rescaled, anywhere, flipped, jittered; build it with
    jpeg=0 so that the target stays as clean as its source), the LR input its `downscale`, then with
    probability `jpeg` saved and decoded as a JPEG of a quality drawn from `quality`, as most small
    photos are. Draws come from torch's generator."""

    def __init__(self, crops: photos.PhotoCrops, scale: int, jpeg: float = PHOTO_JPEG,
                 quality: tuple[int, int] = PHOTO_QUALITY):
        self.crops, self.scale, self.jpeg, self.quality = crops, scale, jpeg, quality

    def __len__(self) -> int:
        return len(self.crops)

    def __getitem__(self, i):
        hr = self.crops[i]
        lr = downscale(hr, self.scale)
        rng = np.random.default_rng(int(torch.randint(2**62, ())))
        if rng.random() < self.jpeg:
            lr = damage.jpeg_roundtrip(lr, int(rng.integers(self.quality[0], self.quality[1] + 1)))
        return hr, lr


def center_crop(x: torch.Tensor, size: int, multiple: int = 16) -> torch.Tensor:
    """Centre crop (3, H, W) to a square of `size` (or the largest multiple of `multiple` that fits)."""
    _, h, w = x.shape
    s = min(size, h, w) // multiple * multiple
    top, left = (h - s) // 2, (w - s) // 2
    return x[:, top:top + s, left:left + s]


def eval_images(split: str, profile: str, limit: int, crop: int = EVAL_CROP) -> list[torch.Tensor]:
    """`limit` images of a split (spread over its identities), centre-cropped to `crop`."""
    if profile == "smoke" or not sources.have_celeba():
        ds = sources.face_split(split, "smoke", limit=limit)
        return [center_crop(ds.image(i), crop) for i in range(len(ds))]
    files = sources.celeba_files(split)
    files = files[::max(1, len(files) // limit)][:limit]
    return [center_crop(to_tensor(load_rgb(p)), crop) for p in files]


# --- losses ----------------------------------------------------------------------------------------

def feature_encoder(source: str = "auto"):
    """The frozen feature network of the perceptual loss and of the feature distance (None for
    source "none"); see aeutils.models.features.pretrained_encoder."""
    if source == "none":
        return None
    return pretrained_encoder(source)


def feature_distance(encoder: nn.Module, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Mean over the encoder's 4 feature maps of ||f(x) - f(ref)||^2 / ||f(ref)||^2 (per batch):
    a content distance that does not depend on each layer's scale. x, ref: (N, 3, H, W) in [0, 1]."""
    with torch.no_grad():
        targets = encoder(ref)
    terms = [((a - b) ** 2).mean() / (b ** 2).mean().clamp_min(1e-8) for a, b in zip(encoder(x), targets)]
    return torch.stack(terms).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the discriminator: real crops -> 1, generated ones -> 0."""
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss -log D(G(lr)) (Goodfellow et al. 2014; Ledig et al. 2017)."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


class SRGAN(nn.Module):
    """Generator and discriminator in one module, so that one checkpoint holds both."""

    def __init__(self, generator: SRResNet, discriminator: Discriminator):
        super().__init__()
        self.generator, self.discriminator = generator, discriminator


def generator_of(model: nn.Module) -> SRResNet:
    return model.generator if isinstance(model, SRGAN) else model


def make_step(cfg: SRConfig, encoder: nn.Module | None, d_optimizer=None) -> Callable:
    """The step function `train.fit` calls: returns the generator's loss (fit backpropagates it);
    in the SRGAN phase it first updates the discriminator itself, on the same batch."""

    def step(model: nn.Module, batch) -> dict:  # HR crops, or (HR, LR) pairs (PhotoPairs)
        hr, lr = batch if isinstance(batch, (list, tuple)) else (batch, downscale(batch, cfg.scale))
        g = generator_of(model)
        sr = g(lr)
        out = {"pixel_l1": F.l1_loss(sr, hr)}
        loss = cfg.pixel_weight * out["pixel_l1"]
        if cfg.perceptual_weight and encoder is not None:
            out["perceptual"] = feature_distance(encoder, sr, hr)
            loss = loss + cfg.perceptual_weight * out["perceptual"]
        if cfg.adversarial_weight:
            d = model.discriminator
            d.requires_grad_(True)
            d_loss = discriminator_loss(d(hr), d(sr.detach()))
            d_optimizer.zero_grad(set_to_none=True)
            d_loss.backward()
            d_optimizer.step()
            d.requires_grad_(False)  # the generator's backward pass need not reach D's weights
            out["d_loss"] = d_loss.detach()
            out["adversarial"] = generator_adversarial_loss(d(sr))
            loss = loss + cfg.adversarial_weight * out["adversarial"]
        return {"loss": loss, **{k: v.detach() for k, v in out.items()}}

    return step


# --- measuring -------------------------------------------------------------------------------------

def gradient_magnitude(im_u8: np.ndarray) -> float:
    """Mean gradient magnitude (forward differences) of the luma of an 8-bit RGB image."""
    y = np.asarray(im_u8, dtype=np.float64) @ np.array([0.299, 0.587, 0.114])
    gx, gy = np.diff(y, axis=1)[:-1, :], np.diff(y, axis=0)[:, :-1]
    return float(np.sqrt(gx ** 2 + gy ** 2).mean())


def sharpness_metrics(out_u8: np.ndarray, ref_u8: np.ndarray, encoder: nn.Module | None) -> dict:
    """The two labelled stand-ins for LPIPS (which needs downloaded weights):
    - grad_ratio: mean luma gradient magnitude of the output / that of the ground truth (1 = as much
      edge energy as the original; below 1 blurrier; above 1 more edges than the original: noise or
      invented texture). It says nothing about whether the edges are the right ones.
    - feature_dist: `feature_distance` in the space of the perceptual encoder (lower is closer).
      When the encoder is the SRGAN's own training loss network this favours the SRGAN by design."""
    m = {"grad_ratio": gradient_magnitude(out_u8) / max(gradient_magnitude(ref_u8), 1e-8)}
    if encoder is not None:
        a = torch.from_numpy(np.array(out_u8)).permute(2, 0, 1)[None].float() / 255
        b = torch.from_numpy(np.array(ref_u8)).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            m["feature_dist"] = float(feature_distance(encoder, a, b))
    return m


def measure(methods: dict[str, Callable[[torch.Tensor], torch.Tensor]], hrs: list[torch.Tensor], scale: int,
            encoder: nn.Module | None = None, keep: int = 0, progress: bool = False) -> tuple[dict, list]:
    """Mean PSNR, SSIM (8-bit RGB, per image then averaged) and the sharpness stand-ins of each
    upscaling method on the same images. A method maps an LR tensor (3, h, w) to (3, s*h, s*w).

    Returns ({method: {metric: mean}}, examples): examples holds, for the first `keep` images,
    {"lr", "hr", <method>: uint8 arrays} for figures."""
    sums: dict[str, dict[str, float]] = {name: {} for name in methods}
    examples = []
    for i, hr in enumerate(tqdm(hrs, desc=f"x{scale}", disable=not progress)):
        lr = downscale(hr, scale)
        ref = to_uint8(hr)
        ex = {"lr": to_uint8(lr), "hr": ref}
        for name, fn in methods.items():
            with torch.no_grad():
                out = to_uint8(fn(lr))
            m = {"psnr": metrics.psnr(ref, out), "ssim": metrics.ssim(ref, out), **sharpness_metrics(out, ref, encoder)}
            for k, v in m.items():
                sums[name][k] = sums[name].get(k, 0.0) + v
            ex[name] = out
        if i < keep:
            examples.append(ex)
    return {name: {k: v / len(hrs) for k, v in s.items()} for name, s in sums.items()}, examples


def classical_methods(scale: int) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """Bicubic and Lanczos upscaling (aeutils.benchmark.baselines) as `measure` methods."""
    from aeutils.benchmark import baselines  # deferred: OpenCV loads only when the classical methods run

    def wrap(fn):  # they resample 8-bit arrays (H, W, 3) with Pillow
        return lambda lr: torch.from_numpy(np.array(fn(to_uint8(lr), scale))).permute(2, 0, 1).float() / 255

    return {"bicubic": wrap(baselines.upscale_bicubic), "lanczos": wrap(baselines.upscale_lanczos)}


def photo_scores(g: SRResNet, val: dict[str, list[torch.Tensor]]) -> dict[str, float]:
    """The validation of `--data photos`: `robustness.upscale_sweep` of `g` on whole faces of each
    source ({source: [(3, H, W)]}, `photos.validation_faces`), the small input saved as PNG and as
    JPEG q90 / q75 / q50. Returns the mean PSNR over those cells (`psnr`, what picks best.pt), over
    the PNG and the JPEG cells, the mean gain over the better of bicubic and Lanczos per cell, and
    each cell's PSNR ("lfw_q75")."""
    from aeutils.benchmark import robustness  # deferred: OpenCV loads only when the sweep runs

    sweep = robustness.upscale_sweep({"model": g}, val, g.scale, upscale_tiled)
    cells = {f"{src}_{q}": c for src, per in sweep.items() for q, c in per.items()}
    png = [c["model"] for k, c in cells.items() if k.endswith("_png")]
    jpeg = [c["model"] for k, c in cells.items() if not k.endswith("_png")]
    return {"psnr": float(np.mean(png + jpeg)), "png": float(np.mean(png)), "jpeg": float(np.mean(jpeg)),
            "gain": float(np.mean([c["model"] - max(c["bicubic"], c["lanczos"]) for c in cells.values()])),
            **{k: c["model"] for k, c in cells.items()}}


def model_method(model: SRResNet) -> Callable[[torch.Tensor], torch.Tensor]:
    model.eval()
    return lambda lr: model(lr[None])[0]


# --- tiled inference -------------------------------------------------------------------------------

@torch.no_grad()
def upscale_tiled(model: SRResNet, lr: torch.Tensor, tile: int = 128, overlap: int = 16,
                  progress: bool = False) -> np.ndarray:
    """Upscale an LR image (3, h, w) in [0, 1] tile by tile, so memory stays bounded by the tile
    size: each `tile` x `tile` LR tile is run with `overlap` pixels of context on every side and only
    its centre is kept. With `overlap` at least the network's receptive-field radius (about 24 LR
    pixels for 8 blocks) the result equals whole-image inference; 16 leaves differences far below
    one 8-bit level. Returns the 8-bit result (s*h, s*w, 3): the output is held as bytes, not floats."""
    s = model.scale

    def window(top: int, bottom: int, left: int, right: int) -> torch.Tensor:
        return torch.from_numpy(to_uint8(model(lr[None, :, top:bottom, left:right])[0])).permute(2, 0, 1)[None]
    out = tiled(window, *lr.shape[1:], tile, overlap, scale=s, progress=progress)
    return np.ascontiguousarray(out[0].permute(1, 2, 0).numpy())


# --- training --------------------------------------------------------------------------------------

def default_run_dir(profile: str, scale: int, phase: str) -> Path:
    return config.RUNS_DIR / "superres" / f"{profile}-x{scale}-{phase}"


def load_generator_weights(g: SRResNet, source: Path) -> str:
    """Initialise the generator from a run folder (its best.pt), a checkpoint or a shipped file; an
    x8 generator may start from an x4 one. Returns a line saying what was loaded."""
    path = source / "best.pt" if source.is_dir() else source
    ck = checkpoint.load(path)
    state = ck.get("state_dict") or ck["model"]
    state = {k.removeprefix("generator."): v.float() for k, v in state.items() if not k.startswith("discriminator.")}
    stages = sum(1 for k in state if k.startswith("up.") and k.endswith(".conv.weight"))
    if stages == len(g.up) - 1:
        new = g.load_from_smaller_scale(state)
        return f"initialised from {path} (x{g.scale // 2} model; new: {', '.join(new)})"
    g.load_state_dict(state)
    return f"initialised from {path}"


def train(cfg: SRConfig, profile: str, run_dir: Path, init: str | None = "default", progress: bool = True) -> dict:
    """Run one phase (resuming from run_dir/last.pt); returns train.fit's summary."""
    torch.manual_seed(0)
    random.seed(0)
    g = SRResNet(cfg.scale, cfg.channels, cfg.blocks)
    if init == "default":
        prev = {"srgan": default_run_dir(profile, cfg.scale, "srresnet"),
                "srresnet": default_run_dir(profile, cfg.scale // 2, "srresnet") if cfg.scale == 8 else None}[cfg.phase]
        init = str(prev) if prev is not None and (prev / "best.pt").exists() else None
        if cfg.phase == "srgan" and init is None:
            raise UserError(f"the SRGAN phase starts from a trained SRResNet; none in {prev}")
    note = load_generator_weights(g, Path(init)) if init and init != "none" else "initialised at random"
    encoder = feature_encoder(cfg.perceptual) if cfg.perceptual != "none" else None
    source = getattr(encoder, "source", "none")
    print(f"superres {cfg.phase} x{cfg.scale} ({profile}): generator {note}; perceptual features: {source}", flush=True)

    model, params, d_opt = g, None, None
    if cfg.phase == "srgan":
        model = SRGAN(g, Discriminator(cfg.d_channels))
        params = list(g.parameters())
        d_opt = torch.optim.Adam(model.discriminator.parameters(), lr=cfg.d_lr)

    if cfg.data == "photos":  # never lfw-val: photos.training_faces is CelebA and VoxCeleb2 training data
        if cfg.phase != "srresnet":
            raise UserError("--data photos trains the SRResNet phase only")
        faces = photos.training_faces(profile)
        train_data = " + ".join(f"{type(f).__name__} {len(f)} images" for f in faces)
        train_set = PhotoPairs(photos.PhotoCrops(faces, cfg.crop, scale=PHOTO_SCALE, jpeg=0), cfg.scale, PHOTO_JPEG)
        val_faces = photos.validation_faces(profile, cfg.val_images)
        val = [center_crop(x, 128) for faces in val_faces.values() for x in faces[:3]]
    else:
        train_set, train_data = sources.face_split("train", profile, crop=cfg.crop), None
        val = eval_images("val", profile, cfg.val_images)
    loader = DataLoader(train_set, batch_size=min(cfg.batch, len(train_set)), shuffle=True, drop_last=True)
    shown = torch.stack(val[:8])

    def evaluate(m):
        if cfg.data == "photos":
            return photo_scores(generator_of(m), val_faces)
        means, _ = measure({"model": model_method(generator_of(m))}, val, cfg.scale, encoder)
        return means["model"]

    def images(m):  # one picture: rows of input (nearest), output, ground truth
        lr = downscale(shown, cfg.scale)
        if cfg.data == "photos":  # the small inputs as JPEG q75, a typical small photo
            lr = torch.stack([damage.jpeg_roundtrip(x, 75) for x in lr])
        sr = generator_of(m)(lr).clamp(0, 1)
        rows = torch.cat([F.interpolate(lr, scale_factor=cfg.scale, mode="nearest"), sr, shown])
        return {"val/lr_sr_hr": make_grid(rows, nrow=len(shown), padding=2)[None]}

    select = ("feature_dist", "min") if cfg.phase == "srgan" and encoder is not None else ("psnr", "max")
    loop = LoopConfig(max_steps=cfg.steps, lr=cfg.lr, val_every=cfg.val_every, image_every=cfg.image_every,
                      ckpt_every=50, max_minutes=cfg.minutes, select_key=select[0], select_mode=select[1],
                      grad_clip=None, progress=progress,
                      hparams=dict(asdict(cfg), profile=profile, perceptual_source=source, init=note,
                                   lr_input=PHOTO_LR_NOTE if cfg.data == "photos" else LR_NOTE,
                                   train_data=train_data))
    return fit(model, make_step(cfg, encoder, d_opt), loader, evaluate, run_dir, loop, params=params,
               images=images)


# The SRResNet is the checkpoint with the best validation PSNR. The SRGAN is the last one: any
# distortion-type validation score (PSNR, or the feature distance, which here behaves like one)
# picks the least adversarial checkpoint and so undoes the fine-tuning; its validation curves are logged.
FINAL_CHECKPOINT = {"srresnet": "best.pt", "srgan": "last.pt"}


def evaluate_test(scale: int, profile: str, out_dir: Path, run_root: Path | None = None, limit: int = 100,
                  keep: int = 6, progress: bool = False) -> tuple[dict, list]:
    """Measure the best SRResNet and SRGAN of `scale` (chosen on validation) and bicubic / Lanczos on
    the same `limit` test-identity images; write `results_x{scale}.json` to out_dir."""
    run_root = run_root or config.RUNS_DIR / "superres"
    methods = classical_methods(scale)
    hp, models = {}, {}
    for phase in ("srresnet", "srgan"):
        run_dir = run_root / f"{profile}-x{scale}-{phase}"
        if not (run_dir / "best.pt").exists():
            continue
        ck = checkpoint.load(run_dir / "best.pt")
        cfg = SRConfig(**{k: v for k, v in ck["hparams"].items() if k in SRConfig.__dataclass_fields__})
        g = SRResNet(cfg.scale, cfg.channels, cfg.blocks)
        load_generator_weights(g, run_dir / FINAL_CHECKPOINT[phase])
        summary = json.loads((run_dir / "summary.json").read_text()) if (run_dir / "summary.json").exists() else {}
        val = ck["metrics"] if phase == "srresnet" else \
            {k.removeprefix("val/"): tb.read_scalars(run_dir, k)[1][-1] for k in ("val/psnr", "val/grad_ratio")}
        models[phase], hp[phase] = g, {"hparams": ck["hparams"], "val": val, "checkpoint": FINAL_CHECKPOINT[phase],
                                       "steps": summary.get("steps"), "train_seconds": summary.get("train_seconds")}
        methods[phase] = model_method(g)
    encoder_source = next((h["hparams"].get("perceptual_source") for h in hp.values()), "auto")
    encoder = feature_encoder("auto" if encoder_source in (None, "none") else _source_arg(encoder_source))
    n = limit if profile != "smoke" else min(limit, 3)
    hrs = eval_images("test", profile, n)
    means, examples = measure(methods, hrs, scale, encoder, keep=keep, progress=progress)
    results = {
        "task": TASK.name, "scale": scale, "profile": profile, "split": "test",
        "data": "CelebA test identities 170-199" if profile != "smoke" and sources.have_celeba() else "smoke fixtures",
        "images": len(hrs), "crop": f"centre {hrs[0].shape[-1]}x{hrs[0].shape[-1]}", "lr_input": LR_NOTE,
        "psnr_ssim": "8-bit RGB, whole image, per image then averaged",
        "feature_source": getattr(encoder, "source", "none"),
        "sharpness_labels": {
            "grad_ratio": "mean luma gradient magnitude / ground truth's (1 = as much edge energy as the original)",
            "feature_dist": f"relative feature distance in the {getattr(encoder, 'source', 'none')} space "
                            "(not LPIPS; lower = closer)"},
        "methods": means, "runs": hp, "device": DEVICE_NOTE,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"results_x{scale}.json").write_text(json.dumps(results, indent=2, default=str))
    return results, examples


def _source_arg(source: str) -> str:
    return {"vgg16-imagenet": "vgg16", "face-codec-encoder": "face"}.get(source, "auto")


def ship(scale: int, profile: str, results: dict, run_root: Path | None = None, weights_dir: Path | None = None,
         exclusive: bool = False) -> list[Path]:
    """Copy the validated SRResNet / SRGAN of `scale` to weights/sr-x{scale}-{phase}.pt with a model card
    (`exclusive`: refuse to replace an existing .pt)."""
    run_root = run_root or config.RUNS_DIR / "superres"
    weights_dir = weights_dir or config.WEIGHTS_DIR
    written = []
    for phase in ("srresnet", "srgan"):
        run_dir = run_root / f"{profile}-x{scale}-{phase}"
        if phase not in results["runs"]:
            continue
        info = results["runs"][phase]
        hp = info["hparams"]
        g = SRResNet(scale, hp["channels"], hp["blocks"])
        load_generator_weights(g, run_dir / FINAL_CHECKPOINT[phase])
        name = f"sr-x{scale}-{phase}"
        zoo.save_shipped(weights_dir / f"{name}.pt", TASK.name, g.arch(), g, metrics=results["methods"][phase],
                         exclusive=exclusive, phase=phase, perceptual_source=hp.get("perceptual_source"),
                         profile=profile)
        (weights_dir / f"{name}.md").write_text(model_card(weights_dir / f"{name}.pt", results))
        written.append(weights_dir / f"{name}.pt")
    return written


def model_card(weights: Path, results: dict) -> str:
    """The model card of a generator shipped by `ship`: its file, and the measurement `evaluate_test`
    made of it (`results`: its run's hparams and validation numbers, and the test table beside bicubic
    and Lanczos)."""
    ck = zoo.load_shipped(str(weights), task=TASK.name)
    g, phase, name = load(ck), ck["phase"], weights.stem
    info = results["runs"][phase]
    test = {m: results["methods"][m] for m in ("bicubic", "lanczos", phase)}
    hp = info["hparams"]
    n_params = sum(p.numel() for p in g.parameters())
    loss = ("L1 pixel loss" if phase == "srresnet" else
            f"{hp['pixel_weight']} x L1 + {hp['perceptual_weight']} x perceptual (relative feature distance, "
            f"features: {hp.get('perceptual_source')}) + {hp['adversarial_weight']} x adversarial (BCE, "
            f"discriminator of {hp['d_channels']} base channels)")
    rows = "\n".join(f"| {m} | {v['psnr']:.2f} | {v['ssim']:.4f} | {v['grad_ratio']:.3f} | "
                     f"{v.get('feature_dist', float('nan')):.4f} |" for m, v in test.items())
    minutes = (info.get("train_seconds") or 0) / 60
    method = ("SRResNet (PSNR-oriented)" if phase == "srresnet"
              else "SRGAN (perceptual + adversarial fine-tuning of the SRResNet)")
    chosen = ("the best validation PSNR" if phase == "srresnet"
              else "the last one (a distortion-type validation score would pick the least adversarial checkpoint)")
    if hp.get("data", "celeba") == "celeba":
        data = (f"CelebA aligned faces, training identities 0-159, random {hp['crop']}x{hp['crop']} crops with\n  "
                f"flips; low-resolution input: {LR_NOTE}.")
        val = (f"on CelebA validation identities 160-169 ({hp['val_images']} centre crops); validation PSNR\n  "
               f"{info['val']['psnr']:.2f} dB, grad_ratio {info['val']['grad_ratio']:.3f}.")
    else:
        data = (f"photo-like {hp['crop']}x{hp['crop']} crops (`superres.PhotoPairs` over `photos.PhotoCrops`, "
                f"scale {PHOTO_SCALE}:\n  anywhere in the image, flipped, brightness / contrast / colour jitter) "
                "of CelebA training identities 0-159 and of VoxCeleb2\n  dev-identity frames sampled once a second "
                f"(`data/voxceleb2-dense`; {hp.get('train_data')}), never lfw-val; low-resolution input:\n  "
                f"{PHOTO_LR_NOTE}.")
        val = (f"on a sweep of {hp['val_images']} whole validation faces per source (CelebA identities 160-169, "
               "VoxCeleb2\n  validation identities, even-numbered lfw-val), each small input as PNG and as JPEG "
               "q90 / q75 / q50 (`photo_scores`):\n  "
               "mean PSNR {psnr:.2f} dB (PNG {png:.2f}, JPEG {jpeg:.2f}), {gain:+.2f} dB over the better of "
               "bicubic and Lanczos.".format(**info["val"]))
    return f"""# {name}

x{g.scale} face super-resolution, {method}.
Use: `aeutils upscale IN OUT --scale {g.scale} --model {name}`.

- Architecture: `aeutils.models.sr.SRResNet(scale={g.scale}, channels={g.channels}, blocks={g.blocks})`:
  residual blocks without batch norm, sub-pixel x2 stages, global residual over bicubic;
  {n_params:,} parameters (stored in float16).
- Training data: {data}
- Loss: {loss}.
- Optimiser: Adam, lr {hp['lr']}, batch {hp['batch']}; {info.get('steps')} steps, {minutes:.1f} minutes of
  training ({hp['profile']} profile) on a {DEVICE_NOTE}. Started from: {hp.get('init')}.
- Checkpoint: {chosen}
  {val} Wall time is of a CPU shared with other jobs
  (load average about 9 on 2 cores), so a fraction of a core.
- Terms: CelebA is for non-commercial research only (Liu et al., ICCV 2015); these weights inherit
  that restriction.

## Test numbers
{results['images']} CelebA test-identity images (identities 170-199), {results['crop']} crops, x{g.scale}.
PSNR/SSIM on 8-bit RGB. grad_ratio: {results['sharpness_labels']['grad_ratio']}.
feature_dist: {results['sharpness_labels']['feature_dist']}.

| method | PSNR (dB) | SSIM | grad_ratio | feature_dist |
|---|---|---|---|---|
{rows}
"""


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(prog="aeutils train superres", description=__doc__.splitlines()[0])
    p.add_argument("--phase", choices=PHASES, default="srresnet")
    p.add_argument("--scale", type=int, choices=(4, 8), default=4)
    add_training_options(p, run_dir="runs/superres/PROFILE-xS-PHASE; evaluate: runs/superres")
    p.add_argument("--perceptual", choices=("auto", "vgg16", "face", "none"), default=None,
                   help="features of the perceptual loss (SRGAN phase)")
    p.add_argument("--data", choices=DATA, default="celeba",
                   help="celeba (default): aligned CelebA crops, clean small inputs; photos: photo-like crops of "
                   "CelebA and VoxCeleb2 training data, most small inputs saved as JPEG q30-95 (SRResNet phase)")
    p.add_argument("--init", default="default",
                   help="run folder or checkpoint to start the generator from ('none': random)")
    p.add_argument("--out", type=Path, default=None, help="evaluate: where results go (default resources/superres "
                   "or the run folder in smoke)")
    p.add_argument("--images", type=positive_int, default=100, help="evaluate: number of test images")
    p.add_argument("--ship", action="store_true", help="evaluate: also write weights/sr-xS-*.pt and model cards")
    p.add_argument("--force", action="store_true", help="let --ship replace existing weights/sr-xS-*.pt")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    profile = config.get_profile(a.profile)
    if a.phase == "evaluate":
        if a.ship:
            for phase in ("srresnet", "srgan"):
                check_output(config.WEIGHTS_DIR / f"sr-x{a.scale}-{phase}.pt", a.force)
        root = a.run_dir or config.RUNS_DIR / "superres"
        out = a.out or config.results_dir("superres", profile, smoke=root)
        results, _ = evaluate_test(a.scale, profile, out, run_root=root, limit=a.images, progress=not a.no_progress)
        print(json.dumps(results["methods"], indent=2))
        if a.ship:
            for path in ship(a.scale, profile, results, run_root=root, exclusive=not a.force):
                print(f"wrote {path}")
        return 0
    cfg = hparams(profile, a.scale, a.phase)
    if a.data == "photos":
        cfg = photo_hparams(cfg, profile)
    cfg = replace(cfg, steps=a.steps or cfg.steps, minutes=a.minutes if a.minutes is not None else cfg.minutes,
                  perceptual=a.perceptual or cfg.perceptual)
    run_dir = a.run_dir or default_run_dir(profile, a.scale, a.phase)
    t = time.time()
    summary = train(cfg, profile, run_dir, init=a.init, progress=not a.no_progress)
    print(f"superres {a.phase} x{a.scale}: {summary['steps']} steps, best {summary['best']} "
          f"({time.time() - t:.0f} s this session) -> {run_dir}")
    return 0


# --- command line: aeutils upscale -----------------------------------------------------------------

def register(sub) -> None:
    p = batch.add_parser(sub, "upscale", ".png",
                         description="Super-resolve an image with a shipped model (trained on CelebA faces), "
                                     "tile by tile so that large images fit in bounded memory.")
    p.add_argument("--scale", type=int, choices=(4, 8), default=4)
    p.add_argument("--variant", choices=("srgan", "srresnet"), default="srresnet",
                   help="srresnet (default): closest to the original on faces from every source tried, "
                   "small JPEG inputs included; srgan: sharper, invents texture, often further off")
    p.add_argument("--model", default=None, help="shipped model name or .pt file (default sr-xSCALE-VARIANT)")
    p.add_argument("--tile", type=int, default=128, help="tile side in input pixels (bounds memory)")
    p.set_defaults(func=run_upscale)


def load(ck: dict) -> SRResNet:
    """A shipped generator from its file's dict (`zoo.load_shipped`), in eval mode."""
    g = SRResNet(**ck["arch"])
    g.load_state_dict(ck["state_dict"])
    return g.eval()


def run_upscale(args) -> int:
    if args.tile < 8:
        raise UserError(f"--tile must be at least 8 pixels, not {args.tile}")

    @functools.cache
    def load() -> SRResNet:
        model = zoo.load(args.model or f"sr-x{args.scale}-{args.variant}", task=TASK.name)
        if model.scale != args.scale:
            raise UserError(f"model {args.model} upscales x{model.scale}, not x{args.scale}")
        return model

    def one(src: Path, dst: Path) -> str:
        im = load_rgb(src)
        w, h = im.width * args.scale, im.height * args.scale
        check_pixels(w, h, f"the x{args.scale} output of {src}")  # the output is held whole to be written
        sr = upscale_tiled(load(), to_tensor(im), args.tile, progress=batch.tile_progress(args))
        save_image(Image.fromarray(sr, "RGB"), dst, exclusive=not args.force)
        return f"{src} ({im.width}x{im.height}) -> {dst} ({w}x{h})"
    return batch.run(args, one, load)


# --- figures and tables (drawn from saved runs and results) ----------------------------------------

def plot_curves(runs: dict[str, Path], keys=("val/psnr", "val/grad_ratio", "train/pixel_l1")):
    """Validation / training curves of several runs side by side (one panel per key)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.2))
    for ax, key in zip(np.atleast_1d(axes), keys):
        for label, run_dir in runs.items():
            steps, values = tb.read_scalars(run_dir, key)
            if steps:
                ax.plot(steps, values, label=label, marker="o" if len(steps) < 20 else None)
        ax.set_title(key)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].legend()
    fig.tight_layout()
    return fig


def plot_samples_by_step(run_dir: Path, rows: int = 4, title: str = ""):
    """The logged validation samples (LR / SR / HR rows) at a few steps, stacked: training at a glance."""
    import matplotlib.pyplot as plt

    grids = tb.read_images(run_dir, "val/lr_sr_hr")
    if len(grids) > rows:
        grids = [grids[round(i * (len(grids) - 1) / (rows - 1))] for i in range(rows)]
    h = grids[-1][1].shape[0] // 3  # each grid: rows of input (nearest), output, ground truth
    strips = [(f"step {step}", grid[h:2 * h]) for step, grid in grids] + [("ground truth", grids[-1][1][2 * h:])]
    fig, axes = plt.subplots(len(strips), 1, figsize=(12, 1.6 * len(strips) + 0.5), squeeze=False)
    for ax, (label, strip) in zip(axes[:, 0], strips):
        ax.imshow(strip)
        ax.set_ylabel(label, rotation=0, ha="right", va="center")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title or f"{Path(run_dir).name}: validation samples by step")
    fig.tight_layout()
    return fig


def plot_comparison(examples: list[dict], scale: int, methods=("bicubic", "srresnet", "srgan"), crop: float = 0.5):
    """LR input / bicubic / SRResNet / SRGAN / ground truth side by side, one row per image; the
    right half of each row zooms into the central `crop` fraction, where detail differs."""
    import matplotlib.pyplot as plt

    cols = ["lr", *[m for m in methods if m in examples[0]], "hr"]
    names = {"lr": f"input ({examples[0]['lr'].shape[1]} px)", "hr": "ground truth", "srresnet": "SRResNet",
             "srgan": "SRGAN", "bicubic": "bicubic", "lanczos": "Lanczos"}
    fig, axes = plt.subplots(2 * len(examples), len(cols), figsize=(2.2 * len(cols), 4.4 * len(examples)),
                             squeeze=False)
    for r, ex in enumerate(examples):
        for c, key in enumerate(cols):
            im = ex[key]
            if key == "lr":
                im = np.asarray(Image.fromarray(im).resize((ex["hr"].shape[1], ex["hr"].shape[0]), Image.NEAREST))
            h, w = im.shape[:2]
            dh, dw = int(h * (1 - crop) / 2), int(w * (1 - crop) / 2)
            for k, shown in enumerate((im, im[dh:h - dh, dw:w - dw])):
                ax = axes[2 * r + k, c]
                ax.imshow(shown, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0 and k == 0:
                    ax.set_title(names.get(key, key))
    fig.suptitle(f"x{scale} super-resolution of CelebA test faces (second row of each: centre zoom)")
    fig.tight_layout()
    return fig


def results_table(results: dict) -> str:
    """The measured numbers of one scale as a markdown table."""
    src = results["feature_source"]
    lines = [f"x{results['scale']}, {results['images']} images ({results['data']}), {results['crop']} crops",
             "", f"| method | PSNR (dB) | SSIM | grad_ratio | feature_dist ({src}) |", "|---|---|---|---|---|"]
    for name, m in results["methods"].items():
        fd = f"{m['feature_dist']:.4f}" if "feature_dist" in m else "-"
        lines.append(f"| {name} | {m['psnr']:.2f} | {m['ssim']:.4f} | {m['grad_ratio']:.3f} | {fd} |")
    return "\n".join(lines)


TASK = Task("superres", main=main, load=load, card=model_card)
