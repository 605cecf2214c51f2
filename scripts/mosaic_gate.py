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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--per-source", type=int, default=8, help="validation faces per source")
    args = p.parse_args()
    torch.set_num_threads(1)
    faces = photos.validation_faces("cpu", args.per_source)
    rows = measure(faces, repair.load_model("repair-pixelate")[0], repair.load_model("repair-jpeg")[0])
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
