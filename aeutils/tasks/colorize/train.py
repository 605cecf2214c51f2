"""Training: one approach of notebook 10 on aligned faces (`train`), or a fine-tune of a shipped model on
photo-like crops (`train_photos`), and `main(argv)` behind `aeutils train colorize`, which ships either."""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from aeutils import config, zoo
from aeutils.datasets import photos
from aeutils.images import check_output
from aeutils.models.colorize import AB_SCALE, Colorizer, classification_loss, rebalance_weights
from aeutils.options import OneLineParser, add_training_options
from aeutils.tasks.colorize.data import LabFaces, ab_statistics, faces
from aeutils.tasks.colorize.evaluate import against_gray, evaluate, select_score
from aeutils.tasks.colorize.figures import comparison_grid, sources_table
from aeutils.tasks.colorize.hparams import PHOTO_SCALE, hparams, photo_hparams
from aeutils.tasks.colorize.model import APPROACHES, DEFAULT_MODEL, NAME, build, load, make_arch
from aeutils.tasks.colorize.ship import ship
from aeutils.train import LoopConfig, fit, seed_all


def default_run_dir(approach: str, profile: str) -> Path:
    return config.RUNS_DIR / "colorize" / profile / approach


def step_fn(model: Colorizer, batch) -> dict:
    """One training step's losses; the targets are the ab averaged to the head's half resolution."""
    L, ab = batch
    out = model(L)
    target = F.avg_pool2d(ab, 2)
    if model.head_kind == "regression":
        rmse = ((out["ab_half"].detach() - target) ** 2).sum(1).mean().sqrt()
        return {"loss": F.mse_loss(out["ab_half"] / AB_SCALE, target / AB_SCALE), "ab_rmse": rmse}
    return {"loss": classification_loss(out["logits"], target, model.bins, model.class_weights)}


def train(approach: str, profile: str, run_dir: str | Path | None = None, steps: int | None = None,
          minutes: float | None = None, progress: bool = True, encoder_source: str = "auto") -> dict:
    """Train one approach on the train identities, choosing best.pt on validation AuC; resumes
    from `run_dir/last.pt`. Returns fit's summary plus the architecture and the mean ab."""
    seed_all(0)
    hp = hparams(profile)
    run_dir = Path(run_dir) if run_dir else default_run_dir(approach, profile)
    if (run_dir / "summary.json").is_file() and (run_dir / "arch.json").is_file():
        done = json.loads((run_dir / "summary.json").read_text())
        if done["steps"] >= (hp.steps if steps is None else steps):  # finished: nothing to train or recompute
            return dict(done, **json.loads((run_dir / "arch.json").read_text()))
    arch = make_arch(approach, profile, encoder_source)
    model = build(arch)
    train_faces = faces("train", profile, crop=hp.crop, limit=hp.train_limit)
    classify = arch["head"] == "classification"
    mean_ab, counts = ab_statistics(train_faces, model.bins if classify else None, hp.prior_limit)
    if classify:
        model.class_weights.copy_(rebalance_weights(counts, model.bins))
    loader = DataLoader(LabFaces(train_faces), batch_size=hp.batch, shuffle=True, drop_last=True)
    val = faces("val", profile, limit=hp.val_limit)
    val_images = [val[i] for i in range(len(val))]
    shown = torch.stack(val_images[:8])

    def evaluate_val(m):
        return evaluate({"m": m}, val_images)["m"]

    def images(m):
        _, grid = comparison_grid({"prediction": m}, shown)
        return {"val/gray_prediction_truth": grid.flatten(0, 1)}

    n_trainable = sum(p.numel() for p in model.trainable_parameters())
    cfg = LoopConfig(max_steps=hp.steps if steps is None else steps, lr=hp.lr, val_every=hp.val_every,
                     image_every=hp.image_every, ckpt_every=50, max_minutes=minutes, select_key="auc",
                     select_mode="max", progress=progress,
                     hparams=dict(approach=approach, profile=profile, batch=hp.batch, crop=hp.crop,
                                  size=str(hp.size), encoder=arch["encoder"], head=arch["head"],
                                  trainable_params=n_trainable))
    summary = fit(model, step_fn, loader, evaluate_val, run_dir, cfg, images=images,
                  params=model.trainable_parameters())
    info = {"arch": arch, "mean_ab": mean_ab.tolist(), "trainable_params": n_trainable,
            "params": sum(p.numel() for p in model.parameters())}
    (run_dir / "arch.json").write_text(json.dumps(info, indent=2))
    return dict(summary, **info)


def train_photos(profile: str, run_dir: str | Path, steps: int | None = None, minutes: float | None = None,
                 progress: bool = True, init: str = DEFAULT_MODEL) -> dict:
    """Fine-tune a shipped colorizer (`init`; ignored when the run resumes) on photo-like crops of
    CelebA training identities and VoxCeleb2 dev frames (`photos.PhotoCrops`, without its colour
    jitter: shifted white balance or saturation would be wrong chroma targets) and without class
    rebalancing: the rare vivid colours it favours are the casts a photo must not get (with it, a run
    from the shipped model drifted to +20 levels of red on the VoxCeleb2 validation identity within
    800 steps, measured 2026-12-02). best.pt is chosen on `select_score` over the three validation
    sources, so a checkpoint that never does worse than gray on a source and adds no cast wins.
    Returns fit's summary plus the architecture."""
    seed_all(0)
    hp = photo_hparams(profile)
    ck = zoo.load_shipped(init, NAME)
    model = load(ck)
    model.class_weights.fill_(1.0)
    crops = photos.PhotoCrops(photos.training_faces(profile), hp.crop, scale=PHOTO_SCALE, jitter=0)
    loader = DataLoader(LabFaces(crops), batch_size=hp.batch, shuffle=True, drop_last=True)
    val = photos.validation_faces(profile, hp.val_images)
    steps = hp.steps if steps is None else steps
    cfg = LoopConfig(max_steps=steps, lr=hp.lr, lr_final=hp.lr / 10, val_every=hp.val_every,
                     image_every=10 * steps, ckpt_every=50, max_minutes=minutes, select_key="select",
                     progress=progress, hparams=dict(data="photos", init=ck["name"], profile=profile,
                                                     batch=hp.batch, crop=hp.crop, scale=str(PHOTO_SCALE),
                                                     threads=torch.get_num_threads()))
    summary = fit(model, step_fn, loader, lambda m: select_score(against_gray(m, val)), run_dir, cfg,
                  params=model.trainable_parameters())
    info_path = Path(run_dir) / "arch.json"
    if info_path.is_file():  # a resumed run: what it started from, before `init` may have been replaced
        info = json.loads(info_path.read_text())
    else:
        info = {"arch": ck["arch"], "init": ck["name"], "init_runs": [*ck.get("runs", []), run_record(ck)]}
        info_path.write_text(json.dumps(info, indent=2))
    return dict(summary, **info)


def run_record(ck: dict) -> str:
    """One line on how a shipped colorizer's file was trained, for the cards of the models started
    from it (a card lists every run behind its weights, the earlier ones from this line)."""
    if ck.get("data") != "photos":
        return f"notebook 10's {ck.get('approach', 'study')} approach, {ck['steps']} steps on aligned CelebA faces"
    arch = ck["arch"]
    output = (f"tint x{arch['tint']:g} in the faces' hue and chroma x{arch['chroma']:g}" if arch.get("hue")
              else f"its output scaled by {arch.get('chroma', 1.0):g}")
    if not ck["steps"]:
        return f"no step: the same weights shipped with {output}, chosen again on validation"
    return (f"{ck['steps']} steps on photo crops ({ck['train_seconds'] / 60:.0f} minutes), step "
            f"{ck['best'].get('step', '?')} chosen on validation, shipped with {output}")


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(prog="aeutils train colorize", description="Train a face colorizer (L -> ab).")
    p.add_argument("--approach", choices=list(APPROACHES), default="scratch-classify")
    add_training_options(p, run_dir="runs/colorize/<profile>/<approach>")
    p.add_argument("--encoder-source", choices=["auto", "vgg16", "face"], default="auto",
                   help="pretrained encoder: VGG16 ImageNet (needs its weights in $TORCH_HOME) or the face codec's")
    p.add_argument("--data", choices=["aligned", "photos"], default="aligned",
                   help="aligned: train --approach on aligned CelebA faces (notebook 10); photos: fine-tune "
                        "--init on photo-like crops of CelebA and VoxCeleb2, chosen on three sources")
    p.add_argument("--init", default=DEFAULT_MODEL,
                   help=f"--data photos: the shipped model to start from (default {DEFAULT_MODEL})")
    p.add_argument("--ship", metavar="NAME", default=None,
                   help="after training, evaluate on the test images once and write weights/NAME.pt")
    p.add_argument("--force", action="store_true", help="let --ship replace an existing weights/NAME.pt")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    profile = config.get_profile(args.profile)
    if args.ship:
        check_output(config.WEIGHTS_DIR / f"{args.ship}.pt", args.force)
    t0 = time.time()
    if args.data == "photos":
        run_dir = Path(args.run_dir) if args.run_dir else default_run_dir("photos", profile)
        summary = train_photos(profile, run_dir, args.steps, args.minutes, not args.no_progress, args.init)
    else:
        run_dir = Path(args.run_dir) if args.run_dir else default_run_dir(args.approach, profile)
        summary = train(args.approach, profile, run_dir, args.steps, args.minutes, not args.no_progress,
                        args.encoder_source)
    print(f"{run_dir}: {summary['steps']} steps, {summary['train_seconds']:.0f} s of training; "
          f"best on validation: {json.dumps(summary['best'])} ({time.time() - t0:.0f} s this session)")
    if args.ship:
        result = ship(run_dir, args.ship, profile, not args.no_progress, exclusive=not args.force)
        shown = f"\n{sources_table(result)}" if args.data == "photos" else f" {json.dumps(result)}"
        print(f"wrote weights/{args.ship}.pt and .md; test:{shown}")
    return 0
