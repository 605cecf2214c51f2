"""Damage repair (notebook 09): training, evaluation against classical baselines, tiled inference,
and the `aeutils repair` command.

A repair model reads the damaged RGB plus a hole-mask channel (`damage.model_input`; zeros when
the damage has no holes or the mask is unknown) and returns the repaired RGB. Training pairs are
made on the fly: the whole face is damaged (so holes, grid periods and mosaic blocks have the
scale they have at test time), then a random crop of damaged and clean is taken together.
Where a mask is given, its holes are first filled by classical biharmonic inpainting, the network
refines that fill, and known pixels are kept: only holes are replaced by the model's output.

    aeutils train repair --profile cpu --arch unet --damage blind --minutes 35
    aeutils repair damaged.png repaired.png --damage blocks --mask holes.png
"""
from __future__ import annotations

import functools
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from aeutils import batch, config, metrics, tb, train, zoo
from aeutils.benchmark import baselines, blur_estimate, robustness
from aeutils.datasets import damage, photos
from aeutils.datasets.sources import FaceImages, face_split
from aeutils.errors import UserError
from aeutils.images import central_window, check_output, jpeg_quality, open_image, save_image, to_rgb, to_uint8
from aeutils.models.repair import build
from aeutils.options import OneLineParser, add_training_options, positive_float
from aeutils.task import Task
from aeutils.tasks import holes
from aeutils.tiles import tiled

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

# Training hparams per profile (the notebook's table says the same).
HPARAMS = {
    "smoke": dict(crop=32, batch=4, lr=1e-3, weight_decay=0.0, steps=20, val_images=7, val_every=10,
                  image_every=20, mask_keep=0.8),
    "cpu": dict(crop=64, batch=8, lr=1e-3, weight_decay=0.0, steps=20000, val_images=35, val_every=200,
                image_every=400, mask_keep=0.8),
    "paper": dict(crop=128, batch=32, lr=1e-4, weight_decay=1e-4, steps=100000, val_images=70, val_every=1000,
                  image_every=2000, mask_keep=0.8),
}
# The architecture comparison: each model trained on each of `kinds` alone. On the shared 2-core CPU
# this is a short run on small crops (enough to show what each architecture can do, not to rank
# them finally); the paper profile trains them as long as the blind model.
COMPARE = {
    "smoke": dict(kinds=["blocks", "noise"], steps=4, crop=32, images=1),
    "cpu": dict(kinds=["blocks", "noise"], steps=300, crop=32, images=30),
    "paper": dict(kinds=list(damage.KINDS), steps=50000, crop=128, images=300),
}
# The models that must hold up on any photo at any strength (`--strengths wide`): no batch norm.
WIDE_ARCH = {"smoke": dict(name="unet", widths=(8, 16), norm=False),
             "cpu": dict(name="unet", widths=(16, 32, 64, 128), norm=False),
             "paper": dict(name="unet", widths=(64, 128, 256, 512), norm=False)}
WIDE_HPARAMS = {"smoke": dict(crop=32, batch=4, lr=1e-3, steps=20, val_images=2, val_every=10, image_every=20),
                "cpu": dict(crop=96, batch=8, lr=5e-4, steps=40000, val_images=8, val_every=500, image_every=2000),
                "paper": dict(crop=128, batch=32, lr=2e-4, steps=200000, val_images=40, val_every=2000,
                              image_every=5000)}
# JPEG's correction is small: at the profile's lr, Adam's first steps silence the U-Net's correction for
# good (measured on cpu: zero gain after 20 steps at 5e-4, from scratch or from repair-noise); at a fifth
# of it, starting from repair-noise, it learns.
WIDE_LR_SCALE = {"jpeg": 0.2}
# Damages whose wide model is told the strength in its fourth channel (`damage.told_level`), as FBCNN
# is told a JPEG's quality: a JPEG file's own tables give it (`images.jpeg_quality`), a blur's sigma
# comes from the user (`--strength`). Not told, one JPEG model smoothed quality-95 photos by up to 9 dB
# to gain 2 dB at quality 10, and blind blur models either stayed the identity or sharpened soft
# photos 11-17 dB worse than their input (measured on validation, 2026-12-02).
TOLD = {"jpeg", "blur"}
# Damages that keep each channel's mean (JPEG every block's DC, a mosaic every block's mean, a Gaussian
# blur every channel's): their wide model's correction is made zero-mean (`keep_mean`), so it cannot add
# a colour cast (measured without it: the told JPEG model added up to 3.9 levels at quality 5, the
# pixelate model up to 1.9).
KEEP_MEAN = {"jpeg", "pixelate", "blur"}
# Above this quality the told JPEG model returns the photo as it is (as it does a lossless file): on
# validation it could not improve quality 90-95 (-0.7 to 0.0 dB) while it gained 0.8-2.1 dB at 5-50.
JPEG_LEAVE_ABOVE = 70
INPUTS = "RGB in [0, 1] + hole mask (1 = missing; zeros if none/unknown)"
INPUTS_TOLD = {"jpeg": "RGB in [0, 1] + the JPEG's (100 - quality) / 100 as a constant map (0: never saved as a JPEG)",
               "blur": "RGB in [0, 1] + the blur's Gaussian sigma / 3 as a constant map (0: sharp)"}
SHIPPED = "repair-blind"
# The command's default without --damage (`AutoRepair`): what the file itself and a noise estimate can
# tell. On validation (8 faces of each source) clean, blurred, pixelated and JPEG-only photos estimated
# at most 2.0 levels of noise (`baselines.noise_sigma`, 8-bit), noise of sigma 5 at least 4.3.
AUTO = "auto"
NOISE_GATE = 3 / 255
NOISE_PROBE = 1024  # the noise is estimated on a central window of this side (bounded time and memory)
# The blur model runs by default where the photo as given (before the JPEG and noise models, which
# smooth it) measures at least this blur (`blur_estimate.blur_sigma`, px). On validation (8 faces of
# each source) clean, noisy, pixelated and JPEG photos measured at most 0.11 px (0.52 after the JPEG
# model: hence measured before it), while faces blurred by 3 px measured 1.1-2.4 (71 of 72).
BLUR_GATE = 0.5
TEST_IMAGES = {"smoke": 2, "cpu": 60, "paper": 300}


# --- data -----------------------------------------------------------------------------------
class RepairPairs(Dataset):
    """(clean, model input) training pairs: a face flipped at random, damaged whole by a kind drawn
    from `kinds`, then cropped to `crop` (clean (3, c, c), input (4, c, c)). The mask channel is
    shown with probability `mask_keep` (so the model also learns to find holes on its own)."""

    def __init__(self, faces: FaceImages, kinds: list[str], crop: int, mask_keep: float = 0.8):
        self.faces, self.kinds, self.crop, self.mask_keep = faces, kinds, crop, mask_keep

    def __len__(self) -> int:
        return len(self.faces)

    def __getitem__(self, i):
        rng = np.random.default_rng(int(torch.randint(2**62, ())))
        x = self.faces.image(i)
        if rng.random() < 0.5:
            x = x.flip(-1)
        d = damage.apply(str(rng.choice(self.kinds)), x, rng=rng)
        _, h, w = x.shape
        c = min(self.crop, h, w)
        top, left = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
        window = (slice(None), slice(top, top + c), slice(left, left + c))
        im, clean = d.image[window], x[window]
        if d.mask is not None and rng.random() < self.mask_keep:
            mask = d.mask[window]
            im = torch.from_numpy(prefill(to_uint8(im), mask[0].numpy() > 0.5)).permute(2, 0, 1).float() / 255
            return clean, damage.model_input(im, mask)
        return clean, damage.model_input(im, None)


class WidePairs(Dataset):
    """(clean, model input) pairs for a model that must hold up on any photo: a photo-like crop
    (`photos.PhotoCrops`: rescaled, anywhere, jittered, re-saved as JPEG) damaged by `kind` at a
    strength drawn over everything a user meets, none included (`damage.draw_wide`)."""

    def __init__(self, crops: photos.PhotoCrops, kind: str):
        self.crops, self.kind = crops, kind

    def __len__(self) -> int:
        return len(self.crops)

    def __getitem__(self, i):
        clean = self.crops[i]
        rng = np.random.default_rng(int(torch.randint(2**62, ())))
        d = damage.draw_wide(self.kind, clean, rng)
        strength = None
        if told(self.kind, "wide"):
            strength = torch.full_like(clean[:1], damage.told_level(self.kind, d.params))
        return clean, damage.model_input(d.image, strength)


def fixed_cases(split: str, profile: str, kinds: list[str], n: int, per_kind: bool = True, seed: int = 0):
    """A fixed, seeded evaluation set of whole images: (clean (3, H, W), Damaged) pairs.

    `per_kind`: every image under every kind (test tables); else image j gets kind j mod len(kinds)
    (a cheap validation mix). The damage of image j under kind k always uses seed (seed, k, j)."""
    faces = face_split(split, profile, limit=n)
    cases = []
    for j in range(len(faces)):
        x = faces.image(j)
        chosen = kinds if per_kind else [kinds[j % len(kinds)]]
        for kind in chosen:
            rng = np.random.default_rng([seed, damage_index(kind), j])
            cases.append((x, damage.apply(kind, x, rng=rng)))
    return cases


def damage_index(kind: str) -> int:
    return list(damage.KINDS).index(kind)


# --- inference ------------------------------------------------------------------------------
def prefill(im: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Fill known holes with the smoothest classical fill (biharmonic; the best baseline on every hole
    damage) before the network sees them, so it only has to refine it. uint8 (H, W, 3), bool (H, W)."""
    return baselines.inpaint_biharmonic(im, mask) if mask.any() else im


@torch.no_grad()
def repair_array(model: nn.Module, im: np.ndarray, mask: np.ndarray | None = None, tile: int = 256,
                 overlap: int = 32, progress: bool = False, level: float | None = None) -> np.ndarray:
    """Repair an 8-bit image (H, W, 3) of any size in tiles: each `tile`-sized window is run with
    `overlap` pixels of context on every side and only its centre is kept, so memory is bounded by
    the tile, not the image. `mask`: bool (H, W), True = hole; holes are prefilled (`prefill`) in each
    window, as in training, the mask goes in as the fourth channel, and known pixels are kept.
    `level`: for a model told the strength (TOLD), its fourth channel (`damage.told_level`).
    Returns uint8 (H, W, 3)."""
    model.eval()
    h, w = im.shape[:2]
    step = max(tile - 2 * overlap, 16)
    if h <= tile and w <= tile:
        step, overlap = max(h, w), 0

    def window(top: int, bottom: int, left: int, right: int) -> torch.Tensor:
        win = im[top:bottom, left:right] if mask is None else prefill(im[top:bottom, left:right],
                                                                     mask[top:bottom, left:right])
        x = torch.from_numpy(np.ascontiguousarray(win)).permute(2, 0, 1).float()[None] / 255
        if mask is not None:
            m = torch.from_numpy(mask[top:bottom, left:right].astype(np.float32))[None, None]
        else:
            m = None if level is None else torch.full((1, 1, bottom - top, right - left), float(level))
        return torch.from_numpy(to_uint8(model(damage.model_input(x, m))[0])).permute(2, 0, 1)[None]
    out = np.ascontiguousarray(tiled(window, h, w, step, overlap, progress=progress)[0].permute(1, 2, 0).numpy())
    if mask is not None:
        out = np.where(mask[..., None], out, im)
    return out


def repair_known(model: nn.Module, im: np.ndarray, params: dict, mask: np.ndarray | None = None,
                 **tiling) -> np.ndarray:
    """`repair_array` given what a file can say of its damage (`params`: a JPEG's quality; {} for a
    lossless image): the command's repair, the robustness sweep's `run`, the demo's repair."""
    level = None
    kind = getattr(model, "told", None)
    if kind:
        if kind == "jpeg" and leave_as_is(params.get("quality")) or kind == "blur" and not params.get("sigma"):
            return im.copy()
        level = damage.told_level(kind, params)
    return repair_array(model, im, mask, level=level, **tiling)


class AutoRepair:
    """The default repair for a photo whose damage is unknown, built only from models that never make a
    photo worse: a JPEG file of quality up to JPEG_LEAVE_ABOVE goes through the told JPEG model, then
    the noise model runs where the estimated noise is at least NOISE_GATE, then the told blur model
    where the photo as given measures a blur (`blur_estimate.blur_sigma`) of at least BLUR_GATE;
    anything else (a clean, softly blurred or pixelated photo, a high-quality JPEG) comes back
    unchanged. The blind model is not used: it made photos up to 20 dB worse than their input."""

    def __init__(self, jpeg: nn.Module, noise: nn.Module, blur: nn.Module | None = None):
        self.jpeg, self.noise, self.blur = jpeg, noise, blur

    @classmethod
    def shipped(cls) -> AutoRepair:
        return cls(load_model("repair-jpeg")[0], load_model("repair-noise")[0], load_model("repair-blur")[0])

    def __call__(self, im: np.ndarray, params: dict, **tiling) -> tuple[np.ndarray, list[str]]:
        """(the repaired uint8 image, what was done) given what the file tells (`params`: its JPEG quality)."""
        done = []
        blur = blur_estimate.blur_sigma(im) if self.blur is not None else 0.0
        if not leave_as_is(params.get("quality")):
            im = repair_known(self.jpeg, im, params, **tiling)
            done.append(f"JPEG artifacts of quality {params['quality']}")
        sigma = estimate_noise(im)
        if sigma >= NOISE_GATE:
            im = repair_known(self.noise, im, {}, **tiling)
            done.append(f"noise (estimated sigma {255 * sigma:.1f} levels)")
        if blur >= BLUR_GATE:
            im = repair_known(self.blur, im, {"sigma": blur}, **tiling)
            done.append(f"blur (estimated sigma {blur:.2f} px)")
        return im, done


def estimate_noise(im: np.ndarray) -> float:
    """Gaussian noise sigma in [0, 1] units of a uint8 (H, W, 3) image, from its central window."""
    return baselines.noise_sigma(central_window(im, NOISE_PROBE))


def leave_as_is(quality: int | None) -> bool:
    """Whether the told JPEG model has nothing to undo: a lossless file, or above JPEG_LEAVE_ABOVE."""
    return quality is None or quality > JPEG_LEAVE_ABOVE


def mark_told(model: nn.Module, kind: str | None, strengths: str | None) -> nn.Module:
    """Record on `model` (`model.told`) the damage whose strength it reads in its fourth channel: a
    wide model of a TOLD damage, as its file's metadata or its run's hparams say; else None."""
    model.told = kind if told(kind, strengths) else None
    return model


def told(kind: str | None, strengths: str | None) -> bool:
    """Whether the model of `kind` trained at `strengths` reads the damage's strength (TOLD)."""
    return strengths == "wide" and kind in TOLD


def model_for(kind: str) -> str:
    """The shipped model for a damage: its specialist `repair-KIND` where shipped, else the blind one."""
    specific = f"repair-{kind}"
    return specific if (config.WEIGHTS_DIR / f"{specific}.pt").is_file() else SHIPPED


def load(ck: dict) -> nn.Module:
    """A shipped repair model from its file's dict (`zoo.load_shipped`) in eval mode, marked with the
    damage whose strength it is told (`mark_told`)."""
    model = build(ck["arch"])
    model.load_state_dict(ck["state_dict"])
    return mark_told(model, ck.get("damage"), ck.get("strengths", "study")).eval()


def load_model(name_or_path: str) -> tuple[nn.Module, dict]:
    """A shipped repair model (`weights/<name>.pt` or a path) in eval mode, and its file's contents."""
    ck = zoo.load_shipped(name_or_path, task="repair")
    return load(ck), ck


# --- evaluation -----------------------------------------------------------------------------
def _scores(out: np.ndarray, gt: np.ndarray, mask: np.ndarray | None) -> dict:
    s = {"psnr": metrics.psnr(out, gt), "ssim": metrics.ssim(out, gt)}
    if mask is not None and mask.any():
        s["psnr_hole"] = metrics.psnr(out[mask], gt[mask])
    return s


def _mean(rows: list[dict]) -> dict:
    return {k: round(float(np.mean([r[k] for r in rows])), 3) for k in rows[0]} | {"n": len(rows)}


def evaluate(models: dict[str, nn.Module | dict[str, nn.Module]], kinds: list[str], split: str, profile: str,
             n: int, with_baselines: bool = True, slow_baselines: bool = False, examples: int = 0,
             progress: bool = False) -> dict:
    """PSNR / SSIM (and PSNR inside the holes) of every model and every classical baseline, per damage,
    on the same fixed whole images of `split` (never resized; 178x218 for CelebA).

    `models`: name -> a model for every kind, or a {kind: model} dict for models trained per kind.
    Returns {"table": {kind: {method: scores}}, "best_baseline": {kind: method}, "examples": {kind:
    {"clean", "damaged", method: uint8 image, ...}} for the first `examples` images}."""
    cases = fixed_cases(split, profile, kinds, n)
    rows: dict[str, dict[str, list]] = {k: {} for k in kinds}
    shown: dict[str, list] = {k: [] for k in kinds}
    for x, d in tqdm(cases, disable=not progress, desc=f"evaluate {split}"):
        gt, im = to_uint8(x), to_uint8(d.image)
        mask = None if d.mask is None else d.mask[0].numpy() > 0.5
        outs = {}
        for name, entry in models.items():
            model = entry.get(d.kind) if isinstance(entry, dict) else entry
            if model is not None:
                outs[name] = repair_known(model, im, d.params, mask)
        if with_baselines:
            for method in baselines.FOR_DAMAGE[d.kind]:
                if method in baselines.SLOW and not slow_baselines:
                    continue
                outs[method] = baselines.restore(method, d.kind, im, mask, d.params)
        for name, out in outs.items():
            rows[d.kind].setdefault(name, []).append(_scores(out, gt, mask))
        if len(shown[d.kind]) < examples:
            shown[d.kind].append({"clean": gt, "damaged": im, **outs})
    table = {k: {m: _mean(r) for m, r in v.items()} for k, v in rows.items()}
    best = {}
    for k, v in table.items():
        classical = {m: s["psnr"] for m, s in v.items() if m in baselines.FOR_DAMAGE[k]}
        if classical:
            best[k] = max(classical, key=classical.get)
    return {"split": split, "profile": profile, "images": n, "table": table, "best_baseline": best,
            "examples": shown}


def markdown_table(results: dict, models: list[str], key: str = "psnr") -> str:
    """One row per damage: each model's `key` beside the best classical baseline's (and its name),
    and the first model's margin over it (positive = the model is ahead). The best baseline is the
    one with the highest whole-image PSNR."""
    head = "| damage | " + " | ".join(models) + f" | best classical baseline | {models[0]} - best |"
    lines = [head, "|" + "---|" * (len(models) + 3)]
    fmt = ".3f" if key == "ssim" else ".2f"
    for kind, row in results["table"].items():
        if not any(key in scores for scores in row.values()):
            continue  # e.g. PSNR inside holes for a damage without holes
        b = results["best_baseline"].get(kind)
        cells = [f"{row[m][key]:{fmt}}" if m in row and key in row[m] else "-" for m in models]
        base = f"{row[b][key]:{fmt}} ({b})" if b and key in row[b] else "-"
        m = models[0]
        delta = f"{row[m][key] - row[b][key]:+{fmt}}" if m in row and b and key in row[m] and key in row[b] else "-"
        lines.append(f"| {kind} | " + " | ".join(cells) + f" | {base} | {delta} |")
    return "\n".join(lines)


def save_results(results: dict, path: Path, **extra) -> None:
    """Write the tables (not the example images) as JSON."""
    keep = {k: v for k, v in results.items() if k != "examples"}
    path.write_text(json.dumps(dict(keep, **extra), indent=2))


BEST = "best baseline"  # an `example_figure` column: each damage's best classical method


def example_figure(results: dict, methods: list[str], path: Path | None = None, scale: float = 1.4):
    """Ground truth, damaged input and each method's output side by side, one row per damage
    (the first example image of each); PSNR of each panel against the ground truth in its title.
    `methods` may include BEST, which shows the damage's best classical baseline."""
    import matplotlib.pyplot as plt

    kinds = [k for k, ex in results["examples"].items() if ex]
    cols = ["clean", "damaged", *methods]
    fig, axes = plt.subplots(len(kinds), len(cols), figsize=(scale * len(cols), scale * 1.35 * len(kinds)),
                             squeeze=False)
    for r, kind in enumerate(kinds):
        ex = results["examples"][kind][0]
        for c, col in enumerate(cols):
            name = results["best_baseline"].get(kind) if col == BEST else col
            ax = axes[r, c]
            ax.axis("off")
            if name not in ex:
                continue
            ax.imshow(ex[name])
            if col == "clean":
                ax.set_title("ground truth", fontsize=7)
            else:
                label = {"damaged": kind, BEST: f"best classical: {name}"}.get(col, col)
                ax.set_title(f"{label}\n{metrics.psnr(ex[name], ex['clean']):.1f} dB", fontsize=7)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def damage_figure(x: torch.Tensor, seed: int = 0, path: Path | None = None):
    """One face under every damage kind (the seeded transforms of `aeutils.datasets.damage`)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(damage.KINDS) + 1, figsize=(1.5 * (len(damage.KINDS) + 1), 2.1))
    panels = [("clean", x)] + [(k, damage.apply(k, x, seed=seed).image) for k in damage.KINDS]
    for ax, (title, im) in zip(axes, panels):
        ax.imshow(to_uint8(im))
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def val_curves(runs: dict[str, Path], key: str = "val/psnr", path: Path | None = None):
    """Validation PSNR against step for each run, read back from its TensorBoard events."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    for label, run_dir in runs.items():
        steps, values = tb.read_scalars(run_dir, key)
        if steps:
            ax.plot(steps, values, marker=".", label=label)
    ax.set_xlabel("step")
    ax.set_ylabel(f"{key} (dB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


# --- training -------------------------------------------------------------------------------
LOSS = "MSE of what the command returns (known pixels kept where a mask is given: only holes count)"


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


def _start(arch: dict, run_dir: Path, init: str | None) -> tuple[nn.Module, str | None]:
    """A new model of `arch`, with the weights of shipped model `init` unless the run resumes; and the
    init to record (None on resume: the first session's record is kept, see train.fit)."""
    model = build(arch)
    if not init or (Path(run_dir) / "last.pt").exists():
        return model, None
    start, ck = load_model(init)
    if {**ck["arch"], "keep_mean": None} != {**arch, "keep_mean": None}:  # keep_mean has no weights
        raise UserError(f"--init {init}: its architecture {ck['arch']} is not {arch}")
    model.load_state_dict(start.state_dict())
    return model, init


def train_model(arch: dict, kinds: list[str], profile: str, run_dir: Path, steps: int | None = None,
                minutes: float | None = None, progress: bool = True, seed: int = 0, init: str | None = None,
                **overrides) -> tuple[nn.Module, dict]:
    """Train one repair model on `kinds` (the blind model: all of them) with the shared loop;
    best.pt is chosen on PSNR over a fixed validation mix. `overrides` replace entries of the
    profile's HPARAMS (e.g. crop=32). `init`: a shipped model of the same architecture to start from
    (e.g. the blind model, to specialise it on one damage); ignored when the run resumes.
    Returns the best model and the summary."""
    hp = dict(HPARAMS[profile], **overrides)
    if len(kinds) == 1 and kinds[0] in damage.HOLE_KINDS and "mask_keep" not in overrides:
        hp["mask_keep"] = 1.0  # a hole specialist always has a mask: given, or the black pixels (`aeutils repair`)
    torch.manual_seed(seed)
    random.seed(seed)
    model, started_from = _start(arch, run_dir, init)
    faces = face_split("train", profile, limit=None if profile != "smoke" else 8)
    loader = DataLoader(RepairPairs(faces, kinds, hp["crop"], hp["mask_keep"]), batch_size=hp["batch"],
                        shuffle=True, drop_last=True)
    val = fixed_cases("val", profile, kinds, hp["val_images"], per_kind=False, seed=1)

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

    cfg = train.LoopConfig(max_steps=steps or hp["steps"], lr=hp["lr"], weight_decay=hp["weight_decay"],
                           val_every=hp["val_every"], image_every=hp["image_every"], ckpt_every=100,
                           max_minutes=minutes, progress=progress,
                           hparams=dict(arch=json.dumps(arch), kinds=",".join(kinds), profile=profile,
                                        crop=hp["crop"], batch=hp["batch"], mask_keep=hp["mask_keep"],
                                        init=started_from))
    summary = train.fit(model, _step, loader, evaluate_val, run_dir, cfg, images=images)
    train.load_best(model, run_dir)
    return model.eval(), summary


def wide_arch(kind: str, profile: str) -> dict:
    """The architecture of `kind`'s wide model: WIDE_ARCH, its correction zero-mean for KEEP_MEAN."""
    return dict(WIDE_ARCH[profile], keep_mean=True) if kind in KEEP_MEAN else WIDE_ARCH[profile]


def train_wide(kind: str, profile: str, run_dir: Path, steps: int | None = None, minutes: float | None = None,
               progress: bool = True, seed: int = 0, init: str | None = None, **overrides) -> tuple[nn.Module, dict]:
    """Train a model that holds up on any photo at any strength of `kind` (WIDE_ARCH, WidePairs),
    with the shared loop; best.pt is chosen on the validation sweep of three sources
    (`photos.validation_faces`: CelebA and VoxCeleb2 validation identities, lfw-val): the best mean
    PSNR among the checkpoints that never make a photo worse (`robustness.summary`'s `select`).
    `init`: a shipped model of the same architecture to start from; ignored when the run resumes."""
    hp = dict(WIDE_HPARAMS[profile])
    hp["lr"] *= WIDE_LR_SCALE.get(kind, 1.0)
    hp.update(overrides)
    arch = wide_arch(kind, profile)
    torch.manual_seed(seed)
    model, started_from = _start(arch, run_dir, init)
    mark_told(model, kind, "wide")
    crops = photos.PhotoCrops(photos.training_faces(profile), hp["crop"])
    loader = DataLoader(WidePairs(crops, kind), batch_size=hp["batch"], shuffle=True, drop_last=True)
    val = photos.validation_faces(profile, hp["val_images"])

    def evaluate_val(m):
        scores = robustness.summary(robustness.sweep(kind, {"model": m}, val, repair_known, seed=1), "model")
        return {k: v for k, v in scores.items() if k != "short"}

    def images(m):
        x = next(iter(val.values()))[0]
        d = damage.sweep_damage(kind, x, damage.SWEEP[kind][1][2], seed=1)
        out = repair_known(m, to_uint8(d.image), d.params)
        return {"val/clean_damaged_repaired": torch.stack([x, d.image, torch.from_numpy(out).permute(2, 0, 1) / 255])}

    cfg = train.LoopConfig(max_steps=steps or hp["steps"], lr=hp["lr"], val_every=hp["val_every"],
                           image_every=hp["image_every"], ckpt_every=100, max_minutes=minutes, progress=progress,
                           select_key="select",
                           hparams=dict(arch=json.dumps(arch), kinds=kind, strengths="wide", profile=profile,
                                        crop=hp["crop"], batch=hp["batch"], init=started_from))
    # Plain MSE: the mean per-photo log MSE (each photo's PSNR counting alike, so light damage would
    # weigh as much as heavy) was tried and drove the JPEG and pixelate models to the identity within
    # 100-500 steps (measured, 2026-12-02), the clean photos' huge gradients swamping Adam's scale.
    summary = train.fit(model, _step, loader, evaluate_val, run_dir, cfg, images=images)
    train.load_best(model, run_dir)
    return model.eval(), summary


def compare_architectures(profile: str, minutes: float | None = None, root: Path | None = None,
                          progress: bool = False) -> dict[str, dict[str, nn.Module]]:
    """Train every architecture of the study on each damage of COMPARE[profile] alone
    (runs/repair-compare-PROFILE/<arch>-<kind>, resumed if already there; `minutes` caps each run).
    Returns {arch: {kind: model}} for `evaluate`."""
    cmp = COMPARE[profile]
    root = root or config.RUNS_DIR / f"repair-compare-{profile}"
    out: dict[str, dict[str, nn.Module]] = {}
    for name, table in MODELS.items():
        for kind in cmp["kinds"]:
            model, _ = train_model(table[profile], [kind], profile, root / f"{name}-{kind}", steps=cmp["steps"],
                                   minutes=minutes, progress=progress, crop=cmp["crop"])
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
        run_dir = args.run_dir or config.RUNS_DIR / f"repair-wide-{args.damage}-{profile}"
        arch = wide_arch(args.damage, profile)
        model, summary = train_wide(args.damage, profile, run_dir, args.steps, args.minutes, not args.no_progress,
                                    init=args.init, **overrides)
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
                         init=summary["hparams"].get("init"), lr=summary["config"]["lr"],
                         sessions=summary["sessions"], loss=LOSS,
                         strengths=summary["hparams"].get("strengths", "study"))
    return 0


def model_card(weights: Path, results: dict, name: str) -> str:
    """The model card of a shipped repair model (blind or specialised on one damage): architecture,
    data and its terms, training, and the measured test table (`results` as `evaluate` returns it or
    results.json holds it; `name`: the model's column in it)."""
    ck = zoo.load_shipped(str(weights), task="repair")
    model = build(ck["arch"])
    params = sum(p.numel() for p in model.parameters())
    val = ck["metrics"].get("val", {})
    kind = ck.get("damage", damage.BLIND)
    hp = HPARAMS[ck.get("profile", "cpu")]
    lr = ck.get("lr", hp["lr"])
    lr = lr if isinstance(lr, str) else format(lr, "g")
    if kind == damage.BLIND:
        what = ("Blind damage-repair model of notebook 09 (`aeutils repair --damage blind`): one network for "
                "seven damages (heavy\nGaussian noise, blocks over the face, random squares, grid lines, "
                "pixelation, blur, JPEG artifacts).")
        drawn, shown = "a random kind per sample", results
    else:
        start = "`" + ck["init"] + "`" if ck.get("init") else "a random initialisation"
        what = (f"Damage-repair model of notebook 09 specialised on **{kind}**: `aeutils repair --damage {kind}` "
                f"uses it.\nStarted from {start} and trained on this damage alone.")
        drawn = f"{kind} (seeded strengths as in `aeutils/datasets/damage.py`)"
        shown = dict(results, table={kind: results["table"][kind]})
    return f"""# {weights.stem}

{what}

- Architecture: `{json.dumps(ck["arch"])}` (`aeutils.models.repair.build`), {params:,} parameters,
  stored in float16 ({weights.stat().st_size / 1e6:.1f} MB).
- Input: RGB in [0, 1] plus a hole-mask channel (1 = missing; zeros when there is no mask or it is
  unknown). With a mask, holes are prefilled by biharmonic inpainting and known pixels are kept.
- Output: repaired RGB (clamp to [0, 1]). Any image size; `aeutils repair` runs large images in tiles.
- Training data: CelebA aligned faces, identities 0-159 (4,800 images), {hp["crop"]}x{hp["crop"]} random crops of
  faces damaged whole by {drawn}; checkpoint chosen on validation PSNR (identities 160-169, fixed
  seeded damages; best validation PSNR {val.get("psnr", float("nan")):.2f} dB at step {val.get("step", "?")}).
- Training: profile `{ck.get("profile")}`, {ck.get("steps")} steps of batch {hp["batch"]}, Adam {lr},
  {ck.get("loss", "MSE over the whole crop")},
  {ck.get("train_seconds", 0) / 60:.0f} minutes wall on a 2-core CPU (no GPU), one thread.
- Terms: CelebA is for non-commercial research only (Liu et al., "Deep Learning Face Attributes in
  the Wild", ICCV 2015); these weights inherit that restriction.

## Measured on CelebA test identities (170-199)

{results["images"]} whole 178x218 test images, one seeded draw per image and damage; PSNR (dB) on
8-bit clamped outputs, averaged per image. Classical baselines ran on the same damaged images in the
same run (notebook 09), given the true damage parameters where they need one.

PSNR:

{markdown_table(shown, [name])}

SSIM:

{markdown_table(shown, [name], key="ssim")}

PSNR inside the holes only (damages with holes):

{markdown_table(shown, [name], key="psnr_hole")}

Limits: trained briefly on a CPU; faces only (aligned, roughly 178x218); damage strengths outside
the training ranges (see `aeutils/datasets/damage.py`) are untested.
"""


def wide_model_card(weights: Path, record: dict) -> str:
    """The model card of a model trained at every strength (`--strengths wide`): architecture, data
    and its terms, each training session, and the robustness sweep (`record`: what
    scripts/robustness.py writes for it) on three sources."""
    ck = zoo.load_shipped(str(weights), task="repair")
    kind = ck["damage"]
    params = sum(p.numel() for p in build(ck["arch"]).parameters())
    val = ck["metrics"].get("val", {})
    hp = WIDE_HPARAMS[ck.get("profile", "cpu")]
    sessions = "; ".join(f"from step {s['from_step']} at lr {s['lr']:g}" for s in ck.get("sessions", [])
                         if s["from_step"] < ck.get("steps", 0))  # not a session that only shipped
    name, values = damage.SWEEP[kind]
    v = record["summary"]["model"]
    images = ", ".join(f"{n} {s}" for s, n in record["images_per_source"].items())
    strengths = ", ".join(robustness.label(kind, x).split(" ", 1)[1] for x in values)
    nan = float("nan")
    chosen = "on mean PSNR"
    if "select" in val:
        chosen = ("the best mean PSNR among those that never make a photo worse" if val["select"] == val.get("psnr")
                  else "the one falling least short of the never-worse bars (none met them all)")
    told_text = "It is not told the strength."
    if told(kind, ck.get("strengths")) and kind == "jpeg":
        told_text = ("It is told the quality the photo was saved at, read from the JPEG file's quantization "
                     "tables (`images.jpeg_quality`) or given with `--strength`; a lossless file counts as never "
                     "compressed.")
    elif told(kind, ck.get("strengths")):
        told_text = (f"It is told the blur's Gaussian sigma in pixels (`--strength SIGMA`, up to "
                     f"{damage.BLUR_TOLD_MAX:g}); the sweep below gives it the true sigma, as it gives the baselines.")
    return f"""# {weights.stem}

Repair model for **{kind}** at any strength, from none to heavy, on faces from any source:
`aeutils repair --damage {kind}` uses it. {told_text}

- Architecture: `{json.dumps(ck["arch"])}` (`aeutils.models.repair.build`: a U-Net without batch norm,
  whose output is the input plus a correction), {params:,} parameters, stored in float16
  ({weights.stat().st_size / 1e6:.1f} MB).
- Input: {ck.get("inputs", INPUTS)}. Output: repaired RGB. Any image size, in tiles.
- Training data: CelebA aligned faces, identities 0-159 (4,800 images), and VoxCeleb2 dev-identity
  frames sampled once a second throughout every clip (`data/voxceleb2-dense`), as {hp["crop"]}x{hp["crop"]}
  photo-like crops (`aeutils.datasets.photos.PhotoCrops`: downscaled 0.5-1x, anywhere in the image, flipped,
  brightness / contrast / saturation / white-balance jitter, half of them re-saved as JPEG quality
  40-95), damaged at a strength drawn by `damage.draw_wide` ({kind}: `{json.dumps(damage.WIDE[kind])}`).
- Checkpoint chosen on a sweep over every strength on three validation sources (CelebA identities
  160-169, the VoxCeleb2 validation identity, even-numbered lfw-val images; never trained on), {chosen}:
  {val.get("psnr", nan):.2f} dB at step {val.get("step", "?")} (worst gain over the input
  {val.get("gain_min", nan):+.2f} dB, clean input returned at {val.get("clean_min", nan):.1f} dB or better,
  largest mean colour shift {val.get("cast_max", nan):.2f} levels).
- Training: profile `{ck.get("profile")}`, {ck.get("steps")} steps of batch {hp["batch"]}, Adam ({sessions}),
  {ck.get("loss")}, {ck.get("train_seconds", 0) / 60:.0f} minutes on a 2-core CPU (no GPU){
  ", started from `" + ck["init"] + "`" if ck.get("init") else ", from a random start"}.
- Terms: CelebA is for non-commercial research only (Liu et al., "Deep Learning Face Attributes in
  the Wild", ICCV 2015) and these weights inherit that restriction; VoxCeleb2 is CC BY 4.0 (Chung,
  Nagrani, Zisserman, Interspeech 2018).

## Robustness sweep (`scripts/robustness.py`)

Test images: {images} (CelebA test identities, VoxCeleb2 test-identity frames, odd-numbered
lfw-val images); {kind} at {name} {strengths} and clean. PSNR (dB, each
image capped at 60) on 8-bit outputs; classical baselines given the true {name}, their own knob tuned
per strength on validation images; bold where the model is at least as good as the best of them.

{robustness.markdown(record["results"], "model")}

Worst gain over the damaged input {v["gain_min"]:+.2f} dB; clean input returned at {v["clean_min"]:.1f} dB or
better; largest mean colour shift {v["cast_max"]:.2f} levels (8-bit), {v.get("cast_added", nan):.2f} beyond both 1 level
and the damaged input's own shift; cells short of their due gain
(+0.3 dB where the input is below 40 dB, no loss elsewhere): {", ".join(v["short"]) or "none"}.
"""


def card(weights: Path, measured: dict, name: str | None = None) -> str:
    """The model card of a shipped repair model: `wide_model_card` for one trained at every strength
    (`measured`: its robustness record), else `model_card` (`measured`: the test results, `name`: the
    model's column in them)."""
    if zoo.load_shipped(str(weights), task="repair").get("strengths") == "wide":
        return wide_model_card(weights, measured)
    return model_card(weights, measured, name)


# --- command line ---------------------------------------------------------------------------
def register(sub) -> None:
    p = batch.add_parser(sub, "repair", ".png",
                         description="Repair a damaged image with a shipped pyramidal autoencoder. Large "
                         "images are processed in tiles.")
    p.add_argument("--damage", choices=[AUTO, *damage.KINDS, damage.BLIND], default=None,
                   help="what happened to the image. Default (auto): undo a JPEG's artifacts when its file says "
                   f"quality {JPEG_LEAVE_ABOVE} or less, then noise where the noise estimated in the image is at "
                   f"least {255 * NOISE_GATE:.0f} levels, then blur where the photo measures a blur of at least "
                   f"{BLUR_GATE:g} px; otherwise leave the photo as it is (light blur, mosaics and holes need "
                   "--damage). blind: the blind study model (the default with --model). For blocks, "
                   "squares and grid without --mask, the holes are found in the image: pure-black lines and "
                   "rectangles with sharp edges (not dark hair or the black corners of a rotated photo)")
    p.add_argument("--mask", default=None, help="hole mask image of the same size: white (above 127) = missing")
    p.add_argument("--model", default=None, help=f"shipped model name or .pt file (default repair-DAMAGE "
                   f"if shipped, else {SHIPPED})")
    p.add_argument("--strength", type=positive_float, default=None, metavar="Q|SIGMA",
                   help="with --damage jpeg: the quality (1-100) the photo was saved at, if it is no longer the "
                   "JPEG file that says so (default: read from the file; a lossless file counts as never "
                   f"compressed and comes back unchanged). With --damage blur: the blur's Gaussian sigma in pixels, "
                   f"up to {damage.BLUR_TOLD_MAX:g} (default: a low estimate from the photo)")
    p.add_argument("--tile", type=int, default=256, help="tile side in pixels (bounds memory)")
    p.set_defaults(func=run)



def read_mask(path: str, size: tuple[int, int]) -> np.ndarray:
    """A hole mask file -> bool (H, W), True = missing; must match the image's (W, H) `size`."""
    m = open_image(path).convert("L")
    if m.size != size:
        raise UserError(f"mask {path} is {m.size[0]}x{m.size[1]}, image is {size[0]}x{size[1]}")
    return np.asarray(m) > 127


def check_strength(kind: str, strength: float | None) -> None:
    """`--strength` is a JPEG quality (a whole number 1-100) with --damage jpeg, a blur's sigma (up to
    BLUR_TOLD_MAX, what the model was trained on) with --damage blur, and nothing else."""
    if strength is None:
        return
    if kind not in TOLD:
        raise UserError(f"--strength is read with --damage {' or '.join(sorted(TOLD))} only")
    if kind == "jpeg" and (strength != int(strength) or strength > 100):
        raise UserError(f"--strength with --damage jpeg is a JPEG quality, a whole number 1-100, not {strength:g}")
    if kind == "blur" and strength > damage.BLUR_TOLD_MAX:
        raise UserError(f"--strength with --damage blur is a Gaussian sigma up to {damage.BLUR_TOLD_MAX:g} pixels "
                        f"(what the model was trained on), not {strength:g}")


def _repair_kind(model: nn.Module, kind: str, args, src: Path, raw: Image.Image, arr: np.ndarray,
                 tiling: dict) -> np.ndarray:
    """`aeutils repair --damage KIND` on one photo: a told model gets the JPEG's quality, a hole
    damage its mask (given, or found in the image)."""
    params = {}
    if model.told == "blur":
        params["sigma"] = args.strength
        if args.strength is None:
            params["sigma"] = blur_estimate.blur_sigma(arr)
            print(f"{src}: estimated blur sigma {params['sigma']:.2f} px (a low estimate: give --strength SIGMA "
                  "if you know it)" + ("; written unchanged" if not params["sigma"] else ""), file=sys.stderr)
    if model.told == "jpeg":
        params["quality"] = int(args.strength) if args.strength else jpeg_quality(raw)
        if leave_as_is(params["quality"]):
            why = f"quality {params['quality']}" if params["quality"] else "not a JPEG file and no --strength"
            print(f"{src}: {why}, nothing to undo: written unchanged", file=sys.stderr)
    mask = None
    if args.mask:
        mask = read_mask(args.mask, (arr.shape[1], arr.shape[0]))
    elif kind in damage.HOLE_KINDS:
        mask = holes.find_holes(arr)
    if mask is not None:
        arr = np.where(mask[..., None], np.uint8(round(damage.HOLE_FILL * 255)), arr)
    return repair_known(model, arr, params, mask, **tiling)


def run(args) -> int:
    if args.tile < 64:
        raise UserError("--tile must be at least 64")
    kind = args.damage or (damage.BLIND if args.model else AUTO)
    check_strength(kind, args.strength)
    if kind == AUTO and (args.model or args.mask):
        raise UserError(f"--{'model' if args.model else 'mask'} needs --damage: auto runs the shipped repair-jpeg, "
                        "repair-noise and repair-blur")

    load = functools.cache(
        lambda: AutoRepair.shipped() if kind == AUTO else load_model(args.model or model_for(kind))[0])

    def one(src: Path, dst: Path) -> None:
        raw = open_image(src)
        arr = np.asarray(to_rgb(raw))
        tiling = dict(tile=args.tile, overlap=min(32, args.tile // 8), progress=batch.tile_progress(args))
        if kind == AUTO:
            out, done = load()(arr, {"quality": jpeg_quality(raw)}, **tiling)
            print(f"{src}: " + (f"undid {' and '.join(done)}" if done else "no JPEG artifacts, noise or blur found, "
                                "written unchanged (light blur, mosaics and holes need --damage)"), file=sys.stderr)
        else:
            out = _repair_kind(load(), kind, args, src, raw, arr, tiling)
        save_image(Image.fromarray(out, "RGB"), dst, exclusive=not args.force)
    return batch.run(args, one, load)


TASK = Task("repair", main=main, load=load, card=card)
