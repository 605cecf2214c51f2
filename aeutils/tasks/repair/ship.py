"""The model cards of shipped repair models: a study model's (blind or specialised), measured on the
test faces against the classical baselines, and a wide model's, measured by the robustness sweep."""
from __future__ import annotations

import json
from pathlib import Path

from aeutils import train, zoo
from aeutils.benchmark import robustness
from aeutils.datasets import damage, photos
from aeutils.models.repair import build
from aeutils.tasks.repair.evaluate import markdown_table
from aeutils.tasks.repair.hparams import INPUTS, JPEG_VAL, study_hparams, wide_hparams
from aeutils.tasks.repair.infer import load


def model_card(weights: Path, results: dict, name: str) -> str:
    """The model card of a shipped repair model (blind or specialised on one damage): architecture,
    data and its terms, training, and the measured test table (`results` as `evaluate` returns it or
    results.json holds it; `name`: the model's column in it)."""
    ck = zoo.load_shipped(str(weights), task="repair")
    model = build(ck["arch"])
    params = sum(p.numel() for p in model.parameters())
    val = ck["metrics"].get("val", {})
    kind = ck.get("damage", damage.BLIND)
    hp = study_hparams(ck.get("profile", "cpu"))
    lr = ck.get("lr", hp.lr)
    lr = lr if isinstance(lr, str) else format(lr, "g")
    if kind == damage.BLIND:
        what = ("Blind damage-repair model of notebook 09 (`aeutils repair --model repair-blind`): one network for "
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
- Training data: CelebA aligned faces, identities 0-159 (4,800 images), {hp.crop}x{hp.crop} random crops of
  faces damaged whole by {drawn}; checkpoint chosen on validation PSNR (identities 160-169, fixed
  seeded damages; best validation PSNR {val.get("psnr", float("nan")):.2f} dB at step {val.get("step", "?")}).
- Training: profile `{ck.get("profile")}`, {ck.get("steps")} steps of batch {hp.batch}, Adam {lr},
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
    hp = wide_hparams(ck.get("profile", "cpu"))
    sessions = "; ".join(f"from step {s['from_step']} at lr {s['lr']:g}"
                         for s in train.trained_sessions(ck.get("sessions", []), ck.get("steps", 0)))
    name, values = damage.SWEEP[kind]
    v = record["summary"]["model"]
    images = ", ".join(f"{n} {s}" for s, n in record["images_per_source"].items())
    strengths = ", ".join(robustness.label(kind, x).split(" ", 1)[1] for x in values)
    nan = float("nan")
    jpeg = ck.get("saved_as")  # a model for JPEG files (`--jpeg`): the qualities it trained on
    ref = robustness.reference(kind, record.get("saved_as"))
    chosen = "on mean PSNR"
    if "select" in val:
        worse = "make a photo worse" if ref == "input" else f"fall behind the {ref} fill"
        chosen = (f"the best mean PSNR among those that never {worse}" if val["select"] == val.get("psnr")
                  else "the one falling least short of the never-worse bars (none met them all)")
    n_val = ck.get("val_images") or hp.val_images  # a file that does not record it was chosen on val_images
    soft = ""
    if "soft" in (ck.get("val_sources") or "").split(","):
        soft = f" and a fourth, those {n_val} blurred by {photos.SOFT_SIGMA:g} px (`photos.softened`)"
    norm = "with" if ck["arch"].get("norm", True) else "without"
    given = name if ref == "input" else "mask"
    told_text, told_kind = "It is not told the strength.", load(ck).told
    if jpeg and kind == "blur":
        told_text = ("It is the model for **JPEG files** (a lossless file's blur goes to `repair-blur`), which the "
                     "lossless model's sharpening of a JPEG's blocks made worse: told the blur's Gaussian sigma in "
                     f"pixels (`--strength SIGMA`, up to {damage.BLUR_TOLD_MAX:g}, or the estimate); the sweep below "
                     "gives it the true sigma, as it gives the baselines.")
    elif jpeg:
        told_text = ("It is the model for **JPEG files** (a lossless file's holes go to `repair-" + kind + "`): "
                     "given the hole mask (`--mask`), the holes are first filled by Telea's inpainting "
                     "(`repair.prefill`), which it refines, and known pixels are kept.")
    elif kind in damage.HOLE_KINDS:
        told_text = ("It is given the hole mask (`--mask`, or without one the holes found from the damage); the "
                     "holes are first filled by biharmonic inpainting (in a JPEG file by Telea's), which it refines, "
                     "and known pixels are kept.")
    elif told_kind == "noise":
        told_text = ("It is told the noise's Gaussian sigma that `aeutils repair` estimates in the photo's flattest "
                     "patches (`repair.estimate_noise`; in a JPEG file the larger of that and the noise read through "
                     "its quantization, `repair.noise_level`), as each training crop was told its own estimate, and "
                     "so is it in the sweep below; not a sigma the user gives: the true sigma reads higher than the "
                     "estimate wherever noise clips.")
    elif told_kind == "jpeg":
        told_text = ("It is told the quality the photo was saved at, read from the JPEG file's quantization "
                     "tables (`images.jpeg_quality`) or given with `--strength`; a lossless file counts as never "
                     "compressed.")
    elif told_kind == "blur":
        told_text = (f"It is told the blur's Gaussian sigma in pixels (`--strength SIGMA`, up to "
                     f"{damage.BLUR_TOLD_MAX:g}); the sweep below gives it the true sigma, as it gives the baselines.")
    return f"""# {weights.stem}

Repair model for **{kind}** at any strength, from none to heavy, on faces from any source:
`aeutils repair --damage {kind}` uses it. {told_text}

- Architecture: `{json.dumps(ck["arch"])}` (`aeutils.models.repair.build`: a U-Net {norm} batch norm,
  whose output is the input plus a correction), {params:,} parameters, stored in float16
  ({weights.stat().st_size / 1e6:.1f} MB).
- Input: {ck.get("inputs", INPUTS)}. Output: repaired RGB. Any image size, in tiles.
- Training data: CelebA aligned faces, identities 0-159 (4,800 images), and VoxCeleb2 dev-identity
  frames sampled once a second throughout every clip (`data/voxceleb2-dense`), as {hp.crop}x{hp.crop}
  photo-like crops (`aeutils.datasets.photos.PhotoCrops`: resized {ck.get("scale") or "0.5-1"}x, anywhere in the
  image, flipped, brightness / contrast / saturation / white-balance jitter, half of them re-saved as JPEG quality
  40-95), damaged at a strength drawn by `damage.draw_wide` ({kind}: `{json.dumps(damage.WIDE[kind])}`){
  f", then saved as a JPEG of quality {jpeg}" if jpeg else ""}{
  " and the holes filled by Telea's inpainting" if jpeg and kind in damage.HOLE_KINDS else ""}.
- Checkpoint chosen on a sweep over every strength on three validation sources ({n_val} images each of
  CelebA identities 160-169, the VoxCeleb2 validation identity, even-numbered lfw-val images; never
  trained on){soft}{f", saved as JPEGs of quality {JPEG_VAL}" if jpeg else ""}, {chosen}:
  {val.get("psnr", nan):.2f} dB at step {val.get("step", "?")} (worst gain over {_over(ref)}
  {val.get("gain_min", nan):+.2f} dB, clean input returned at {val.get("clean_min", nan):.1f} dB or better,
  largest mean colour shift {val.get("cast_max", nan):.2f} levels).
- Training: profile `{ck.get("profile")}`, {ck.get("steps")} steps of batch {hp.batch}, Adam ({sessions}),
  {ck.get("loss")}, {ck.get("train_seconds", 0) / 60:.0f} minutes on a 2-core CPU (no GPU){
  ", started from `" + ck["init"] + "`" if ck.get("init") else ", from a random start"}.
- Terms: CelebA is for non-commercial research only (Liu et al., "Deep Learning Face Attributes in
  the Wild", ICCV 2015) and these weights inherit that restriction; VoxCeleb2 is CC BY 4.0 (Chung,
  Nagrani, Zisserman, Interspeech 2018).

## Robustness sweep (`scripts/robustness.py`)

Test images: {images} (CelebA test identities, VoxCeleb2 test-identity frames, odd-numbered
lfw-val images); {kind} at {name} {strengths} and clean{
f", saved as JPEGs of quality {record['saved_as']}" if record.get("saved_as") else ""}. PSNR (dB, each
image capped at 60) on 8-bit outputs; classical baselines given the true {given}, their own knob tuned
per strength on validation images; bold where the model is at least as good as the best of them.

{robustness.markdown(record["results"], "model")}

Worst gain over {_over(ref)} {v["gain_min"]:+.2f} dB; clean input returned at {v["clean_min"]:.1f} dB or
better; largest mean colour shift {v["cast_max"]:.2f} levels (8-bit), {v.get("cast_added", nan):.2f} beyond both 1 level
and the shift of {_over(ref)}; cells short of their due gain
({"+0.3 dB where the input is below 40 dB, no loss elsewhere" if ref == "input" else "no loss against the fill"}): \
{", ".join(v["short"]) or "none"}.
"""


def _over(ref: str) -> str:
    """How a card names what a model must at least match (`robustness.reference`)."""
    return "the damaged input" if ref == "input" else f"the {ref} fill it refines"


def card(weights: Path, measured: dict, name: str | None = None) -> str:
    """The model card of a shipped repair model: `wide_model_card` for one trained at every strength
    (`measured`: its robustness record), else `model_card` (`measured`: the test results, `name`: the
    model's column in them)."""
    if zoo.load_shipped(str(weights), task="repair").get("strengths") == "wide":
        return wide_model_card(weights, measured)
    return model_card(weights, measured, name)
