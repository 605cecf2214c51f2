"""Shipping a run as weights/NAME.pt, measured once on its test images, and its model card, which is
written from the shipped file alone (`TASK.card`); a photo run's tint and chroma factors are chosen on
validation just before."""
from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
from pathlib import Path

import torch

from aeutils import config, train, zoo
from aeutils.datasets import photos
from aeutils.models.colorize import Colorizer
from aeutils.tasks.colorize.data import ab_statistics, faces
from aeutils.tasks.colorize.evaluate import CAST_MAX, against_gray, evaluate, select_score
from aeutils.tasks.colorize.figures import results_table, sources_table
from aeutils.tasks.colorize.hparams import PHOTO_SCALE, hparams, photo_hparams
from aeutils.tasks.colorize.model import NAME, WORK_SIDE, build, load_run

TINT_FACTORS = (1.0, 0.8, 0.7, 0.6, 0.4)  # what `choose_chroma` tries, every combination
CHROMA_FACTORS = (1.2, 1.0, 0.8)
# degrees the tint's hue may turn from the training faces' mean toward yellow (+b): the faces' own hue
# differs by source (CelebA validation 54, lfw-val 60, the VoxCeleb2 validation identity 65, VoxCeleb2
# dev frames 33), and a redder tint than the photo's is the cast that bound the tint factor (2026-12-05)
HUE_TURNS = (0, 6, 12, 18)


def training_hue(profile: str) -> tuple[float, float]:
    """The direction of the training faces' mean ab (the "mean ab" baseline's): the tint a face
    usually has, from which a shipped photo model's tint hue is chosen (`choose_chroma`)."""
    mean_ab, _ = ab_statistics(faces("train", profile), limit=hparams(profile).prior_limit)
    return tuple(round(float(v), 4) for v in mean_ab / mean_ab.norm())


def turned(hue: tuple[float, float], degrees: float) -> tuple[float, float]:
    """`hue` (a unit ab vector) turned by `degrees` toward +b (yellow) from +a (red)."""
    angle = math.atan2(hue[1], hue[0]) + math.radians(degrees)
    return round(math.cos(angle), 4), round(math.sin(angle), 4)


def choose_chroma(model: Colorizer, val: dict[str, list[torch.Tensor]], hue: tuple[float, float]) -> dict[str, dict]:
    """Set `model`'s tint hue (`hue` turned by one of HUE_TURNS) and its `tint` and `chroma` factors
    (TINT_FACTORS x CHROMA_FACTORS) to the combination with the best `select_score` on the validation
    sources; returns `against_gray` there. Shrinking the predicted chroma toward neutral trades colour
    for safety: the output moves toward the gray input, its cast shrinks with it. The factors act after
    the network, so each image goes through it once (`_forward_once`)."""
    measured = {}
    with _forward_once(model):
        for turn, tint, chroma in itertools.product(HUE_TURNS, TINT_FACTORS, CHROMA_FACTORS):
            model.hue, model.tint, model.chroma = turned(hue, turn), tint, chroma
            measured[model.hue, tint, chroma] = against_gray(model, val)
    model.hue, model.tint, model.chroma = max(measured, key=lambda k: select_score(measured[k])["select"])
    return measured[model.hue, model.tint, model.chroma]


@contextlib.contextmanager
def _forward_once(model: Colorizer):
    """Within it, `model`'s forward pass is computed once per distinct input (keyed by its bytes)."""
    memo, forward = {}, model.forward

    def once(L: torch.Tensor) -> dict[str, torch.Tensor]:  # what `predict_ab` reads
        key = hashlib.sha1(L.detach().contiguous().numpy().tobytes()).hexdigest() + str(tuple(L.shape))
        if key not in memo:  # only the chroma: the logits of 240 faces would take 300 MB
            memo[key] = {"ab": forward(L)["ab"]}
        return memo[key]

    model.forward = once
    try:
        yield model
    finally:
        del model.forward


def ship(run_dir: str | Path, name: str, profile: str, progress: bool = True, exclusive: bool = False) -> dict:
    """Ship a run's checkpoint chosen on validation as weights/NAME.pt, measured once on its test
    images, with its model card weights/NAME.md (`model_card`); `exclusive`: refuse to replace an
    existing .pt. A `train` run (aligned faces, notebook 10) is measured on the test identities
    (`evaluate`); a `train_photos` run first gets its tint and chroma factors chosen on validation
    (`choose_chroma`), then is measured against gray on the three test sources (`against_gray`).
    Returns the test measurement."""
    run_dir = Path(run_dir)
    model = load_run(run_dir)
    info = json.loads((run_dir / "arch.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    path = config.WEIGHTS_DIR / f"{name}.pt"
    if "init" in info:  # a `train_photos` run, which starts from a shipped model
        n = photo_hparams(profile).val_images
        chosen = choose_chroma(model, photos.validation_faces(profile, n), training_hue(profile))
        test = against_gray(model, photos.test_faces(n, profile))
        arch = dict(info["arch"], chroma=model.chroma, tint=model.tint, hue=list(model.hue))
        zoo.save_shipped(path, NAME, arch, model, {"val": chosen, "val_score": select_score(chosen), "test": test},
                         exclusive=exclusive, data="photos", init=info["init"], runs=info.get("init_runs", []),
                         profile=profile, steps=summary["steps"], train_seconds=summary["train_seconds"],
                         best=summary["best"],
                         sessions=summary["sessions"], threads=summary["hparams"].get("threads"))
    else:
        images = faces("test", profile, limit=hparams(profile).test_limit)
        test = evaluate({"model": model}, [images[i] for i in range(len(images))], progress=progress)["model"]
        zoo.save_shipped(path, NAME, info["arch"], model, test, exclusive=exclusive,
                         approach=summary["hparams"]["approach"], profile=profile, steps=summary["steps"],
                         train_seconds=summary["train_seconds"], val=summary["best"])
    path.with_suffix(".md").write_text(model_card(path))
    return test


HEADS = {"classification": ("quantized-ab classification",
                            "logits over quantized ab bins at stride 2, annealed-mean decoding"),
         "regression": ("ab regression", "ab regressed at stride 2")}


def model_card(weights: Path) -> str:
    """The model card of a colorizer shipped by `ship`, from its file alone: architecture, data and its
    terms, how it was trained and chosen, and its test numbers: against gray on three sources for a
    photo-trained model (`data` "photos"), on the CelebA test identities for a study's approach."""
    ck = zoo.load_shipped(str(weights), NAME)
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
- A flip self-ensemble (`predict_ab`, since 2026-12-06): the chroma is the mean of the model's for the
  photo and for the mirrored photo, mirrored back; the numbers above are measured so.
- Colours are plausible, not recovered: clothes, hair and backgrounds get muted tones{worse}.
- It inherits {biases}, skin tones).

## Terms

Code: MIT. These weights were trained on CelebA (Liu et al., "Deep Learning Face Attributes in the
Wild", ICCV 2015), available for **non-commercial research purposes only**, and the weights inherit
that restriction{"; and on VoxCeleb2 (Chung, Nagrani, Zisserman, Interspeech 2018, CC BY 4.0)" if photo else ""}.
"""


def _photo_card(weights: Path, ck: dict, architecture: str) -> str:
    """`model_card`'s body for a `train_photos` run: fine-tuning, the tint and chroma factors, against gray."""
    arch, m = ck["arch"], ck["metrics"]
    hp = photo_hparams(ck["profile"])
    n_val = max(r["images"] for r in m["val"].values())  # what chose it, whatever the profile says now
    score = m["val_score"]
    sessions = "; ".join(f"from step {s['from_step']} at {s['lr']:g}"
                         for s in train.trained_sessions(ck["sessions"], ck["steps"]))
    earlier = ";".join(f"\n  ({i}) {run}" for i, run in enumerate(ck.get("runs", []), start=1))
    earlier = f" (itself made by, in order:{earlier})" if earlier else ""
    chosen = (f" every {hp.val_every} steps: step {ck['best'].get('step', '?')}" if ck["steps"]
              else ": the hue and factors")
    return f"""The default model of `aeutils colorize IN OUT` (notebook 10, `docs/colorization.md`): CIE Lab
lightness L in, chroma ab out; the output keeps the input's L.

{architecture}
- Tint factor {arch["tint"]:g}, chroma factor {arch["chroma"]:g}: an image's mean predicted ab (its overall
  tint) keeps {arch["tint"]:g} times its strength but takes the hue
  (a, b) = ({arch["hue"][0]:.3f}, {arch["hue"][1]:.3f}), {_degrees(arch["hue"]):.0f} degrees from +a toward +b,
  and each pixel's difference from that mean is scaled by the chroma factor (`Colorizer`).
  Hue and factors are the combination with the best validation score (below) among
  the training faces' mean hue ({_degrees(training_hue(ck["profile"])):.0f} degrees) turned by
  {", ".join(f"{t:g}" for t in HUE_TURNS)} degrees toward yellow x tint {", ".join(f"{f:g}" for f in TINT_FACTORS)}
  x chroma {", ".join(f"{f:g}" for f in CHROMA_FACTORS)}. The guessed tint is what turned faces from other
  cameras too red; less of it moves the output toward the gray input.
{_photo_training(weights, ck, earlier, sessions)}
- Chosen on three validation sources ({n_val} images each: CelebA identities 160-169, the
  VoxCeleb2 validation identity, even-numbered lfw-val images; never trained on){chosen} by
  `select_score`, the mean ab RMSE saved against gray when no
  source is worse than gray on average and no cast is added (a mean RGB error past the truth's by more
  than {CAST_MAX:g} levels), else minus the shortfall. With these factors: ab RMSE saved
  {score["gain"]:.0%}, cast added {score["cast_added"]:.2f} levels, {score["worse"]:.0%} of the images worse than gray.

## Against gray (leaving the photo as it is), per source

Whole images, the ab predicted at a shorter side of {WORK_SIDE}; measured on 8-bit RGB outputs. Worse than
gray: images whose PSNR is below the gray input's. Mean RGB error: output minus truth, 8-bit levels R / G / B.

Validation (chose the checkpoint and the factors):

{sources_table(m["val"])}

Test (CelebA test identities, VoxCeleb2 test identity, odd-numbered lfw-val; measured once):

{sources_table(m["test"])}"""


def _degrees(hue) -> float:
    """The angle of an ab direction, from +a (red) toward +b (yellow)."""
    return math.degrees(math.atan2(hue[1], hue[0]))


def _photo_training(weights: Path, ck: dict, earlier: str, sessions: str) -> str:
    """`_photo_card`'s lines on how the weights were trained: a photo fine-tune, or none (a run of 0
    steps, which only chose the hue and factors again for the weights it started from)."""
    hp = photo_hparams(ck["profile"])
    command = f"aeutils train colorize --data photos --init {ck['init']}"
    if not ck["steps"]:
        return f"""- The weights shipped as `{ck["init"]}` before this run{earlier}, not trained further: this run
  (`{command} --steps 0 --ship {weights.stem}`) chose their hue and factors again."""
    return f"""- Started from the weights shipped as `{ck["init"]}` before this run{earlier}, then fine-tuned
  on photo-like crops (`aeutils.datasets.photos.PhotoCrops`, {hp.crop}x{hp.crop}, a window of
  1/{PHOTO_SCALE[1]:g} to 1/{PHOTO_SCALE[0]:g} times the crop, so whole faces appear at about the scale
  `aeutils colorize` shows the model, anywhere in the image, flipped, half re-saved as JPEG quality 40-95,
  no colour jitter) of CelebA identities 0-159 and VoxCeleb2 dev-identity frames sampled once a second.
- Loss: cross-entropy against Gaussian soft-encoded ab targets (Zhang et al. 2016), without the class
  rebalancing `{ck["init"]}` was trained with: the vivid colours it favours are the casts to avoid.
- Training: profile `{ck["profile"]}`, {ck["steps"]} steps of batch {hp.batch}, Adam ({sessions}, cosine
  decay to a tenth), gradient clip 1.0, {ck["train_seconds"] / 60:.0f} minutes with {ck["threads"]} CPU thread(s),
  no GPU: `{command} --ship {weights.stem}`."""


def _study_card(weights: Path, ck: dict, architecture: str) -> str:
    """`model_card`'s body for a `train` run: one approach of notebook 10 on aligned faces."""
    arch, hp, val = ck["arch"], hparams(ck["profile"]), ck["val"]
    encoder = ("trained from scratch" if arch["encoder"] == "scratch"
               else f"`{arch['encoder']}`, pretrained and frozen (`aeutils.models.features`)")
    loss = ("cross-entropy against Gaussian soft-encoded ab targets with class rebalancing (Zhang et al. 2016)"
            if arch["head"] == "classification" else "MSE of the ab at half resolution")
    return f"""A colorizer of notebook 10's study (`docs/colorization.md`), approach `{ck["approach"]}`: CIE Lab
lightness L in, chroma ab out; the output keeps the input's L. `aeutils colorize IN OUT --model {weights.stem}`.

{architecture}
- Encoder: {encoder}.
- Training data: CelebA aligned faces of identities 0-159, resized to {hp.size[0]}x{hp.size[1]},
  random {hp.crop}x{hp.crop} crops with flips.
- Loss: {loss}.
- Training: profile `{ck["profile"]}`, {ck["steps"]} steps of batch {hp.batch}, Adam at {hp.lr:g},
  {ck["train_seconds"] / 60:.0f} minutes on the CPU, no GPU:
  `aeutils train colorize --approach {ck["approach"]} --ship {weights.stem}`.
- Chosen on validation AuC (CelebA identities 160-169, whole images) every {hp.val_every} steps:
  step {val.get("step", "?")}, AuC {val.get("auc", float("nan")):.3f}.

## Test (CelebA test identities 170-199, whole images; measured once)

{ck["metrics"]["n_images"]} images, the ab predicted at a shorter side of {WORK_SIDE}; measured on 8-bit RGB outputs.

{results_table({weights.stem: ck["metrics"]})}"""
