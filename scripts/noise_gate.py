"""Choose the default repair's noise gate (`repair.AutoRepair`, `repair.NOISE_GATE`) on validation faces.

The default runs the noise model where `repair.estimate_noise` reads at least the gate: too low a gate
and the model smooths a textured face that had little or no noise, too high and noise stays. A JPEG
hides light noise from the estimate, so the gate is chosen on noisy photos kept lossless and saved as
JPEGs of every quality. For every validation face (CelebA identities 160-169, the VoxCeleb2 validation
identity, even-numbered lfw-val images), noise of each sigma in SIGMAS, kept lossless or saved at each
quality in QUALITIES, this records the estimate (after the told JPEG model where the default runs it)
and the gains of the noise model (from the file as it is) and of the JPEG model, then prints:
- per candidate gate: the summed gain of the default over every cell (source, sigma, quality; the mean
  over its faces) and the cells it would leave worse than their input;
- for files up to JPEG_LEAVE_ABOVE, where noise is found at NOISE_GATE: the noise model's gain from the
  file as it is against that after the JPEG model, per cell.

    python scripts/noise_gate.py --per-source 8
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

SIGMAS = [0, 2, 3, 5, 7, 10, 15, 25, 50]  # 8-bit levels
QUALITIES = [None, 95, 90, 80, 70, 60, 50, 40, 30]
GATES = [0, 1.5, 2, 2.5, 3, 3.5, 4, 5]  # candidate gates, 8-bit levels (0: every file, as `--damage noise` runs)


def measure(faces: dict, auto: repair.AutoRepair) -> list[dict]:
    """One row per face and damage: the estimate the gate reads and the gains (dB) each way."""
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
                    row = dict(source=source, sigma=sigma, q=q, estimate=255 * repair.estimate_noise(unblocked),
                               jpeg=score(unblocked) - before,
                               raw=score(repair.repair_known(auto.noise, im, {})) - before)
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--per-source", type=int, default=8, help="validation faces per source")
    args = p.parse_args()
    torch.set_num_threads(1)
    rows = measure(photos.validation_faces("cpu", args.per_source), repair.AutoRepair.shipped())
    clean = [r["estimate"] for r in rows if r["sigma"] == 0]
    light = [r["estimate"] for r in rows if r["sigma"] == 5 and r["q"] is None]
    print(f"estimate: noiseless files (lossless or JPEG) at most {max(clean):.2f} levels; lossless sigma 5 "
          f"{min(light):.2f}-{max(light):.2f}")
    for gate in GATES:
        c = cells(rows, lambda r, g=gate: r["raw"] if r["estimate"] >= g else r["jpeg"])
        worse = {f"{s} sigma {n} q{q}": round(v, 2) for (s, n, q), v in c.items() if v < 0}
        print(f"gate {gate:g} levels: summed gain {sum(c.values()):.1f} dB; worse than the input: {worse or 'none'}")
    gate = 255 * repair.NOISE_GATE
    found = [r for r in rows if "after" in r and r["estimate"] >= gate]
    print(f"\nJPEG files up to quality {repair.JPEG_LEAVE_ABOVE} where noise is found at {gate:g} levels: noise "
          "model from the file as it is / after the JPEG model, mean gain (dB) of the faces found")
    raw, after = cells(found, lambda r: r["raw"]), cells(found, lambda r: r["after"])
    for key in sorted(raw, key=str):
        print(f"  {key[0]} sigma {key[1]} q{key[2]}: {raw[key]:+.2f} / {after[key]:+.2f}")
    print(f"  from the file as it is ahead in {sum(raw[k] > after[k] for k in raw)} of {len(raw)} cells")


if __name__ == "__main__":
    main()
