"""Training repair models with the shared loop: a study model on aligned faces (the blind one, the
specialists, the notebook's architecture comparison) or a wide one on photo-like crops at every
strength, and `main(argv)` behind `aeutils train repair`:

    aeutils train repair --profile cpu --arch unet --damage blind --minutes 35
"""
from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from aeutils import config, metrics, train, zoo
from aeutils.benchmark import robustness
from aeutils.datasets import damage, photos
from aeutils.datasets.sources import face_split
from aeutils.errors import UserError
from aeutils.images import check_output, to_uint8
from aeutils.models.repair import build
from aeutils.options import OneLineParser, add_training_options, positive_float
from aeutils.tasks.repair.data import RepairPairs, WidePairs, fixed_cases
from aeutils.tasks.repair.hparams import (
    INPUTS,
    INPUTS_TOLD,
    JPEG_KINDS,
    JPEG_TRAIN,
    JPEG_VAL,
    MODELS,
    WIDE_LR_SCALE,
    WIDE_SCALE,
    study_hparams,
    told,
    wide_arch,
    wide_hparams,
)
from aeutils.tasks.repair.infer import SHIPPED, load_model, mark, repair_array, repair_known, run_told

LOSS = "MSE of what the command returns (known pixels kept where a mask is given: only holes count)"
HOLE_LOSS = "each crop's MSE inside its holes, averaged over crops (small holes count as much as large ones)"


def _step(model: nn.Module, batch) -> dict:
    """MSE of what `repair_array` returns: where a sample's mask marks holes, its known pixels are
    kept from the input, so only the holes are learned (and scored) there."""
    clean, inp = batch
    out = model(inp)
    mask = inp[:, 3:]
    has_holes = mask.flatten(1).amax(1).view(-1, 1, 1, 1) > 0.5
    out = torch.where(has_holes & (mask < 0.5), inp[:, :3], out)
    mse = torch.mean((out - clean) ** 2)
    return {"loss": mse, "psnr": -10 * torch.log10(mse.detach())}


def _hole_step(model: nn.Module, batch) -> dict:
    """A wide hole model's loss: each crop's MSE inside its holes, then the mean over crops. With the
    MSE over all pixels (`_step`) a third of a face missing outweighed a few small holes forty to one,
    and the model stayed up to 0.8 dB behind its biharmonic fill on 6-15 px holes (validation, 2026-12-03)."""
    clean, inp = batch
    mask = inp[:, 3:]
    per_crop = ((model(inp) - clean) ** 2 * mask).flatten(1).sum(1) / (3 * mask.flatten(1).sum(1)).clamp_min(1)
    mse = per_crop.mean()
    return {"loss": mse, "psnr": -10 * torch.log10(mse.detach())}


def _start(arch: dict, run_dir: Path, init: str | None, reads_level: bool = False) -> tuple[nn.Module, str | None]:
    """A new model of `arch`, with the weights of shipped model `init` unless the run resumes; and the
    init to record (None on resume: the first session's record is kept, see train.fit). A model that
    `reads_level` (a told damage) started from one whose fourth channel held only zeros (`INPUTS`, no
    mask) starts with that channel's weights zero: it begins as `init` and learns to read the level."""
    model = build(arch)
    if not init or (Path(run_dir) / "last.pt").exists():
        return model, None
    start, ck = load_model(init)

    def weights_of(a: dict) -> dict:  # keep_mean has no weights; a shipped file may hold lists for tuples
        return json.loads(json.dumps({**a, "keep_mean": None}))

    if weights_of(ck["arch"]) != weights_of(arch):
        raise UserError(f"--init {init}: its architecture {ck['arch']} is not {arch}")
    model.load_state_dict(start.state_dict())
    if reads_level and ck.get("inputs") == INPUTS:
        with torch.no_grad():
            first = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
            first.weight[:, 3:] = 0
    return model, init


def train_model(arch: dict, kinds: list[str], profile: str, run_dir: Path, steps: int | None = None,
                minutes: float | None = None, progress: bool = True, seed: int = 0, init: str | None = None,
                **overrides) -> tuple[nn.Module, dict]:
    """Train one repair model on `kinds` (the blind model: all of them) with the shared loop;
    best.pt is chosen on PSNR over a fixed validation mix. `overrides` replace fields of the
    profile's `study_hparams` (e.g. crop=32). `init`: a shipped model of the same architecture to start
    from (e.g. the blind model, to specialise it on one damage); ignored when the run resumes.
    Returns the best model and the summary."""
    hp = replace(study_hparams(profile), **overrides)
    if len(kinds) == 1 and kinds[0] in damage.HOLE_KINDS and "mask_keep" not in overrides:
        # a hole specialist always has a mask: given, or the black pixels (`aeutils repair`)
        hp = replace(hp, mask_keep=1.0)
    train.seed_all(seed)
    model, started_from = _start(arch, run_dir, init)
    faces = face_split("train", profile, limit=None if profile != "smoke" else 8)
    loader = DataLoader(RepairPairs(faces, kinds, hp.crop, hp.mask_keep), batch_size=hp.batch,
                        shuffle=True, drop_last=True)
    val = fixed_cases("val", profile, kinds, hp.val_images, per_kind=False, seed=1)

    def evaluate_val(m):
        scores: dict[str, list] = {}
        for x, d in val:
            out = repair_array(m, to_uint8(d.image), None if d.mask is None else d.mask[0].numpy() > 0.5)
            scores.setdefault(d.kind, []).append(metrics.psnr(out, to_uint8(x)))
        res = {f"psnr_{k}": float(np.mean(v)) for k, v in scores.items()}
        res["psnr"] = float(np.mean([p for v in scores.values() for p in v]))
        return res

    def images(m):
        x, d = val[0]
        out = repair_array(m, to_uint8(d.image), None if d.mask is None else d.mask[0].numpy() > 0.5)
        return {"val/clean_damaged_repaired": torch.stack([x, d.image, torch.from_numpy(out).permute(2, 0, 1) / 255])}

    cfg = train.LoopConfig(max_steps=hp.steps if steps is None else steps, lr=hp.lr, weight_decay=hp.weight_decay,
                           val_every=hp.val_every, image_every=hp.image_every, ckpt_every=100,
                           max_minutes=minutes, progress=progress,
                           hparams=dict(arch=json.dumps(arch), kinds=",".join(kinds), profile=profile,
                                        crop=hp.crop, batch=hp.batch, mask_keep=hp.mask_keep,
                                        init=started_from))
    summary = train.fit(model, _step, loader, evaluate_val, run_dir, cfg, images=images)
    train.load_best(model, run_dir)
    return model.eval(), summary


def train_wide(kind: str, profile: str, run_dir: Path, steps: int | None = None, minutes: float | None = None,
               progress: bool = True, seed: int = 0, init: str | None = None, jpeg: bool = False,
               **overrides) -> tuple[nn.Module, dict]:
    """Train a model that holds up on any photo at any strength of `kind` (`wide_arch`, WidePairs),
    with the shared loop; best.pt is chosen on the validation sweep of three sources
    (`photos.validation_faces`: CelebA and VoxCeleb2 validation identities, lfw-val), and for the
    kinds trained on soft crops too (WIDE_SCALE) a fourth of them softened (`photos.softened`): the best mean
    PSNR among the checkpoints that never make a photo worse, nor for holes its fill worse
    (`robustness.summary`'s `select`).
    `init`: a shipped model of the same architecture to start from; ignored when the run resumes.
    `jpeg`: a model for JPEG files (JPEG_KINDS), trained on crops saved as JPEGs (JPEG_TRAIN) and chosen
    on validation faces saved at JPEG_VAL (a hole model against Telea's fill)."""
    holes = kind in damage.HOLE_KINDS
    if jpeg and kind not in JPEG_KINDS:
        raise UserError(f"--jpeg trains a model for JPEG files of {', '.join(JPEG_KINDS)}, not {kind}")
    saved_as = JPEG_VAL if jpeg else None
    hp = wide_hparams(profile)
    hp = replace(hp, lr=hp.lr * WIDE_LR_SCALE.get(kind, 1.0), scale=WIDE_SCALE.get(kind, hp.scale),
                 val_images=hp.hole_val_images if holes else hp.val_images)
    hp = replace(hp, **overrides)
    arch = wide_arch(kind, profile)
    train.seed_all(seed)
    model, started_from = _start(arch, run_dir, init, told(kind, "wide"))
    mark(model, kind, "wide", jpeg)
    crops = photos.PhotoCrops(photos.training_faces(profile), hp.crop, scale=hp.scale)
    loader = DataLoader(WidePairs(crops, kind, JPEG_TRAIN if jpeg else None), batch_size=hp.batch, shuffle=True,
                        drop_last=True)
    val = photos.validation_faces(profile, hp.val_images)
    if kind in WIDE_SCALE:  # a model trained to hold up on soft photos is chosen on them too
        val["soft"] = photos.softened(val, hp.val_images)

    def evaluate_val(m):
        results = robustness.sweep(kind, {"model": m}, val, run_told, seed=1, saved_as=saved_as)
        scores = robustness.summary(results, "model", robustness.reference(kind, saved_as))
        return {k: v for k, v in scores.items() if k not in ("short", "reference")}

    def images(m):
        x = next(iter(val.values()))[0]
        d = damage.sweep_damage(kind, x, damage.SWEEP[kind][1][2], seed=1)
        out = repair_known(m, to_uint8(d.image), d.params, None if d.mask is None else d.mask[0].numpy() > 0.5)
        return {"val/clean_damaged_repaired": torch.stack([x, d.image, torch.from_numpy(out).permute(2, 0, 1) / 255])}

    cfg = train.LoopConfig(max_steps=hp.steps if steps is None else steps, lr=hp.lr, val_every=hp.val_every,
                           image_every=hp.image_every, ckpt_every=100, max_minutes=minutes, progress=progress,
                           select_key="select", validate_start=started_from is not None,
                           hparams=dict(arch=json.dumps(arch), kinds=kind, strengths="wide", profile=profile,
                                        crop=hp.crop, batch=hp.batch, scale="{:g}-{:g}".format(*hp.scale),
                                        val=",".join(val), val_images=hp.val_images, init=started_from,
                                        loss=HOLE_LOSS if holes else LOSS,
                                        saved_as="{}-{}".format(*JPEG_TRAIN) if jpeg else None))
    # Plain MSE: the mean per-photo log MSE (each photo's PSNR counting alike, so light damage would
    # weigh as much as heavy) was tried and drove the JPEG and pixelate models to the identity within
    # 100-500 steps (measured, 2026-12-02), the clean photos' huge gradients swamping Adam's scale.
    summary = train.fit(model, _hole_step if holes else _step, loader, evaluate_val, run_dir, cfg, images=images)
    train.load_best(model, run_dir)
    return model.eval(), summary


def compare_architectures(profile: str, minutes: float | None = None, root: Path | None = None,
                          progress: bool = False) -> dict[str, dict[str, nn.Module]]:
    """Train every architecture of the study on each damage of `study_hparams(profile).compare` alone
    (runs/repair-compare-PROFILE/<arch>-<kind>, resumed if already there; `minutes` caps each run).
    Returns {arch: {kind: model}} for `evaluate`."""
    cmp = study_hparams(profile).compare
    root = root or config.RUNS_DIR / f"repair-compare-{profile}"
    out: dict[str, dict[str, nn.Module]] = {}
    for name, table in MODELS.items():
        for kind in cmp.kinds:
            model, _ = train_model(table[profile], [kind], profile, root / f"{name}-{kind}", steps=cmp.steps,
                                   minutes=minutes, progress=progress, crop=cmp.crop)
            out.setdefault(name, {})[kind] = model
    return out


def blind_model(profile: str, progress: bool = False) -> tuple[nn.Module, str]:
    """The blind model the notebook evaluates: the shipped one (cpu/paper) when it is there, else a
    tiny one trained on the spot (smoke). Returns the model and where it came from."""
    if profile != "smoke" and (config.WEIGHTS_DIR / f"{SHIPPED}.pt").is_file():
        model, _ = load_model(SHIPPED)
        return model, f"weights/{SHIPPED}.pt"
    run_dir = config.RUNS_DIR / f"repair-blind-{profile}"
    model, _ = train_model(MODELS["unet"][profile], list(damage.KINDS), profile, run_dir, progress=progress)
    return model, str(run_dir)


def specialist_models(profile: str, progress: bool = False) -> tuple[dict[str, nn.Module], dict[str, str]]:
    """The per-damage models `aeutils repair --damage KIND` uses: weights/repair-KIND.pt where shipped
    (cpu/paper), else tiny ones trained on the spot (smoke). Returns {kind: model} and where each came from."""
    models, sources = {}, {}
    for kind in damage.KINDS:
        name = f"repair-{kind}"
        if profile != "smoke" and (config.WEIGHTS_DIR / f"{name}.pt").is_file():
            models[kind], _ = load_model(name)
            sources[kind] = f"weights/{name}.pt"
        elif profile == "smoke":
            run_dir = config.RUNS_DIR / f"repair-unet-{kind}-{profile}"
            models[kind], _ = train_model(MODELS["unet"][profile], [kind], profile, run_dir, steps=4,
                                          progress=progress)
            sources[kind] = str(run_dir)
    return models, sources


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(prog="aeutils train repair", description="Train a damage-repair model.")
    add_training_options(p, run_dir="runs/repair-ARCH-DAMAGE-PROFILE, runs/repair-wide-DAMAGE-PROFILE with "
                         "--strengths wide")
    p.add_argument("--arch", choices=list(MODELS), default="unet")
    p.add_argument("--damage", choices=[*damage.KINDS, damage.BLIND], default=damage.BLIND,
                   help="the damage to train on; blind = a random kind per image")
    p.add_argument("--strengths", choices=["study", "wide"], default="study",
                   help="study: the original's damage ranges and aligned faces (notebook 09); wide: every "
                   f"strength from none to heavy on photo-like crops ({', '.join(damage.WIDE)} only)")
    p.add_argument("--jpeg", action="store_true", help=f"with --strengths wide and a damage of "
                   f"{', '.join(JPEG_KINDS)}: the model for JPEG files (repair-DAMAGE-jpeg): crops saved as JPEGs of "
                   f"quality {JPEG_TRAIN[0]}-{JPEG_TRAIN[1]} (holes filled by Telea's fill), chosen on validation "
                   f"faces saved at quality {JPEG_VAL}")
    p.add_argument("--lr", type=positive_float, default=None, help="Adam learning rate (default: the profile's)")
    p.add_argument("--init", default=None, help="start from a shipped repair model of the same architecture "
                   "(name or .pt), e.g. repair-blind to specialise it on one damage")
    p.add_argument("--ship", type=Path, default=None, help="after training, write the best model here "
                   "(a weights/*.pt file; the model card is written separately)")
    p.add_argument("--force", action="store_true", help="let --ship replace an existing file")
    args = p.parse_args(argv)
    profile = config.get_profile(args.profile)
    if args.ship:
        check_output(args.ship, args.force)
    torch.set_num_threads(args.threads)
    kinds = list(damage.KINDS) if args.damage == damage.BLIND else [args.damage]
    start = time.time()
    overrides = {"lr": args.lr} if args.lr else {}
    if args.strengths == "wide":
        if args.damage not in damage.WIDE:
            raise UserError(f"--strengths wide trains {', '.join(damage.WIDE)}, not {args.damage}")
        jpeg = "-jpeg" if args.jpeg else ""
        run_dir = args.run_dir or config.RUNS_DIR / f"repair-wide-{args.damage}{jpeg}-{profile}"
        arch = wide_arch(args.damage, profile)
        model, summary = train_wide(args.damage, profile, run_dir, args.steps, args.minutes, not args.no_progress,
                                    init=args.init, jpeg=args.jpeg, **overrides)
    elif args.jpeg:
        raise UserError("--jpeg trains a wide model: give --strengths wide")
    else:
        run_dir = args.run_dir or config.RUNS_DIR / f"repair-{args.arch}-{args.damage}-{profile}"
        arch = MODELS[args.arch][profile]
        model, summary = train_model(arch, kinds, profile, run_dir, args.steps, args.minutes, not args.no_progress,
                                     init=args.init, **overrides)
    print(json.dumps({"run_dir": str(run_dir), "steps": summary["steps"], "best": summary["best"],
                      "session_seconds": round(time.time() - start, 1)}))
    if args.ship:
        zoo.save_shipped(args.ship, "repair", arch, model, {"val": summary["best"]}, exclusive=not args.force,
                         damage=args.damage,
                         inputs=INPUTS_TOLD[args.damage] if told(args.damage, args.strengths) else INPUTS,
                         profile=profile, steps=summary["steps"], train_seconds=summary["train_seconds"],
                         init=summary["hparams"].get("init"), lr=train.last_lr(summary),
                         sessions=summary["sessions"],
                         loss=summary["hparams"].get("loss", LOSS), scale=summary["hparams"].get("scale"),
                         val_sources=summary["hparams"].get("val"),
                         val_images=summary["hparams"].get("val_images"),
                         strengths=summary["hparams"].get("strengths", "study"),
                         saved_as=summary["hparams"].get("saved_as"))
    return 0
