"""Choose the default repair's noise ramps (`repair.AutoRepair`, `repair.NOISE_RAMP`, `NOISE_RAMP_DEBLOCKED`)
on validation faces.

The default applies a share of the noise model's correction that grows with `repair.estimate_noise`:
none below a ramp's first level, all of it from its second. Too low and the model smooths a textured
face that had little or no noise, too high and noise stays; in between, a part of a correction that
points the right way but goes too far still gains. A JPEG hides light noise from the estimate, so the
ramps are chosen on noisy photos kept lossless and saved as JPEGs of every quality. For every validation
face (CelebA validation identities, the VoxCeleb2 validation identity, even-numbered lfw-val images),
noise of each sigma in SIGMAS, kept lossless or saved at each quality in QUALITIES, this records the
estimate (after the told JPEG model where the default runs it) and the gain of each share of the noise
model's correction (run on the file as it is, blended with what the default returns without it), then
prints:
- per candidate ramp (an all-or-nothing gate where both levels are equal), for the files read as they
  are (lossless, or above JPEG_LEAVE_ABOVE: NOISE_RAMP) and those read after the JPEG model
  (NOISE_RAMP_DEBLOCKED): the summed gain of the default over their cells (source, sigma, quality; the
  mean over its faces), its worst cell and the cells it would leave worse than their input;
- for files up to JPEG_LEAVE_ABOVE where the shipped ramp finds noise: the noise model's gain from the
  file as it is against that after the JPEG model, per cell.

    python scripts/noise_gate.py --per-source 24
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
from aeutils.tasks.repair.infer import blend, ramp

SIGMAS = [0, 2, 3, 5, 7, 10, 15, 25, 50]  # 8-bit levels
QUALITIES = [None, 95, 90, 80, 70, 60, 50, 40, 30]
SHARES = np.round(np.linspace(0, 1, 21), 2)  # the shares measured; a ramp's share is read at the nearest
STARTS = [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4]  # candidate ramps, 8-bit levels: from START to START + WIDTH
WIDTHS = [0, 0.5, 1, 1.5, 2, 2.5, 3, 4]


def measure(faces: dict, auto: repair.AutoRepair) -> list[dict]:
    """One row per face and damage: the estimate the ramp reads and the gain (dB) of each share."""
    rows = []
    for source, images in faces.items():
        for j, x in enumerate(images):
            gt = to_uint8(x)

            def score(im, gt=gt):  # capped as the sweeps cap it: a file as it was scores 60 dB, not infinity
                return min(metrics.psnr(im, gt), 60.0)

            for sigma in SIGMAS:
                noisy = damage.apply("noise", x, seed=j, sigma=sigma / 255).image if sigma else x
                for q in QUALITIES:
                    im = to_uint8(noisy if q is None else damage.jpeg_roundtrip(noisy, q))
                    before = score(im)
                    unblocked = im if repair.leave_as_is(q) else repair.repair_known(auto.jpeg, im, {"quality": q})
                    denoised = repair.repair_known(auto.noise, im, {})
                    row = dict(source=source, sigma=sigma, q=q, estimate=255 * repair.estimate_noise(unblocked),
                               gains=[score(blend(unblocked, denoised, s)) - before for s in SHARES])
                    if unblocked is not im:
                        row["after"] = score(repair.repair_known(auto.noise, unblocked, {})) - before
                    rows.append(row)
    return rows


def cells(rows: list[dict], gain) -> dict:
    """{(source, sigma, quality): mean of gain(row)} over the faces."""
    out = defaultdict(list)
    for r in rows:
        out[r["source"], r["sigma"], r["q"]].append(gain(r))
    return {k: float(np.mean(v)) for k, v in out.items()}


def ramp_cells(rows: list[dict], start: float, width: float) -> dict:
    return cells(rows, lambda r: r["gains"][int(np.abs(SHARES - ramp(r["estimate"], start, start + width)).argmin())])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--per-source", type=int, default=24, help="validation faces per source")
    args = p.parse_args()
    torch.set_num_threads(1)
    rows = measure(photos.validation_faces("cpu", args.per_source), repair.AutoRepair.shipped())
    clean = [r["estimate"] for r in rows if r["sigma"] == 0]
    light = [r["estimate"] for r in rows if r["sigma"] == 5 and r["q"] is None]
    print(f"estimate: noiseless files (lossless or JPEG) at most {max(clean):.2f} levels; lossless sigma 5 "
          f"{min(light):.2f}-{max(light):.2f}")
    for deblocked, files in ((False, "files as they are"), (True, "files read after the JPEG model")):
        group = [r for r in rows if repair.leave_as_is(r["q"]) != deblocked]
        ramp = repair.NOISE_RAMP_DEBLOCKED if deblocked else repair.NOISE_RAMP
        shipped = "-".join(f"{255 * level:g}" for level in ramp)
        print(f"\n{files} (shipped ramp {shipped} levels)")
        for start in STARTS:
            for width in WIDTHS:
                c = ramp_cells(group, start, width)
                worse = {f"{s} sigma {n} q{q}": round(v, 2) for (s, n, q), v in c.items() if v < 0}
                print(f"  ramp {start:g}-{start + width:g} levels: summed gain {sum(c.values()):.1f} dB, worst cell "
                      f"{min(c.values()):+.3f}; worse than the input: {worse or 'none'}")
    low = 255 * repair.NOISE_RAMP_DEBLOCKED[0]
    found = [r for r in rows if "after" in r and r["estimate"] > low]
    print(f"\nJPEG files up to quality {repair.JPEG_LEAVE_ABOVE} where noise is found (estimate above {low:g} "
          "levels): noise model from the file as it is / after the JPEG model, mean gain (dB) of the faces found")
    raw, after = cells(found, lambda r: r["gains"][-1]), cells(found, lambda r: r["after"])
    for key in sorted(raw, key=str):
        print(f"  {key[0]} sigma {key[1]} q{key[2]}: {raw[key]:+.2f} / {after[key]:+.2f}")
    print(f"  from the file as it is ahead in {sum(raw[k] > after[k] for k in raw)} of {len(raw)} cells")


if __name__ == "__main__":
    main()
