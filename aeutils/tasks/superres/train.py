"""Super-resolution of faces: SRResNet (pixel loss) then SRGAN (perceptual + adversarial loss).

Ledig et al. 2017 in two phases, as usual: `--phase srresnet` pre-trains the generator on an L1
pixel loss (the PSNR-oriented model); `--phase srgan` fine-tunes it against a discriminator with a
perceptual content loss. `--phase evaluate` measures both on CelebA test identities beside bicubic
and Lanczos upscaling in the same run; `aeutils upscale` applies a shipped model in tiles.

This module trains one phase (`train`) and holds `main`, behind `aeutils train superres` (its --help
opens with the first line above).
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision.utils import make_grid

from aeutils import config
from aeutils.datasets import damage, photos, sources
from aeutils.errors import UserError
from aeutils.images import check_output
from aeutils.models.sr import Discriminator, SRResNet
from aeutils.options import OneLineParser, add_training_options, positive_int
from aeutils.tasks.superres.data import PhotoPairs, center_crop, downscale, eval_images
from aeutils.tasks.superres.evaluate import evaluate_test, measure, model_method, photo_scores
from aeutils.tasks.superres.generators import load_generator_weights
from aeutils.tasks.superres.hparams import (
    DATA,
    LR_NOTE,
    PHASES,
    PHOTO_JPEG,
    PHOTO_LR_NOTE,
    PHOTO_SCALE,
    VARIANTS,
    SRConfig,
    hparams,
    photo_hparams,
)
from aeutils.tasks.superres.losses import SRGAN, feature_encoder, generator_of, make_step
from aeutils.tasks.superres.ship import ship
from aeutils.train import LoopConfig, fit, seed_all


def default_run_dir(profile: str, scale: int, variant: str) -> Path:
    """runs/superres/PROFILE-xSCALE-VARIANT, the folder `evaluate_test` and `ship` read a variant from."""
    return config.RUNS_DIR / "superres" / f"{profile}-x{scale}-{variant}"


def train(cfg: SRConfig, profile: str, run_dir: Path, init: str | None = "default", progress: bool = True) -> dict:
    """Run one phase (resuming from run_dir/last.pt); returns train.fit's summary."""
    seed_all(0)
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


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(prog="aeutils train superres", description=__doc__.splitlines()[0])
    p.add_argument("--phase", choices=PHASES, default="srresnet")
    p.add_argument("--scale", type=int, choices=(4, 8), default=4)
    add_training_options(p, run_dir="runs/superres/PROFILE-xS-PHASE, PROFILE-xS-photo with --data photos; "
                                    "evaluate: runs/superres")
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
            for variant in VARIANTS:
                check_output(config.WEIGHTS_DIR / f"sr-x{a.scale}-{variant}.pt", a.force)
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
    cfg = replace(cfg, steps=cfg.steps if a.steps is None else a.steps,
                  minutes=a.minutes if a.minutes is not None else cfg.minutes,
                  perceptual=a.perceptual or cfg.perceptual)
    run_dir = a.run_dir or default_run_dir(profile, a.scale, "photo" if a.data == "photos" else a.phase)
    t = time.time()
    summary = train(cfg, profile, run_dir, init=a.init, progress=not a.no_progress)
    print(f"superres {a.phase} x{a.scale}: {summary['steps']} steps, best {summary['best']} "
          f"({time.time() - t:.0f} s this session) -> {run_dir}")
    return 0
