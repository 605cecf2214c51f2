"""Robustness benchmark of the repair models (issue: restoration that holds up on anyone's photos).

Sweeps each model over every strength of its damage (`aeutils.datasets.damage.SWEEP`, and clean input) on
CelebA test identities, VoxCeleb2 test frames and lfw-val, beside the damaged input and the classical
baselines tuned per strength on validation images; prints a table per damage with the verdict, and
writes KIND.json and KIND.png under --out.

    python scripts/robustness.py --kinds noise,blur --per-source 12 --out resources/repair/robustness
    python scripts/robustness.py --kinds noise --model noise=runs/repair-wide-noise-cpu/best.pt
    python scripts/robustness.py --kinds none --upscale      # x4 super-resolution of small JPEG inputs
    python scripts/robustness.py --auto                      # also the default without --damage, every kind
    python scripts/robustness.py --kinds blur --estimate --auto   # also the blur model told its own estimate
    python scripts/robustness.py --kinds blocks,squares,grid --found   # also the hole models without a mask
    python scripts/robustness.py --kinds noise --saved-as 90 --given   # also the noise model told the sigma
    python scripts/robustness.py --kinds none --jpeg-leave 24          # the JPEG model above its quality cut-off
    python scripts/robustness.py --kinds mixed                         # the default on damages that come together
    python scripts/robustness.py --kinds noise,blocks --saved-as 90    # damaged photos saved as JPEGs (KIND-q90.json)
    python scripts/robustness.py --kinds pixelate --part 0.5 --auto    # a mosaic over half of each side only
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from aeutils import checkpoint, config, metrics, train, zoo
from aeutils.benchmark import blur_estimate, robustness
from aeutils.datasets import damage, photos
from aeutils.images import to_uint8
from aeutils.models.repair import build
from aeutils.tasks import colorize, repair, superres
from aeutils.tasks.repair.holes import holes_in
from aeutils.tasks.superres.cli import variant_for


def load(spec: str) -> torch.nn.Module:
    """A shipped model (name or .pt) or a run's checkpoint (`runs/.../best.pt`, architecture from its hparams)."""
    path = Path(spec)
    if path.name in ("best.pt", "last.pt"):
        ck = checkpoint.load(path)
        model = build(json.loads(ck["hparams"]["arch"]))
        train.load_weights(model, ck["model"], path)
        return repair.mark(model, ck["hparams"].get("kinds"), ck["hparams"].get("strengths")).eval()
    return zoo.load(spec, task="repair")


class Estimated:
    """A told blur model run as `aeutils repair --damage blur` runs it without `--strength`: told the
    sigma estimated from the photo (`blur_estimate.blur_sigma`), not the truth."""

    def __init__(self, model: torch.nn.Module):
        self.model = model


class Given:
    """The noise steps of the default as `aeutils repair --damage noise --strength SIGMA` runs them: told the
    true sigma (`repair.denoise_given`); a clean photo, with no sigma to give, as without --strength."""

    def __init__(self, auto: repair.AutoRepair):
        self.auto = auto


class Found:
    """A hole model run as `aeutils repair --damage KIND` runs it without `--mask`: on the holes found
    from the damage itself (`holes.holes_in`), not the true mask."""

    def __init__(self, model: torch.nn.Module):
        self.model = model


def run(model, im: np.ndarray, params: dict) -> np.ndarray:
    """What `aeutils repair` does with a model (`--damage KIND`) or with the default (`AutoRepair`)."""
    if isinstance(model, repair.AutoRepair):
        return model(im, params)[0]
    if isinstance(model, Estimated):
        quality = params.get("quality")
        told = {"quality": quality, "sigma": blur_estimate.blur_sigma(im, jpeg=quality is not None)}
        return repair.repair_known(model.model, im, told)
    if isinstance(model, Given):
        return (repair.denoise_given(model.auto, im, params["sigma"], params) if params.get("sigma")
                else model.auto(im, params))[0]
    if isinstance(model, Found):
        quality = params.get("quality")
        return repair.repair_known(model.model, im, {"quality": quality}, holes_in(im, quality))
    return repair.run_told(model, im, params)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kinds", default=",".join(damage.SWEEP), help=f"of {','.join(damage.SWEEP)}, and "
                   f"{damage.MIXED} (the default without --damage on the mixtures of damage.MIXES)")
    p.add_argument("--model", action="append", default=[], metavar="KIND=MODEL",
                   help="the model to sweep for KIND (default: what `aeutils repair --damage KIND` uses)")
    p.add_argument("--also", action="append", default=[], metavar="MODEL",
                   help="another model to sweep on every kind, e.g. repair-blind")
    p.add_argument("--auto", action="store_true", help="also the command's default without --damage "
                   "(repair.AutoRepair) on every kind but holes")
    p.add_argument("--estimate", action="store_true", help="also the blur model told the sigma estimated "
                   "from the photo (what --damage blur does without --strength), as model `estimated`")
    p.add_argument("--given", action="store_true", help="also the noise model told the true sigma (what --damage "
                   "noise --strength SIGMA does), as model `given`")
    p.add_argument("--found", action="store_true", help="also each hole model without a mask, on the holes "
                   "found from the damage (what --damage KIND does without --mask), as model `found`")
    p.add_argument("--per-source", type=int, default=12, help="test images per source")
    p.add_argument("--tune-per-source", type=int, default=3, help="validation images per source to tune baselines")
    p.add_argument("--slow", action="store_true", help="also BM3D (seconds per image)")
    p.add_argument("--card", action="store_true",
                   help="write the model card (weights/NAME.md) of each shipped wide model swept")
    p.add_argument("--upscale", action="store_true", help="also x4 super-resolution (both shipped variants) "
                   "on validation and test images, into resources/superres/robustness.json")
    p.add_argument("--colorize", action="store_true", help="also the shipped colorization against gray, per "
                   "source, on validation and test images, into resources/colorization/robustness.json")
    p.add_argument("--jpeg-leave", type=int, metavar="N", help="also the told JPEG model at quality 40-90 on "
                   "N validation faces per source, run even above repair.JPEG_LEAVE_ABOVE (what chose it)")
    p.add_argument("--saved-as", type=int, metavar="QUALITY", help="save every damaged photo as a JPEG of "
                   "this quality, as most users' photos are, and tell the command its quality (not with "
                   f"jpeg or {damage.MIXED}; with --card, the card of the damage's model for JPEG files); "
                   "writes KIND-qQUALITY.json/.png")
    p.add_argument("--part", type=float, metavar="SHARE", help="with --kinds pixelate: the mosaic over a box of "
                   "this share of each side only (a face pixelated in a larger photo); writes pixelate-partNN")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("resources/repair/robustness"))
    args = p.parse_args()
    kinds = [k for k in args.kinds.split(",") if k != "none"]
    if args.saved_as is not None and ({"jpeg", damage.MIXED} & set(kinds) or not 1 <= args.saved_as <= 95
                                      or args.card and set(kinds) - set(repair.JPEG_KINDS)):
        p.error(f"--saved-as takes a quality of 1-95, and not jpeg or {damage.MIXED}; with --card, "
                f"{', '.join(repair.JPEG_KINDS)} only (the card of their model for JPEG files)")
    if args.part is not None and (kinds != ["pixelate"] or not 0 < args.part < 1 or args.card):
        p.error("--part takes a share between 0 and 1 with --kinds pixelate alone, and no --card")
    if args.saved_as is not None and args.card and any(not repair.model_for(k, True).endswith("-jpeg") for k in kinds):
        p.error("--card with --saved-as writes the card of repair-KIND-jpeg: train and ship it first (--jpeg)")
    torch.set_num_threads(args.threads)
    chosen = dict(m.split("=", 1) for m in args.model)
    args.out.mkdir(parents=True, exist_ok=True)
    test = photos.test_faces(args.per_source)
    val = photos.validation_faces("cpu", args.tune_per_source)
    if args.upscale:
        upscale(test, args.per_source)
    if args.colorize:
        colorization(test, args.per_source)
    if args.jpeg_leave:
        jpeg_leave(photos.validation_faces("cpu", args.jpeg_leave))
    for kind in kinds:
        start = time.time()
        jpeg_file = args.saved_as is not None  # the command's model for a JPEG file's holes
        main_model = "auto" if kind == damage.MIXED else chosen.get(kind, repair.model_for(kind, jpeg_file))
        models = {"model": repair.AutoRepair.shipped() if kind == damage.MIXED else load(main_model)}
        models |= {Path(name).stem: load(name) for name in args.also}
        if args.auto and kind not in (*damage.HOLE_KINDS, damage.MIXED):  # the default finds no holes
            models["auto"] = repair.AutoRepair.shipped()
        if args.estimate and kind == "blur":
            models["estimated"] = Estimated(models["model"])
        if args.given and kind == "noise":
            models["given"] = Given(repair.AutoRepair.noise_steps(models["model"]))
        if args.found and kind in damage.HOLE_KINDS:
            models["found"] = Found(models["model"])
        tuned = robustness.tune(kind, val, slow=args.slow, saved_as=args.saved_as, part=args.part)
        results = robustness.sweep(kind, models, test, run, tuned=tuned, slow=args.slow, progress=True,
                                   saved_as=args.saved_as, part=args.part)
        verdicts = {name: robustness.summary(results, name, robustness.reference(kind, args.saved_as))
                    for name in models}
        record = {"kind": kind, "model": main_model, "also": [name for name in models if name != "model"],
                  "saved_as": args.saved_as, "part": args.part, "tuned": {str(k): v for k, v in tuned.items()},
                  "images_per_source": {s: len(v) for s, v in test.items()}, "results": results,
                  "summary": verdicts, "seconds": round(time.time() - start)}
        name = kind + ("" if args.part is None else f"-part{round(100 * args.part)}") + (
            "" if args.saved_as is None else f"-q{args.saved_as}")
        (args.out / f"{name}.json").write_text(json.dumps(record, indent=1))
        title = kind + ("" if args.part is None else f" over {args.part:.0%} of each side") + (
            "" if args.saved_as is None else f", saved as JPEG quality {args.saved_as}")
        robustness.figure(title, results, args.out / f"{name}.png")
        print(f"\n## {name}: {main_model} ({record['seconds']} s)\n")
        print(robustness.markdown(results, "model"))
        if "auto" in models:
            print(f"\n## {kind}: the default without --damage\n\n" + robustness.markdown(results, "auto"))
        if "estimated" in models:
            print(f"\n## {kind}: told the estimated sigma\n\n" + robustness.markdown(results, "estimated"))
        if "given" in models:
            print(f"\n## {kind}: told the true sigma (--strength)\n\n" + robustness.markdown(results, "given"))
        if "found" in models:
            print(f"\n## {kind}: without a mask, on the holes found\n\n" + robustness.markdown(results, "found"))
        for name, v in verdicts.items():
            print(f"\n{name}: " + json.dumps({k: (round(x, 2) if isinstance(x, float) else x) for k, x in v.items()}))
        if args.card and kind != damage.MIXED and not main_model.endswith(".pt"):
            weights = zoo.resolve(main_model)
            weights.with_suffix(".md").write_text(repair.wide_model_card(weights, record))


def upscale(test: dict, per_source: int) -> None:
    """The shipped x4 variants against bicubic and Lanczos on small inputs saved as PNG or JPEG:
    validation images (which chose `aeutils upscale`'s default per input) and test images, each source
    apart; `auto` is the variant the command runs on that input (`variant_for`)."""
    variants = [v for v in superres.VARIANTS if (config.WEIGHTS_DIR / f"sr-x4-{v}.pt").is_file()]
    models = {v: zoo.load(f"sr-x4-{v}", task="superres") for v in variants}
    record = {split: robustness.upscale_sweep(models, sources, 4, lambda m, t: superres.upscale_tiled(m, t))
              for split, sources in [("val", photos.validation_faces("cpu", per_source)), ("test", test)]}
    for per in record.values():
        for cells in per.values():
            for q, r in cells.items():
                r["auto"] = r[variant_for(jpeg=q != "png", scale=4)]
    path = Path("resources/superres/robustness.json")
    path.write_text(json.dumps(record, indent=1))
    columns = ["bicubic", "lanczos", *variants, "auto"]
    for split, per in record.items():
        print(f"\n## upscale x4, {split} (PSNR dB)\n\n| source | input | {' | '.join(columns)} |\n"
              + "|---" * (len(columns) + 2) + "|")
        for source, cells in per.items():
            for q, r in cells.items():
                print(f"| {source} | {q} | " + " | ".join(f"{r[c]:.2f}" for c in columns) + " |")


def jpeg_leave(val: dict) -> None:
    """Mean PSNR of the JPEG input and of the told JPEG model per source and quality around
    repair.JPEG_LEAVE_ABOVE, and how many faces it made worse: above the highest quality where it
    gains on every source, the command leaves a JPEG as it is."""
    model = zoo.load("repair-jpeg", task="repair")
    print("\n## told JPEG model on validation faces, by quality (input -> model dB, faces made worse)\n")
    for quality in (40, 50, 60, 70, 80, 90):
        cells = []
        for source, faces in val.items():
            pairs = []
            for i, x in enumerate(faces):
                gt, im = to_uint8(x), to_uint8(damage.apply("jpeg", x, seed=i, quality=quality).image)
                out = repair.repair_array(model, im, level=damage.told_level("jpeg", {"quality": quality}))
                pairs.append((min(metrics.psnr(im, gt), 60.0), min(metrics.psnr(out, gt), 60.0)))
            before, after = np.mean(pairs, axis=0)
            worse = sum(b < a for a, b in pairs)
            cells.append(f"{source} {before:.2f} -> {after:.2f} ({after - before:+.2f}, {worse} of {len(pairs)} worse)")
        print(f"quality {quality}: " + " | ".join(cells), flush=True)


def colorization(test: dict, per_source: int) -> None:
    """The shipped colorizer against gray on each source (`colorize.against_gray`), validation images
    (which chose it) and test images, into resources/colorization/robustness.json."""
    model = zoo.load(colorize.DEFAULT_MODEL, task="colorize")
    record = {"model": colorize.DEFAULT_MODEL, "tint": model.tint, "chroma": model.chroma, "hue": model.hue,
              "val": colorize.against_gray(model, photos.validation_faces("cpu", per_source)),
              "test": colorize.against_gray(model, test)}
    Path("resources/colorization/robustness.json").write_text(json.dumps(record, indent=1))
    for split in ("val", "test"):
        print(f"\n## colorize ({split})\n\n{colorize.sources_table(record[split])}")


if __name__ == "__main__":
    main()
