"""Colorization of grayscale faces (notebook 10): data, training, evaluation, and `aeutils colorize`.

Lab colour space: the model sees the lightness L and predicts the chroma ab; the output keeps the
input's L (chroma is fitted to the sRGB gamut at constant L, `color.combine`).

- `LabFaces`: (L, ab) pairs from the face images.
- `train(approach, profile, ...)` / `main(argv)` (`aeutils train colorize`): one of `APPROACHES`.
- `evaluate(colorizers, images)`: ab RMSE, PSNR, AuC of the per-pixel ab error (Zhang et al. 2016)
  and colourfulness with its gap to the ground truth, for models and the "gray" / "mean ab" baselines
  on the same images; all measured on the 8-bit RGB outputs.
- `colorize_image(model, image)`: any size; large images get their ab from a downscaled copy.
- Photos from any source (issue #16): `against_gray` measures a model against leaving the photo gray
  on each source, `select_score` says whether it meets the bars (never worse than gray, no colour
  cast), `train_photos` fine-tunes on photo-like crops (`--data photos`), and `choose_chroma` picks the
  factor that shrinks the predicted chroma toward neutral.
- `ship(run_dir, name, profile)`: either kind of run as weights/NAME.pt, measured once on its test
  images, with its model card (`model_card`); `TASK` declares the task (`aeutils.task`).
"""
from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from aeutils import batch, config, metrics, tb, zoo
from aeutils.color import combine, rgb_to_lab
from aeutils.datasets import photos, sources
from aeutils.errors import UserError
from aeutils.images import check_output, load_rgb, save_image, to_tensor, to_uint8, to_uint8_tensor
from aeutils.models.colorize import AB_SCALE, Colorizer, classification_loss, nearest_bin, predict_ab, rebalance_weights
from aeutils.models.features import pretrained_encoder
from aeutils.options import OneLineParser, add_training_options
from aeutils.task import Task
from aeutils.tiles import tiled
from aeutils.train import LoopConfig, fit, load_best

DEFAULT_MODEL = "colorize-faces"

# name -> (encoder, head). "pretrained" is VGG16 ImageNet when the user has its weights, else the
# project's face-codec encoder (aeutils.models.features.pretrained_encoder).
APPROACHES = {
    "scratch": ("scratch", "regression"),
    "pretrained": ("pretrained", "regression"),
    "scratch-classify": ("scratch", "classification"),
    "pretrained-classify": ("pretrained", "classification"),
}

# Hyperparameters per profile (the notebook's table). Faces are CelebA's 178x218 resized to 64x78
# (cpu); training takes random 64x64 crops with flips, evaluation the whole 64x78 image.
HPARAMS = {
    "smoke": dict(size=(32, 32), crop=32, batch=4, steps=3, lr=1e-3, val_every=3, image_every=3,
                  val_limit=4, test_limit=4, prior_limit=8, train_limit=8, enc_channels=(8, 16, 24, 32),
                  widths=(24, 16, 16)),
    "cpu": dict(size=(64, 78), crop=64, batch=16, steps=250, lr=1e-3, val_every=50, image_every=200,
                val_limit=100, test_limit=None, prior_limit=1000, train_limit=None,
                enc_channels=(16, 32, 64, 128), widths=(64, 32, 24)),
    "paper": dict(size=(128, 156), crop=128, batch=64, steps=20000, lr=3e-4, val_every=500, image_every=1000,
                  val_limit=None, test_limit=None, prior_limit=None, train_limit=None,
                  enc_channels=(32, 64, 128, 256), widths=(128, 64, 48)),
}
# Fine-tuning on photo-like crops (`train_photos`): the shipped model's architecture, a lower rate
# decayed to a tenth, and the selection on three validation sources every `val_every` steps.
PHOTO_HPARAMS = {
    "smoke": dict(crop=32, batch=4, steps=3, lr=1e-4, val_every=3, val_images=2),
    "cpu": dict(crop=64, batch=16, steps=3000, lr=1e-4, val_every=200, val_images=24),
    "paper": dict(crop=128, batch=64, steps=10000, lr=1e-4, val_every=500, val_images=100),
}
# The crop window is 1/0.6 to 1/0.25 times the crop: whole faces at about the scale `colorize_image`
# shows the model (a photo's shorter side shrunk to WORK_SIDE), tighter and looser framings around it.
PHOTO_SCALE = (0.25, 0.6)
WORK_SIDE = 64  # `colorize_image` predicts ab on a copy whose shorter side is this (the training scale)
MODEL_PIXELS = 1_000_000  # the largest copy the model sees (its features take about 650 bytes a pixel)
TILE = 512  # `colorize_image` converts colours in tiles of this side, so a large photo needs little memory


class LabFaces(Dataset):
    """(L, ab) pairs from a face dataset of RGB tensors: L (1, H, W) in [0, 100], ab (2, H, W)."""

    def __init__(self, faces: Dataset):
        self.faces = faces

    def __len__(self) -> int:
        return len(self.faces)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        lab = rgb_to_lab(self.faces[i])
        return lab[:1], lab[1:]


def default_run_dir(approach: str, profile: str) -> Path:
    return config.RUNS_DIR / "colorize" / profile / approach


def faces(split: str, profile: str, crop: int | None = None, limit: int | None = None) -> sources.FaceImages:
    hp = HPARAMS[profile]
    return sources.face_split(split, profile, crop=crop, limit=limit, resize=hp["size"])


def build(arch: dict) -> Colorizer:
    """A Colorizer from its architecture dict (what a checkpoint or shipped file records)."""
    encoder = arch["encoder"]
    if encoder != "scratch":
        source = {"vgg16-imagenet": "vgg16", "face-codec-encoder": "face"}.get(encoder, encoder)
        encoder = pretrained_encoder(source=source)
    return Colorizer(encoder, arch["head"], tuple(arch["enc_channels"]), tuple(arch["widths"]), arch.get("chroma", 1.0))


def make_arch(approach: str, profile: str, encoder_source: str = "auto") -> dict:
    """The architecture dict of an approach; a pretrained encoder is resolved to its actual source
    (e.g. "face-codec-encoder" when VGG16 ImageNet weights are not in $TORCH_HOME)."""
    if approach not in APPROACHES:
        raise UserError(f"unknown approach {approach!r}; choose from {', '.join(APPROACHES)}")
    encoder, head = APPROACHES[approach]
    if encoder == "pretrained":
        encoder = pretrained_encoder(source=encoder_source).source
    hp = HPARAMS[profile]
    return {"encoder": encoder, "head": head, "enc_channels": list(hp["enc_channels"]), "widths": list(hp["widths"])}


def ab_statistics(images: sources.FaceImages, bins: torch.Tensor | None = None,
                  limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Mean ab (2,) over the pixels of (whole, uncropped) training images, the "mean ab" baseline,
    and the count of pixels per ab bin (Q,) when `bins` are given (for class rebalancing)."""
    total, n = torch.zeros(2, dtype=torch.float64), 0
    counts = None if bins is None else torch.zeros(len(bins), dtype=torch.float64)
    for i in range(len(images) if limit is None else min(limit, len(images))):
        ab = rgb_to_lab(images.image(i))[1:]
        total += ab.double().sum((1, 2))
        n += ab.shape[1] * ab.shape[2]
        if bins is not None:
            counts += torch.bincount(nearest_bin(ab[None], bins).flatten(), minlength=len(bins)).double()
    return (total / n).float(), counts


def step_fn(model: Colorizer, batch) -> dict:
    """One training step's losses; the targets are the ab averaged to the head's half resolution."""
    L, ab = batch
    out = model(L)
    target = F.avg_pool2d(ab, 2)
    if model.head_kind == "regression":
        rmse = ((out["ab_half"].detach() - target) ** 2).sum(1).mean().sqrt()
        return {"loss": F.mse_loss(out["ab_half"] / AB_SCALE, target / AB_SCALE), "ab_rmse": rmse}
    return {"loss": classification_loss(out["logits"], target, model.bins, model.class_weights)}


# ---------------------------------------------------------------------------------------------
# Colorizing and measuring

def colorize_tensor(model: Colorizer | None, rgb: torch.Tensor, work_side: int | None = WORK_SIDE,
                    const_ab: torch.Tensor | None = None) -> torch.Tensor:
    """RGB (N, 3, H, W) in [0, 1] (colour or gray) -> colorized RGB (N, 3, H, W) with the same L.

    The ab are predicted on a copy whose shorter side is `work_side` (never enlarged; None = full
    size), then upsampled bilinearly and recombined with the full-resolution L. `model=None` gives
    the constant-chroma baselines: `const_ab` (2,) everywhere, or gray when that is None too."""
    L = rgb_to_lab(rgb)[:, :1]
    h, w = L.shape[-2:]
    if model is None:
        ab = (torch.zeros(L.shape[0], 2, h, w) if const_ab is None
              else const_ab.view(1, 2, 1, 1).expand(L.shape[0], 2, h, w))
    else:
        ab = predict_chroma(model, L, work_side)
    return combine(L, ab)


def predict_chroma(model: Colorizer, L: torch.Tensor, work_side: int | None = WORK_SIDE) -> torch.Tensor:
    """L (N, 1, H, W) -> ab (N, 2, H, W), predicted on a copy whose shorter side is `work_side` (never
    enlarged; None = full size) and upsampled bilinearly. The copy is refused above MODEL_PIXELS."""
    h, w = L.shape[-2:]
    scale = 1.0 if not work_side else min(1.0, work_side / min(h, w))
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    if size[0] * size[1] > MODEL_PIXELS:
        raise UserError(f"the model would see {size[1]}x{size[0]} pixels, more than its limit of "
                        f"{MODEL_PIXELS / 1e6:g} megapixels: use a smaller --work-side")
    small = L if scale == 1.0 else F.interpolate(L, size=size, mode="bilinear", antialias=True, align_corners=False)
    ab = predict_ab(model, small)
    if ab.shape[-2:] != (h, w):
        ab = F.interpolate(ab, size=(h, w), mode="bilinear", align_corners=False)
    return ab


def image_metrics(pred_u8: np.ndarray, true_u8: np.ndarray) -> dict[str, float]:
    """Colorization metrics of one 8-bit RGB output (H, W, 3) against its ground truth.

    ab_rmse: root mean square of the per-pixel Euclidean ab error (Lab units); auc: area under the
    curve of the fraction of pixels within an ab distance t, t = 0..150, normalised to [0, 1]
    (Zhang et al. 2016); psnr on RGB; colourfulness (Hasler and Suesstrunk) of the output and the
    truth; l_dev: the largest change of L against the truth's (the input's) L; shift_r/g/b: the mean
    error of each RGB channel (8-bit levels), a colour cast where it is far from zero."""
    p = rgb_to_lab(torch.from_numpy(pred_u8).permute(2, 0, 1).double() / 255)
    t = rgb_to_lab(torch.from_numpy(true_u8).permute(2, 0, 1).double() / 255)
    d = (p[1:] - t[1:]).norm(dim=0).flatten().numpy()
    shift = (pred_u8 - true_u8.astype(np.float64)).reshape(-1, 3).mean(0)
    thresholds = np.arange(0, 151)
    within = np.searchsorted(np.sort(d), thresholds, side="right") / d.size
    return {
        "ab_rmse": float(np.sqrt(np.mean(d ** 2))),
        "psnr": metrics.psnr(pred_u8, true_u8),
        "auc": float(np.trapezoid(within, thresholds) / 150),
        "colorfulness": metrics.colorfulness(pred_u8),
        "colorfulness_gt": metrics.colorfulness(true_u8),
        "l_dev": float((p[0] - t[0]).abs().max()),
        **{f"shift_{c}": float(v) for c, v in zip("rgb", shift)},
    }


def _summarise(rows: list[dict]) -> dict[str, float]:
    out = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "l_dev"}
    out["colorfulness_gap"] = out["colorfulness"] - out["colorfulness_gt"]
    out["l_dev_max"] = float(max(r["l_dev"] for r in rows))
    out["n_images"] = len(rows)
    return out


def evaluate(colorizers: dict, images, work_side: int | None = WORK_SIDE, progress: bool = False,
             batch: int = 32) -> dict[str, dict]:
    """Metrics averaged over images for each entry of `colorizers`: a Colorizer, "gray", or a
    (2,) tensor of constant ab (the "mean ab" baseline). `images`: a sequence of RGB tensors (3, H, W);
    consecutive images of one size are colorized as a batch."""
    rows = evaluate_images(colorizers, images, work_side, progress, batch)
    return {name: _summarise(r) for name, r in rows.items()}


def evaluate_images(colorizers: dict, images, work_side: int | None = WORK_SIDE, progress: bool = False,
                    batch: int = 32) -> dict[str, list[dict]]:
    """`evaluate` per image: {name: [image_metrics of each image]}."""
    images = list(images)
    groups, start = [], 0
    while start < len(images):
        end = start + 1
        while end < len(images) and end - start < batch and images[end].shape == images[start].shape:
            end += 1
        groups.append(torch.stack(images[start:end]))
        start = end
    rows: dict[str, list] = {name: [] for name in colorizers}
    for m in colorizers.values():
        if isinstance(m, torch.nn.Module):
            m.eval()
    with torch.no_grad():
        for x in tqdm(groups, desc="evaluate", disable=not progress):
            truth = [to_uint8(t) for t in x]
            for name, m in colorizers.items():
                if isinstance(m, torch.nn.Module):
                    y = colorize_tensor(m, x, work_side)
                else:
                    y = colorize_tensor(None, x, const_ab=None if isinstance(m, str) else m)
                rows[name] += [image_metrics(to_uint8(yi), ti) for yi, ti in zip(y, truth)]
    return rows


CAST_MAX = 2.0  # 8-bit levels a model's mean colour may pass the truth's by (the repair models' bar)


def against_gray(model: Colorizer, sources: dict[str, list[torch.Tensor]]) -> dict[str, dict]:
    """The model against leaving the photo gray (what a user has without it), per source of
    {source: [RGB (3, H, W)]} (`photos.validation_faces` / `test_faces`): mean ab RMSE of both and
    their ratio, mean PSNR of both, the images the model makes worse than gray (lower PSNR), AuC,
    colourfulness, and the mean RGB error of both (the colour cast, 8-bit levels)."""
    out = {}
    for source, images in sources.items():
        rows = evaluate_images({"gray": "gray", "model": model}, images)
        g, m = _summarise(rows["gray"]), _summarise(rows["model"])
        out[source] = {
            "ab_rmse_gray": g["ab_rmse"], "ab_rmse": m["ab_rmse"], "ratio": m["ab_rmse"] / g["ab_rmse"],
            "psnr_gray": g["psnr"], "psnr": m["psnr"],
            "worse": sum(a["psnr"] < b["psnr"] for a, b in zip(rows["model"], rows["gray"])),
            "auc": m["auc"], "colourfulness": m["colorfulness"], "colourfulness_gt": m["colorfulness_gt"],
            "rgb_shift": [round(m[f"shift_{c}"], 2) for c in "rgb"],
            "rgb_shift_gray": [round(g[f"shift_{c}"], 2) for c in "rgb"], "images": len(images)}
    return out


def select_score(per_source: dict[str, dict]) -> dict[str, float]:
    """What picks a photo-trained checkpoint and the chroma factor, from `against_gray`: `gain`, the
    mean over sources of the ab RMSE saved against gray (1 - ratio); `cast_added`, the largest
    `metrics.cast_added` of a channel of a source, gray being the reference (anywhere between gray's
    mean error and none is less colour than the truth, CAST_MAX past either is a colour the photo does
    not have); `worse`, the fraction of images worse than gray; `select` (`metrics.bars_select`):
    `gain` when no source is worse than gray on average and no cast is added, otherwise minus how far
    it falls short (ratio above 1 plus levels of cast), so a checkpoint that meets the bars always
    wins over one that does not."""
    rs = per_source.values()
    cast = max(metrics.cast_added(a, b, margin=CAST_MAX) for r in rs
               for a, b in zip(r["rgb_shift"], r["rgb_shift_gray"]))
    shortfall = sum(max(0.0, r["ratio"] - 1) for r in rs) + cast
    gain = float(np.mean([1 - r["ratio"] for r in rs]))
    return {"gain": gain, "cast_added": cast, "worse": sum(r["worse"] for r in rs) / sum(r["images"] for r in rs),
            "select": metrics.bars_select(gain, shortfall)}


def comparison_grid(colorizers: dict, images, work_side: int | None = WORK_SIDE) -> tuple[list[str], torch.Tensor]:
    """Rows gray input / each colorizer / ground truth for a few images: (names, (R, N, 3, H, W))."""
    names = ["gray input"] + list(colorizers) + ["ground truth"]
    rows = []
    with torch.no_grad():
        batch = torch.stack(list(images))
        rows.append(colorize_tensor(None, batch))
        for m in colorizers.values():
            if isinstance(m, torch.nn.Module):
                m.eval()
                rows.append(colorize_tensor(m, batch, work_side))
            else:
                rows.append(colorize_tensor(None, batch, const_ab=None if isinstance(m, str) else m))
        rows.append(batch)
    return names, torch.stack(rows)


# ---------------------------------------------------------------------------------------------
# Training

def train(approach: str, profile: str, run_dir: str | Path | None = None, steps: int | None = None,
          minutes: float | None = None, progress: bool = True, encoder_source: str = "auto") -> dict:
    """Train one approach on the train identities, choosing best.pt on validation AuC; resumes
    from `run_dir/last.pt`. Returns fit's summary plus the architecture and the mean ab."""
    torch.manual_seed(0)
    hp = HPARAMS[profile]
    run_dir = Path(run_dir) if run_dir else default_run_dir(approach, profile)
    if (run_dir / "summary.json").is_file() and (run_dir / "arch.json").is_file():
        done = json.loads((run_dir / "summary.json").read_text())
        if done["steps"] >= (steps or hp["steps"]):  # finished: nothing to train or recompute
            return dict(done, **json.loads((run_dir / "arch.json").read_text()))
    arch = make_arch(approach, profile, encoder_source)
    model = build(arch)
    train_faces = faces("train", profile, crop=hp["crop"], limit=hp["train_limit"])
    classify = arch["head"] == "classification"
    mean_ab, counts = ab_statistics(train_faces, model.bins if classify else None, hp["prior_limit"])
    if classify:
        model.class_weights.copy_(rebalance_weights(counts, model.bins))
    loader = DataLoader(LabFaces(train_faces), batch_size=hp["batch"], shuffle=True, drop_last=True)
    val = faces("val", profile, limit=hp["val_limit"])
    val_images = [val[i] for i in range(len(val))]
    shown = torch.stack(val_images[:8])

    def evaluate_val(m):
        return evaluate({"m": m}, val_images)["m"]

    def images(m):
        _, grid = comparison_grid({"prediction": m}, shown)
        return {"val/gray_prediction_truth": grid.flatten(0, 1)}

    n_trainable = sum(p.numel() for p in model.trainable_parameters())
    cfg = LoopConfig(max_steps=steps or hp["steps"], lr=hp["lr"], val_every=hp["val_every"],
                     image_every=hp["image_every"], ckpt_every=50, max_minutes=minutes, select_key="auc",
                     select_mode="max", progress=progress,
                     hparams=dict(approach=approach, profile=profile, batch=hp["batch"], crop=hp["crop"],
                                  size=str(hp["size"]), encoder=arch["encoder"], head=arch["head"],
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
    torch.manual_seed(0)
    hp = PHOTO_HPARAMS[profile]
    ck = zoo.load_shipped(init, TASK.name)
    model = load(ck)
    model.class_weights.fill_(1.0)
    crops = photos.PhotoCrops(photos.training_faces(profile), hp["crop"], scale=PHOTO_SCALE, jitter=0)
    loader = DataLoader(LabFaces(crops), batch_size=hp["batch"], shuffle=True, drop_last=True)
    val = photos.validation_faces(profile, hp["val_images"])
    steps = steps or hp["steps"]
    cfg = LoopConfig(max_steps=steps, lr=hp["lr"], lr_final=hp["lr"] / 10, val_every=hp["val_every"],
                     image_every=10 * steps, ckpt_every=50, max_minutes=minutes, select_key="select",
                     progress=progress, hparams=dict(data="photos", init=ck["name"], profile=profile,
                                                     batch=hp["batch"], crop=hp["crop"], scale=str(PHOTO_SCALE),
                                                     threads=torch.get_num_threads()))
    summary = fit(model, step_fn, loader, lambda m: select_score(against_gray(m, val)), run_dir, cfg,
                  params=model.trainable_parameters())
    info = {"arch": ck["arch"], "init": ck["name"]}
    (Path(run_dir) / "arch.json").write_text(json.dumps(info, indent=2))
    return dict(summary, **info)


CHROMA_FACTORS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3)  # what `choose_chroma` tries


def choose_chroma(model: Colorizer, val: dict[str, list[torch.Tensor]]) -> dict[str, dict]:
    """Set `model.chroma` to the factor of CHROMA_FACTORS with the best `select_score` on the
    validation sources; returns `against_gray` at that factor. Shrinking the predicted chroma toward
    neutral trades colour for safety: the output moves toward the gray input, its cast shrinks with it."""
    measured = {}
    for f in CHROMA_FACTORS:
        model.chroma = f
        measured[f] = against_gray(model, val)
    model.chroma = max(measured, key=lambda f: select_score(measured[f])["select"])
    return measured[model.chroma]


def load_run(run_dir: str | Path) -> Colorizer:
    """The checkpoint of a run chosen on validation, in eval mode."""
    run_dir = Path(run_dir)
    info = json.loads((run_dir / "arch.json").read_text())
    model = build(info["arch"])
    load_best(model, run_dir)
    return model.eval()


def ship(run_dir: str | Path, name: str, profile: str, progress: bool = True, exclusive: bool = False) -> dict:
    """Ship a run's checkpoint chosen on validation as weights/NAME.pt, measured once on its test
    images, with its model card weights/NAME.md (`model_card`); `exclusive`: refuse to replace an
    existing .pt. A `train` run (aligned faces, notebook 10) is measured on the test identities
    (`evaluate`); a `train_photos` run first gets its chroma factor chosen on validation
    (`choose_chroma`), then is measured against gray on the three test sources (`against_gray`).
    Returns the test measurement."""
    run_dir = Path(run_dir)
    model = load_run(run_dir)
    info = json.loads((run_dir / "arch.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    path = config.WEIGHTS_DIR / f"{name}.pt"
    if "init" in info:  # a `train_photos` run, which starts from a shipped model
        n = PHOTO_HPARAMS[profile]["val_images"]
        chosen = choose_chroma(model, photos.validation_faces(profile, n))
        test = against_gray(model, photos.test_faces(n, profile))
        zoo.save_shipped(path, TASK.name, dict(info["arch"], chroma=model.chroma), model,
                         {"val": chosen, "val_score": select_score(chosen), "test": test}, exclusive=exclusive,
                         data="photos", init=info["init"], profile=profile, steps=summary["steps"],
                         train_seconds=summary["train_seconds"], best=summary["best"],
                         sessions=summary["sessions"], threads=summary["hparams"].get("threads"))
    else:
        images = faces("test", profile, limit=HPARAMS[profile]["test_limit"])
        test = evaluate({"model": model}, [images[i] for i in range(len(images))], progress=progress)["model"]
        zoo.save_shipped(path, TASK.name, info["arch"], model, test, exclusive=exclusive,
                         approach=summary["hparams"]["approach"], profile=profile, steps=summary["steps"],
                         train_seconds=summary["train_seconds"], val=summary["best"])
    path.with_suffix(".md").write_text(model_card(path))
    return test


def sources_table(per_source: dict[str, dict]) -> str:
    """A markdown table of `against_gray`: one row per source."""
    lines = ["| source | images | ab RMSE gray | ab RMSE model | ratio | PSNR gray | PSNR model | worse than gray "
             "| mean RGB error model | gray |", "|---" * 10 + "|"]
    for source, r in per_source.items():
        lines.append(f"| {source} | {r['images']} | {r['ab_rmse_gray']:.2f} | {r['ab_rmse']:.2f} | {r['ratio']:.2f} "
                     f"| {r['psnr_gray']:.2f} | {r['psnr']:.2f} | {r['worse']} of {r['images']} "
                     f"| {' / '.join(f'{v:+.1f}' for v in r['rgb_shift'])} "
                     f"| {' / '.join(f'{v:+.1f}' for v in r['rgb_shift_gray'])} |")
    return "\n".join(lines)


HEADS = {"classification": ("quantized-ab classification",
                            "logits over quantized ab bins at stride 2, annealed-mean decoding"),
         "regression": ("ab regression", "ab regressed at stride 2")}


def model_card(weights: Path) -> str:
    """The model card of a colorizer shipped by `ship`, from its file alone: architecture, data and its
    terms, how it was trained and chosen, and its test numbers: against gray on three sources for a
    photo-trained model (`data` "photos"), on the CelebA test identities for a study's approach."""
    ck = zoo.load_shipped(str(weights), TASK.name)
    arch = ck["arch"]
    params = sum(p.numel() for p in build(arch).parameters())
    photo = ck.get("data") == "photos"
    what, decoding = HEADS[arch["head"]]
    made = f'Colorizer(encoder="{arch["encoder"]}", head="{arch["head"]}")'
    architecture = f"""- Architecture: `{made}` (`aeutils.models.colorize`),
  encoder channels {"/".join(map(str, arch["enc_channels"]))} at strides 2/4/8/16, U-Net decoder
  {"/".join(map(str, arch["widths"]))}, {decoding};
  {params:,} parameters, stored in float16 ({weights.stat().st_size / 1e6:.1f} MB)."""
    if photo:
        title, body = f"face colorizer for photos (L -> ab, {what})", _photo_card(weights, ck, architecture)
    else:
        title, body = f"face colorizer, approach {ck['approach']} (L -> ab, {what})", _study_card(weights, ck,
                                                                                                   architecture)
    biases = ("CelebA's and VoxCeleb2's biases (celebrities, studio and interview lighting" if photo
              else "CelebA's biases (celebrities, studio lighting")
    worse = ", and some images\n  still come out worse than leaving them gray (the counts above)" if photo else ""
    return f"""# {weights.stem}: {title}

{body}

## Use and limits

- Any size: the ab are predicted on a copy whose shorter side is {WORK_SIDE} px, then upsampled and
  recombined with the full-resolution L (`--work-side` changes it).
- Colours are plausible, not recovered: clothes, hair and backgrounds get muted tones{worse}.
- It inherits {biases}, skin tones).

## Terms

Code: MIT. These weights were trained on CelebA (Liu et al., "Deep Learning Face Attributes in the
Wild", ICCV 2015), available for **non-commercial research purposes only**, and the weights inherit
that restriction{"; and on VoxCeleb2 (Chung, Nagrani, Zisserman, Interspeech 2018, CC BY 4.0)" if photo else ""}.
"""


def _photo_card(weights: Path, ck: dict, architecture: str) -> str:
    """`model_card`'s body for a `train_photos` run: fine-tuning, the chroma factor, against gray."""
    arch, m = ck["arch"], ck["metrics"]
    hp = PHOTO_HPARAMS[ck["profile"]]
    score = m["val_score"]
    sessions = "; ".join(f"from step {s['from_step']} at {s['lr']:g}" for s in ck["sessions"]
                         if s["from_step"] < ck["steps"])  # not a session that only shipped
    return f"""The default model of `aeutils colorize IN OUT` (notebook 10, `docs/colorization.md`): CIE Lab
lightness L in, chroma ab out; the output keeps the input's L.

{architecture}
- Chroma factor {arch["chroma"]:g}: the predicted ab are scaled by it toward neutral, the factor of
  {", ".join(f"{f:g}" for f in CHROMA_FACTORS)} with the best validation score (below). Less chroma moves
  the output toward the gray input, and its colour cast with it.
- Started from the weights shipped as `{ck["init"]}` before this run, then fine-tuned
  on photo-like crops (`aeutils.datasets.photos.PhotoCrops`, {hp["crop"]}x{hp["crop"]}, a window of
  1/{PHOTO_SCALE[1]:g} to 1/{PHOTO_SCALE[0]:g} times the crop, so whole faces appear at about the scale
  `aeutils colorize` shows the model, anywhere in the image, flipped, half re-saved as JPEG quality 40-95,
  no colour jitter) of CelebA identities 0-159 and VoxCeleb2 dev-identity frames sampled once a second.
- Loss: cross-entropy against Gaussian soft-encoded ab targets (Zhang et al. 2016), without the class
  rebalancing `{ck["init"]}` was trained with: the vivid colours it favours are the casts to avoid.
- Training: profile `{ck["profile"]}`, {ck["steps"]} steps of batch {hp["batch"]}, Adam ({sessions}, cosine
  decay to a tenth), gradient clip 1.0, {ck["train_seconds"] / 60:.0f} minutes with {ck["threads"]} CPU thread(s),
  no GPU: `aeutils train colorize --data photos --init {ck["init"]} --ship {weights.stem}`.
- Chosen on three validation sources ({hp["val_images"]} images each: CelebA identities 160-169, the
  VoxCeleb2 validation identity, even-numbered lfw-val images; never trained on) every {hp["val_every"]}
  steps: step {ck["best"].get("step", "?")} by `select_score`, the mean ab RMSE saved against gray when no
  source is worse than gray on average and no cast is added (a mean RGB error past the truth's by more
  than {CAST_MAX:g} levels), else minus the shortfall. With the chroma factor: ab RMSE saved
  {score["gain"]:.0%}, cast added {score["cast_added"]:.2f} levels, {score["worse"]:.0%} of the images worse than gray.

## Against gray (leaving the photo as it is), per source

Whole images, the ab predicted at a shorter side of {WORK_SIDE}; measured on 8-bit RGB outputs. Worse than
gray: images whose PSNR is below the gray input's. Mean RGB error: output minus truth, 8-bit levels R / G / B.

Validation (chose the checkpoint and the chroma factor):

{sources_table(m["val"])}

Test (CelebA test identities, VoxCeleb2 test identity, odd-numbered lfw-val; measured once):

{sources_table(m["test"])}"""


def _study_card(weights: Path, ck: dict, architecture: str) -> str:
    """`model_card`'s body for a `train` run: one approach of notebook 10 on aligned faces."""
    arch, hp, val = ck["arch"], HPARAMS[ck["profile"]], ck["val"]
    encoder = ("trained from scratch" if arch["encoder"] == "scratch"
               else f"`{arch['encoder']}`, pretrained and frozen (`aeutils.models.features`)")
    loss = ("cross-entropy against Gaussian soft-encoded ab targets with class rebalancing (Zhang et al. 2016)"
            if arch["head"] == "classification" else "MSE of the ab at half resolution")
    return f"""A colorizer of notebook 10's study (`docs/colorization.md`), approach `{ck["approach"]}`: CIE Lab
lightness L in, chroma ab out; the output keeps the input's L. `aeutils colorize IN OUT --model {weights.stem}`.

{architecture}
- Encoder: {encoder}.
- Training data: CelebA aligned faces of identities 0-159, resized to {hp["size"][0]}x{hp["size"][1]},
  random {hp["crop"]}x{hp["crop"]} crops with flips.
- Loss: {loss}.
- Training: profile `{ck["profile"]}`, {ck["steps"]} steps of batch {hp["batch"]}, Adam at {hp["lr"]:g},
  {ck["train_seconds"] / 60:.0f} minutes on the CPU, no GPU:
  `aeutils train colorize --approach {ck["approach"]} --ship {weights.stem}`.
- Chosen on validation AuC (CelebA identities 160-169, whole images) every {hp["val_every"]} steps:
  step {val.get("step", "?")}, AuC {val.get("auc", float("nan")):.3f}.

## Test (CelebA test identities 170-199, whole images; measured once)

{ck["metrics"]["n_images"]} images, the ab predicted at a shorter side of {WORK_SIDE}; measured on 8-bit RGB outputs.

{results_table({weights.stem: ck["metrics"]})}"""


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


# ---------------------------------------------------------------------------------------------
# Reporting: Kodak images, tables, figures (the notebook's; drawn from results, not re-run)

def kodak_images(limit: int | None = None, max_side: int | None = None) -> list[torch.Tensor]:
    """Kodak photographs (non-face images) as RGB tensors, optionally shrunk to `max_side`; [] if absent."""
    folder = config.kodak_dir()
    if not folder.is_dir():
        return []
    out = []
    for path in sources.image_files(folder)[:limit]:
        im = load_rgb(path)
        if max_side and max(im.size) > max_side:
            im.thumbnail((max_side, max_side), Image.BICUBIC)
        out.append(to_tensor(im))
    return out


METRIC_COLUMNS = [("ab_rmse", "ab RMSE", 2), ("psnr", "PSNR (dB)", 2), ("auc", "AuC", 3),
                  ("colorfulness", "colourfulness", 1), ("colorfulness_gap", "gap to truth", 1)]


def results_table(results: dict[str, dict]) -> str:
    """A markdown table of `evaluate`'s output (one row per colorizer)."""
    head = "| | " + " | ".join(label for _, label, _ in METRIC_COLUMNS) + " |"
    lines = [head, "|---" * (len(METRIC_COLUMNS) + 1) + "|"]
    for name, r in results.items():
        lines.append(f"| {name} | " + " | ".join(f"{r[k]:.{d}f}" for k, _, d in METRIC_COLUMNS) + " |")
    return "\n".join(lines)


def plot_rows(names: list[str], grid: torch.Tensor, title: str | None = None):
    """`comparison_grid` output as a figure: one row per name, one column per image."""
    import matplotlib.pyplot as plt

    rows, cols = grid.shape[:2]
    h, w = grid.shape[-2:]
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols * w / h, 1.35 * rows), squeeze=False)
    for r in range(rows):
        for c in range(cols):
            ax = axes[r, c]
            ax.imshow(to_uint8(grid[r, c]))
            ax.set_xticks([]), ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(names[r], rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_curves(runs: dict[str, Path], keys=("val/auc", "val/ab_rmse", "val/colorfulness"),
                truth: float | None = None):
    """Validation curves of several runs side by side; `truth`: the validation images' colourfulness."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.2))
    for name, run in runs.items():
        for ax, key in zip(axes, keys):
            steps, values = tb.read_scalars(run, key)
            if steps:
                ax.plot(steps, values, marker=".", label=name)
    for ax, key in zip(axes, keys):
        ax.set_title(key.split("/")[-1]), ax.set_xlabel("step"), ax.grid(alpha=0.3)
        if key.endswith("colorfulness") and truth is not None:
            ax.axhline(truth, color="k", ls="--", lw=1, label="ground truth")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# Command line: aeutils colorize IN OUT

def load(ck: dict) -> Colorizer:
    """A shipped colorizer from its file's dict (`zoo.load_shipped`), in eval mode."""
    model = build(ck["arch"])
    model.load_state_dict(ck["state_dict"])
    return model.eval()


@torch.no_grad()
def colorize_image(model: Colorizer, im: Image.Image, work_side: int | None = WORK_SIDE,
                   tile: int = TILE) -> Image.Image:
    """Colorize one image (colour input uses only its lightness); same size, same L.

    `colorize_tensor` on the whole image, with the colour conversions in `tile`-sided tiles: they are
    per pixel, so the result is the same while memory stays near 20 bytes a pixel (8-bit in and out,
    L and the upsampled ab), where the whole-image conversions took about 200."""
    rgb = to_uint8_tensor(im)[None]
    h, w = rgb.shape[-2:]
    L = tiled(lambda t, b, l, r: rgb_to_lab(rgb[..., t:b, l:r].float().div_(255))[:, :1], h, w, tile)
    ab = predict_chroma(model, L, work_side)
    out = tiled(lambda t, b, l, r: torch.from_numpy(to_uint8(combine(L[..., t:b, l:r], ab[..., t:b, l:r])[0]))
                .permute(2, 0, 1)[None], h, w, tile)
    return Image.fromarray(out[0].permute(1, 2, 0).numpy(), "RGB")


def register(sub) -> None:
    p = batch.add_parser(sub, "colorize", ".png",
                         description="Colorize an image with a shipped model: the output keeps the input's "
                                     "lightness (CIE Lab L) and gets predicted chroma (ab). A colour input is "
                                     "accepted; only its lightness is used. Large images get their ab from a "
                                     "copy downscaled to the training scale, upsampled and recombined with the "
                                     "full-resolution L.")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"shipped model name or .pt path (default {DEFAULT_MODEL})")
    p.add_argument("--work-side", type=int, default=WORK_SIDE,
                   help=f"shorter side of the copy the ab are predicted on (default {WORK_SIDE}, the training "
                        f"scale; 0 = full size, up to {MODEL_PIXELS / 1e6:g} megapixels)")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.work_side < 0:
        raise UserError("--work-side must be 0 or positive")

    model = functools.cache(lambda: zoo.load(args.model, task=TASK.name))
    torch.set_num_threads(1)

    def one(src: Path, dst: Path) -> str:
        im = load_rgb(src)
        save_image(colorize_image(model(), im, args.work_side or None), dst, exclusive=not args.force)
        return f"wrote {dst} ({im.width}x{im.height}, model {args.model})"
    return batch.run(args, one, model)


TASK = Task("colorize", main=main, load=load, card=model_card)
