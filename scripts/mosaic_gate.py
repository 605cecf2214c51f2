"""Choose the mosaic gate (`repair.MOSAIC_GATE`) on validation faces.

The mosaic model runs only where `repair.find_mosaic` finds a mosaic: too low a gate and it alters
photos without one (it returned clean test photos at 41-49 dB, one at 37.3), too high and mosaics stay.
`aeutils repair --damage pixelate` looks in the file as it is; the default (`repair.AutoRepair`) in a
JPEG file of quality up to JPEG_LEAVE_ABOVE after the told JPEG model, whose output the mosaic model
then takes. For every validation face (CelebA identities 160-169, the VoxCeleb2 validation identity,
even-numbered lfw-val images), each damage in DAMAGES (mosaics of every side the sweep visits, and
photos without a mosaic: clean, noisy, blurred), kept lossless or saved at each quality in QUALITIES,
this records the largest `mosaic_gaps` value of the file (and after the JPEG model) and the gains of
the mosaic model (and of the JPEG model, alone and followed by the mosaic model), then prints:
- per damage and quality: the gaps' ranges over the faces and the mean gains;
- per candidate gate, for the command and for the default: the cells (source, damage, quality; the
  mean over their faces) that the mosaic search leaves worse than without it, and the mosaic cells
  where it gains under +0.3 dB over its input.

    python scripts/mosaic_gate.py --per-source 8
    python scripts/mosaic_gate.py --regions --per-source 6   # a mosaic over part of the photo (`find_region`)
    python scripts/mosaic_gate.py --regions --split test     # the same on test faces (a report only)

`--regions` measures the search for a mosaic over part of a photo (`repair.unmosaic`) on the same faces: a
box of PARTS of each side pixelated (or all of it) at every side the sweep visits, lossless or saved at
REGION_QUALITIES, through `--damage pixelate` and the default, against the photo-wide search alone; and on
photos without a mosaic, where it finds one and what that costs.
"""
from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np
import torch

from aeutils import metrics
from aeutils.datasets import damage, photos
from aeutils.images import to_uint8
from aeutils.tasks import repair

DAMAGES = {"clean": None, "noise 10": ("noise", {"sigma": 10 / 255}), "noise 50": ("noise", {"sigma": 50 / 255}),
           "blur 1.5": ("blur", {"sigma": 1.5}),
           **{f"x {f}": ("pixelate", {"factor": f}) for f in damage.SWEEP["pixelate"][1]}}
QUALITIES = [None, 95, 90, 75, 60, 50, 30, 20, 10, 5]
GATES = [2.5, 3.0, 3.3, 3.5, 4.0, 5.0]  # dB
PARTS = (0.3, 0.5, 0.7, None)  # share of each side pixelated (None: the whole photo)
REGION_QUALITIES = (None, 90, 50)


def measure(faces: dict, pixelate: torch.nn.Module, jpeg: torch.nn.Module) -> list[dict]:
    """One row per face, damage and quality: the largest gaps and the gains (dB) of each way."""
    rows = []
    for source, images in faces.items():
        for j, x in enumerate(images):
            gt = to_uint8(x)

            def score(im, gt=gt):  # capped as the sweeps cap it: a file as it was scores 60 dB
                return min(metrics.psnr(im, gt), 60.0)

            for name, spec in DAMAGES.items():
                y = x if spec is None else damage.apply(spec[0], x, seed=j, **spec[1]).image
                for q in QUALITIES:
                    im = to_uint8(y if q is None else damage.jpeg_roundtrip(y, q))
                    before = score(im)
                    row = dict(source=source, damage=name, q=q, gap=max(repair.mosaic_gaps(im).values()),
                               gain=score(repair.repair_known(pixelate, im, {})) - before)
                    if not repair.leave_as_is(q):
                        unblocked = repair.repair_known(jpeg, im, {"quality": q})
                        row |= dict(gap_after=max(repair.mosaic_gaps(unblocked).values()),
                                    jpeg=score(unblocked) - before,
                                    after=score(repair.repair_known(pixelate, unblocked, {})) - before)
                    rows.append(row)
    return rows


def command(r: dict, gate: float) -> tuple[float, float]:
    """(gain over the input, gain over not searching) of `--damage pixelate` at `gate`."""
    gain = r["gain"] if r["gap"] >= gate else 0.0
    return gain, gain


def default(r: dict, gate: float) -> tuple[float, float]:
    """The same for the default's mosaic step (after the JPEG model where that runs)."""
    if "jpeg" not in r:
        return command(r, gate)
    gain = r["after"] if r["gap_after"] >= gate else r["jpeg"]
    return gain, gain - r["jpeg"]


def regions(faces: dict, pixelate: torch.nn.Module, jpeg: torch.nn.Module) -> None:
    """Mean gain over the input (dB) of `--damage pixelate` and of the default's mosaic step, with the search
    over part of the photo (`repair.unmosaic`) and with the photo-wide search alone, per part, quality and
    source; then, on photos without a mosaic, how often a part is found and the least gain where it is."""
    cells, false = defaultdict(list), []
    for source, images in faces.items():
        for j, x in enumerate(images):
            gt = to_uint8(x)

            def score(im, gt=gt):
                return min(metrics.psnr(im, gt), 60.0)

            def both(im, read):  # (with the part search, photo-wide alone) on `im`, looked for in `read`
                found = repair.unmosaic(pixelate, im, read)
                wide = repair.repair_known(pixelate, im, {}) if repair.find_mosaic(read) else im
                return score(im if found is None else found[0]), score(wide)

            for part in PARTS:
                for factor in damage.SWEEP["pixelate"][1]:
                    y = damage.apply("pixelate", x, seed=j, factor=factor, part=part).image
                    for q in REGION_QUALITIES:
                        im = to_uint8(y if q is None else damage.jpeg_roundtrip(y, q))
                        before, command = score(im), both(im, im)
                        default = command
                        if not repair.leave_as_is(q):
                            unblocked, read = repair.repair_known(jpeg, im, {"quality": q}, once=True)
                            default = both(unblocked, read)
                        cells[part, q, source].append([before, *command, *default])
            for name, spec in DAMAGES.items():
                if spec is not None and spec[0] == "pixelate":
                    continue
                y = x if spec is None else damage.apply(spec[0], x, seed=j, **spec[1]).image
                for q in QUALITIES:
                    im = to_uint8(y if q is None else damage.jpeg_roundtrip(y, q))
                    read = im if repair.leave_as_is(q) else repair.repair_known(jpeg, im, {"quality": q})
                    for way, looked in (("--damage pixelate", im), ("default", read)):
                        region = repair.find_region(looked)
                        if region is not None:
                            out = repair.repair_region(pixelate, looked, region)
                            false.append(f"{way}: {source} {name} q{q}: {region.mask.mean():.1%} of the photo, "
                                         f"{score(out) - score(looked):+.2f} dB")
    print("\npart of each side, quality: mean gain (dB) per source, --damage pixelate with the part search "
          "[photo-wide alone] / the default [photo-wide alone]; the least gain of a face with the part search")
    for part in PARTS:
        for q in REGION_QUALITIES:
            out = []
            for source in faces:
                v = np.array(cells[part, q, source])
                gain = v[:, 1:] - v[:, :1]
                out.append(f"{source} {v[:, 0].mean():.2f}: {gain[:, 0].mean():+.2f} [{gain[:, 1].mean():+.2f}] / "
                           f"{gain[:, 2].mean():+.2f} [{gain[:, 3].mean():+.2f}] ({gain[:, [0, 2]].min():+.2f})")
            print(f"  {part or 'all'} q{q}: " + " | ".join(out))
    print(f"\nparts found in photos without a mosaic: {len(false)}")
    for line in false:
        print("  " + line)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--per-source", type=int, default=8, help="validation faces per source")
    p.add_argument("--regions", action="store_true", help="the search for a mosaic over part of a photo")
    p.add_argument("--split", choices=["val", "test"], default="val", help="test: --regions on test faces, "
                   "a report only (what chose the settings is validation)")
    args = p.parse_args()
    if args.split == "test" and not args.regions:
        p.error("the gate is chosen on validation faces: --split test goes with --regions")
    torch.set_num_threads(1)
    faces = (photos.validation_faces("cpu", args.per_source) if args.split == "val"
             else photos.test_faces(args.per_source))
    pixelate, jpeg = repair.load_model("repair-pixelate")[0], repair.load_model("repair-jpeg")[0]
    if args.regions:
        regions(faces, pixelate, jpeg)
        return
    rows = measure(faces, pixelate, jpeg)
    by_cell = defaultdict(list)
    for r in rows:
        by_cell[r["source"], r["damage"], r["q"]].append(r)
    print("damage, quality: gap range (dB) over the faces, of the file [after the JPEG model] | mean gains per "
          "source: the mosaic model on the file [the JPEG model; the JPEG model then the mosaic model]")
    for name in DAMAGES:
        for q in QUALITIES:
            cell = [r for r in rows if r["damage"] == name and r["q"] == q]
            after = "jpeg" in cell[0]
            gaps = f"{min(r['gap'] for r in cell):5.2f}-{max(r['gap'] for r in cell):5.2f}"
            if after:
                gaps += f" [{min(r['gap_after'] for r in cell):5.2f}-{max(r['gap_after'] for r in cell):5.2f}]"

            def mean(key, s, name=name, q=q):
                return np.mean([r[key] for r in by_cell[s, name, q]])

            gains = " ".join(f"{s} {mean('gain', s):+.2f}" + (f" [{mean('jpeg', s):+.2f}; {mean('after', s):+.2f}]"
                                                               if after else "") for s in faces)
            print(f"  {name:9s} q{q}: {gaps} | {gains}")
    for way, run in (("--damage pixelate", command), ("default", default)):
        for gate in GATES:
            worse, missed = [], []
            for (source, name, q), cell in by_cell.items():
                gain, added = (np.mean(v) for v in zip(*(run(r, gate) for r in cell)))
                if added < 0:
                    worse.append(f"{source} {name} q{q} {added:+.2f}")
                if name.startswith("x") and gain < 0.3:
                    missed.append(f"{source} {name} q{q}")
            print(f"{way}, gate {gate:.1f} dB: {len(worse)} cells worse than without the search {worse}; "
                  f"{len(missed)} mosaic cells under +0.3 dB {missed}")


if __name__ == "__main__":
    main()
