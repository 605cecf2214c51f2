"""The `aeutils repair` command: by default the safe automatic repair (`AutoRepair`), with --damage a
chosen shipped model, told the JPEG's quality or the blur's or noise's sigma, and holes given or found:

    aeutils repair damaged.png repaired.png --damage blocks --mask holes.png
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from torch import nn

from aeutils import batch
from aeutils.benchmark import blur_estimate
from aeutils.datasets import damage
from aeutils.errors import UserError
from aeutils.images import jpeg_luma_steps, jpeg_quality, open_image, save_image, to_rgb
from aeutils.options import positive_float
from aeutils.tasks.repair.holes import holes_in
from aeutils.tasks.repair.infer import (
    BLUR_GATE,
    EVEN_NOISE_RAMP,
    GREY_RAMP,
    JPEG_LEAVE_ABOVE,
    JPEG_NOISE_RAMP,
    NOISE_RAMPS,
    SHIPPED,
    AutoRepair,
    blur_repairable,
    denoise_given,
    estimate_noise,
    first_ramp,
    is_grey,
    leave_as_is,
    load_model,
    model_for,
    noise_ramp,
    repair_known,
    unmosaic,
)

AUTO = "auto"  # the command's default without --damage (`AutoRepair`)
NOISE_GIVEN_MAX = 255 * damage.NOISE_TOLD_MAX  # 8-bit levels: the heaviest noise the model trained on
GIVEN = ("blur", "jpeg", "noise")  # the damages whose strength a user may give (`--strength`)


def register(sub) -> None:
    p = batch.add_parser(sub, "repair", ".png",
                         description="Repair a damaged image with a shipped pyramidal autoencoder. Large "
                         "images are processed in tiles.")
    p.add_argument("--damage", choices=[AUTO, *damage.KINDS, damage.BLIND], default=None,
                   help="what happened to the image. Default (auto): undo a JPEG's artifacts when its file says "
                   f"quality {JPEG_LEAVE_ABOVE} or less, or noise where the noise estimated in the image is above "
                   f"{ramp_text('lossless')} in a lossless file (in a colour photo, where the model's correction "
                   "lies in every channel, as noise's does, not in the luma alone, as film grain and texture do; in a "
                   f"grey one from {255 * GREY_RAMP[0]:g} levels), {ramp_text('jpeg')} in a JPEG (or, read through its "
                   f"quantization, {255 * JPEG_NOISE_RAMP[0]:g} levels, all from {255 * JPEG_NOISE_RAMP[1]:g}, or "
                   f"{255 * EVEN_NOISE_RAMP[0]:g} levels where the model's correction spreads evenly over the "
                   "photo), and "
                   f"{ramp_text('deblocked')} in a JPEG after undoing its artifacts; then blur where a lossless "
                   f"photo, or a JPEG above quality {JPEG_LEAVE_ABOVE}, measures a blur of at least {BLUR_GATE:g} px "
                   "(through the blur model for JPEG files); a photo where a mosaic is found goes "
                   "through the mosaic model alone (a mosaic over part of it: that part alone); otherwise leave "
                   "the photo as it is (light blur and holes need --damage). noise: the default's JPEG and noise "
                   "steps alone (with --strength, a sigma you know). blind: damage of unknown kind, "
                   "the same as the default (with --model, the default: the model runs as it is). For blocks, "
                   "squares and grid without --mask, the holes are found in "
                   "the image: pure-black lines and rectangles with sharp edges (not dark hair or the black "
                   "corners of a rotated photo); in a JPEG file, near-black ones")
    p.add_argument("--mask", default=None, help="hole mask image of the same size: white (above 127) = missing")
    p.add_argument("--model", default=None, help=f"shipped model name or .pt file (default repair-DAMAGE "
                   f"if shipped, else {SHIPPED}; for a JPEG file's holes or blur repair-DAMAGE-jpeg if shipped)")
    p.add_argument("--strength", type=positive_float, default=None, metavar="Q|SIGMA",
                   help="with --damage jpeg: the quality (1-100) the photo was saved at, if it is no longer the "
                   "JPEG file that says so (default: read from the file; a lossless file counts as never "
                   f"compressed and comes back unchanged). With --damage blur: the blur's Gaussian sigma in pixels, "
                   f"up to {damage.BLUR_TOLD_MAX:g} (default: a low estimate from the photo). With --damage noise: "
                   f"the noise's Gaussian sigma in 8-bit levels, up to {NOISE_GIVEN_MAX:g} (default: estimated from "
                   "the photo, where light noise in a fine JPEG reads like texture or film grain and is left)")
    p.add_argument("--tile", type=int, default=256, help="tile side in pixels (bounds memory)")
    p.set_defaults(func=run)


def ramp_text(kind: str) -> str:
    """A noise ramp (`NOISE_RAMPS`) as --help words it."""
    low, high = (255 * level for level in NOISE_RAMPS[kind])
    return f"{low:g} levels (all of the model's correction from {high:g})"


def nothing_found(kind: str, arr: np.ndarray, quality: int | None) -> str:
    """Why the default (`kind` auto) or --damage noise wrote a photo unchanged."""
    if kind == AUTO:
        return ("no JPEG artifacts, noise, blur or mosaic found, written unchanged (light blur, most of a JPEG's "
                "blur and holes need --damage)")
    sigma = 255 * estimate_noise(arr)
    low = 255 * first_ramp(noise_ramp(quality), is_grey(arr))[0]
    if sigma <= low:
        return f"no noise found (estimated sigma {sigma:.1f} levels, at most {low:g}): written unchanged"
    return (f"no noise found: what reads as noise (estimated sigma {sigma:.1f} levels) lies in the luma alone, as a "
            "film's grain and a face's texture do, not in every channel as noise does: written unchanged")


def read_mask(path: str, size: tuple[int, int]) -> np.ndarray:
    """A hole mask file -> bool (H, W), True = missing; must match the image's (W, H) `size`."""
    m = open_image(path).convert("L")
    if m.size != size:
        raise UserError(f"mask {path} is {m.size[0]}x{m.size[1]}, image is {size[0]}x{size[1]}")
    return np.asarray(m) > 127


def check_strength(kind: str, strength: float | None) -> None:
    """`--strength` is a JPEG quality (a whole number 1-100) with --damage jpeg, a blur's sigma (up to
    BLUR_TOLD_MAX, what the model was trained on) with --damage blur, a noise's sigma in 8-bit levels (up to
    NOISE_GIVEN_MAX) with --damage noise, and nothing else."""
    if strength is None:
        return
    if kind not in GIVEN:
        raise UserError(f"--strength is read with --damage {' or '.join(GIVEN)} only")
    if kind == "jpeg" and (strength != int(strength) or strength > 100):
        raise UserError(f"--strength with --damage jpeg is a JPEG quality, a whole number 1-100, not {strength:g}")
    if kind == "noise" and strength > NOISE_GIVEN_MAX:
        raise UserError(f"--strength with --damage noise is a Gaussian sigma in 8-bit levels, up to "
                        f"{NOISE_GIVEN_MAX:g}, not {strength:g}")
    if kind == "blur" and strength > damage.BLUR_TOLD_MAX:
        raise UserError(f"--strength with --damage blur is a Gaussian sigma up to {damage.BLUR_TOLD_MAX:g} pixels "
                        f"(what the model was trained on), not {strength:g}")


def _repair_kind(model: nn.Module, kind: str, args, src: Path, raw: Image.Image, arr: np.ndarray,
                 tiling: dict) -> np.ndarray:
    """`aeutils repair --damage KIND` on one photo, for any damage but noise (`AutoRepair`'s): the mosaic
    model only where a mosaic is found, and over part of the photo there alone (it altered clean photos;
    `unmosaic`), a told model gets
    the JPEG's quality or the blur's sigma, a hole damage its mask (given, or found in the image) and
    whether the file is a JPEG (whose holes it fills from another classical fill: `repair.prefill`)."""
    params = {"quality": jpeg_quality(raw)}  # a JPEG file's (None for a lossless one)
    if kind == "pixelate":  # as the default gates it
        found = unmosaic(model, arr, **tiling)
        print(f"{src}: " + (f"undid {found[1]}" if found else "no mosaic found: written unchanged"), file=sys.stderr)
        return arr.copy() if found is None else found[0]
    if model.told == "blur":
        params["sigma"] = args.strength
        if not blur_repairable(params["quality"], model):
            print(f"{src}: a JPEG file (quality {params['quality']}): the blur model would sharpen its blocks with "
                  "the blur; written unchanged", file=sys.stderr)
        elif args.strength is None:
            params["sigma"] = blur_estimate.blur_sigma(arr, jpeg=params["quality"] is not None)
            print(f"{src}: estimated blur sigma {params['sigma']:.2f} px (a low estimate: give --strength SIGMA "
                  "if you know it)" + ("; written unchanged" if not params["sigma"] else ""), file=sys.stderr)
    if model.told == "jpeg":
        if args.strength:
            params["quality"] = int(args.strength)
        if leave_as_is(params["quality"]):
            why = f"quality {params['quality']}" if params["quality"] else "not a JPEG file and no --strength"
            print(f"{src}: {why}, nothing to undo: written unchanged", file=sys.stderr)
    mask = None
    if args.mask:
        mask = read_mask(args.mask, (arr.shape[1], arr.shape[0]))
    elif kind in damage.HOLE_KINDS:
        mask = holes_in(arr, params["quality"])
        if not mask.any():
            print(f"{src}: no holes found: written unchanged; pass --mask to say where they are", file=sys.stderr)
            return arr.copy()
    if mask is not None:
        arr = np.where(mask[..., None], np.uint8(round(damage.HOLE_FILL * 255)), arr)
    return repair_known(model, arr, params, mask, **tiling)


def run(args) -> int:
    if args.tile < 64:
        raise UserError("--tile must be at least 64")
    kind = args.damage or (damage.BLIND if args.model else AUTO)
    if kind == damage.BLIND and not args.model:
        kind = AUTO  # damage of unknown kind: the safe default, not the blind study model (up to 20 dB worse)
    check_strength(kind, args.strength)
    if kind == AUTO and args.mask:
        raise UserError("--mask needs --damage blocks, squares or grid: the automatic repair fills no holes")
    if kind == AUTO and args.model:
        raise UserError("--model needs --damage: auto runs the shipped repair-jpeg, repair-noise, repair-blur and "
                        "repair-pixelate")
    load = functools.cache(lambda name: AutoRepair.shipped() if name == AUTO else load_model(name)[0])

    def model_name(jpeg: bool) -> str:  # a JPEG file's holes have a model of their own where shipped
        return AUTO if kind == AUTO else args.model or model_for(kind, jpeg)

    def automatic(quality: int | None) -> AutoRepair:
        """The default, or with --damage noise its JPEG and noise steps alone: the noise model only where noise
        is found (run on every file, it smoothed textured faces with light or no noise: docs/repair.md), read
        after the JPEG model in a JPEG of quality up to JPEG_LEAVE_ABOVE (whose blocks hide it)."""
        return load(AUTO) if kind == AUTO else AutoRepair(load("repair-jpeg"), load(model_name(quality is not None)))

    def one(src: Path, dst: Path) -> None:
        raw = open_image(src)
        arr = np.asarray(to_rgb(raw))
        tiling = dict(tile=args.tile, overlap=min(32, args.tile // 8), progress=batch.tile_progress(args))
        if kind in (AUTO, "noise"):
            quality = jpeg_quality(raw)
            params = {"quality": quality, "steps": jpeg_luma_steps(raw)}
            if args.strength:
                out, done = denoise_given(automatic(quality), arr, args.strength / 255, params, **tiling)
            else:
                out, done = automatic(quality)(arr, params, **tiling)
            print(f"{src}: " + (f"undid {' and '.join(done)}" if done else nothing_found(kind, arr, quality)),
                  file=sys.stderr)
        else:
            model = load(model_name(jpeg_quality(raw) is not None))
            out = _repair_kind(model, kind, args, src, raw, arr, tiling)
            if getattr(model, "study", False):
                print(f"{src}: repaired by a study model, trained on damage inside the study's ranges only: it can "
                      "make a photo outside them worse (docs/repair.md)", file=sys.stderr)
        save_image(Image.fromarray(out, "RGB"), dst, exclusive=not args.force)
    return batch.run(args, one, lambda: load(model_name(False)))
