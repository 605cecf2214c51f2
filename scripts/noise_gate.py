"""Choose the default repair's noise ramps (`repair.AutoRepair`, `repair.NOISE_RAMPS`) on validation faces.

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
- per candidate ramp (an all-or-nothing gate where both levels are equal), for each kind of file with a
  ramp of its own (`repair.noise_ramp`: lossless files, JPEG files above JPEG_LEAVE_ABOVE read as they
  are, JPEG files read after the JPEG model): the summed gain of the default over their cells (source,
  sigma, quality; the mean over its faces), its worst cell and the cells it would leave worse than their
  input, with the correction limited as shipped (`repair.NOISE_LIMITS` times the estimate);
- per limit of the correction (LIMITS), the ramp with the most summed gain that left no cell worse (lossless
  files' ramps are chosen since 2026-12-07 with `scripts/noise_grain.py`, beside the spread of the correction into
  the chroma, which tells noise from film grain; their rows here are without it);
- for JPEG files above JPEG_LEAVE_ABOVE, per candidate ramp on the noise read through the JPEG's quantization
  (`repair.JPEG_NOISE_RAMP`, on `repair.estimate_jpeg_noise`; the larger share of it and of the first ramp
  applies): the summed gain and the cells left worse, and the best ramp with none;
- for the same files, per candidate pair of ramps for lighter noise read through the JPEG where the model's
  correction spreads evenly (`repair.EVEN_NOISE_RAMP` on that estimate times `repair.EVEN_RAMP` on
  `repair.evenness`; the largest share of the three applies): the best pairs that leave no cell worse than its
  input and no face worse than the shipped first two ramps leave the worst one, and the best of those whose
  evenness ramp starts above what the film grain of a clean scan reads (`grain_evenness`);
- for files up to JPEG_LEAVE_ABOVE where the shipped ramp finds noise: the noise model's gain from the
  file as it is against that after the JPEG model, per cell.

    python scripts/noise_gate.py --per-source 24 [--rows rows.json]
"""
from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np
import torch

from aeutils import metrics
from aeutils.benchmark import measured
from aeutils.datasets import damage, photos
from aeutils.images import sample_faces, to_tensor, to_uint8
from aeutils.tasks import repair
from aeutils.tasks.repair.infer import blend, limit_change, ramp

SIGMAS = [0, 2, 3, 5, 7, 10, 15, 25, 50]  # 8-bit levels
QUALITIES = [None, 95, 90, 80, 70, 60, 50, 40, 30]
SHARES = np.round(np.linspace(0, 1, 21), 2)  # the shares measured; a ramp's share is read at the nearest
STARTS = [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4]  # candidate ramps, 8-bit levels: from START to START + WIDTH
WIDTHS = [0, 0.5, 1, 1.5, 2, 2.5, 3, 4]
THROUGH_STARTS = [3, 4, 5, 6, 7, 8, 9, 10, 12]  # candidate ramps on the noise read through a JPEG, from START
EVEN_STARTS = [1.5, 2, 2.5, 3, 3.5, 4, 5]  # candidate EVEN_NOISE_RAMP starts, 8-bit levels (widths: WIDTHS[:4])
EVENNESS = [0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6]  # candidate EVEN_RAMP starts (widths:
# EVENNESS_WIDTHS); the shipped one starts above what film grain reads (`repair.EVEN_RAMP`)
EVENNESS_WIDTHS = [0, 0.1, 0.2, 0.3]
GRAIN_CROPS = [(0, 330, 0, 270), (0, 192, 0, 192), (60, 300, 20, 250), (100, 330, 40, 270)]  # rows, columns
GRAIN_QUALITIES = [95, 92, 90, 85, 80, 75, 70, 65]
LIMITS = [1.0, 1.5, 2.0, 2.5, 3.0, 4.0, None]  # candidate limits of the correction, times the estimate (None: none)
FILES = {"lossless": "lossless files", "jpeg": f"JPEG files above quality {repair.JPEG_LEAVE_ABOVE}, read as they are",
         "deblocked": "JPEG files read after the JPEG model"}


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
                    unblocked = read = im  # as the default runs the JPEG model (`repair.AutoRepair`)
                    if not repair.leave_as_is(q):
                        unblocked, read = repair.repair_known(auto.jpeg, im, {"quality": q}, once=True)
                    denoised = repair.repair_known(auto.noise, im, {"quality": q})  # told as the command tells it
                    estimate = repair.estimate_noise(read)
                    limits = [None] if unblocked is not im else LIMITS  # a limit only where the estimate reads im
                    gains = {}
                    for limit in limits:
                        limited = denoised if limit is None else limit_change(im, denoised, limit * estimate)
                        gains[label(limit)] = [score(blend(unblocked, limited, s)) - before for s in SHARES]
                    row = dict(source=source, sigma=sigma, q=q, estimate=255 * estimate, gains=gains)
                    if repair.noise_ramp(q) == "jpeg":
                        row["through"] = 255 * repair.estimate_jpeg_noise(im, q)
                        row["even"] = repair.evenness(im, denoised)
                    if unblocked is not im:
                        row["after"] = score(repair.repair_known(auto.noise, unblocked, {})) - before
                    rows.append(row)
    return rows


def label(limit: float | None) -> str:
    return "none" if limit is None else f"{limit:g}"


def limit_text(limit: float | None) -> str:
    return "no limit" if limit is None else f"correction limited to {limit:g} x the estimate"


def cells(rows: list[dict], gain) -> dict:
    """{(source, sigma, quality): mean of gain(row)} over the faces."""
    out = defaultdict(list)
    for r in rows:
        out[r["source"], r["sigma"], r["q"]].append(gain(r))
    return {k: float(np.mean(v)) for k, v in out.items()}


def ramp_cells(rows: list[dict], start: float, width: float, limit: float | None) -> dict:
    return cells(rows, lambda r: r["gains"][label(limit)][
        int(np.abs(SHARES - ramp(r["estimate"], start, start + width)).argmin())])


def share_at(r: dict, share: float) -> float:
    """A row's gain (dB) at the measured share nearest `share`, without a limit."""
    return r["gains"]["none"][int(np.abs(SHARES - share).argmin())]


def through_share(r: dict, start: float, width: float) -> float:
    """A JPEG file's share above JPEG_LEAVE_ABOVE: the larger of the shipped first ramp's (on `estimate_noise`) and
    that of a ramp from `start` to `start + width` levels on the noise read through the JPEG's quantization."""
    return max(repair.noise_share(r["estimate"] / 255, "jpeg"), ramp(r["through"], start, start + width))


def shipped_through(r: dict) -> float:
    """`through_share` with the shipped JPEG_NOISE_RAMP."""
    low, high = (255 * level for level in repair.JPEG_NOISE_RAMP)
    return through_share(r, low, high - low)


def grain_evenness(noise) -> float:
    """The most `repair.evenness` the demo's Grace Hopper photo reads (a clean scan whose film grain reads as light
    noise through a JPEG), over crops of it saved at each GRAIN_QUALITIES, with the noise model as the default runs
    it: an EVEN_RAMP starting below it would change that clean photo."""
    face = to_tensor(sample_faces()["grace_hopper"])
    most = 0.0
    for top, bottom, left, right in GRAIN_CROPS:
        for q in GRAIN_QUALITIES:
            im = to_uint8(damage.jpeg_roundtrip(face[:, top:bottom, left:right], q))
            most = max(most, repair.evenness(im, repair.repair_known(noise, im, {"quality": q})))
    return most


def even_search(group: list[dict], grain: float) -> None:
    """Print the best candidate pairs of EVEN_NOISE_RAMP and EVEN_RAMP, with and without an evenness ramp that
    starts above `grain` (`grain_evenness`), and the shipped pair's result."""
    worst = min(share_at(r, shipped_through(r)) for r in group)

    def result(start, width, low, wide):
        def share(r: dict) -> float:
            return max(shipped_through(r), ramp(r["through"], start, start + width) * ramp(r["even"], low, low + wide))
        c = cells(group, lambda r: share_at(r, share(r)))
        return sum(c.values()), min(c.values()), min(share_at(r, share(r)) for r in group)
    found = []
    for start in EVEN_STARTS:
        for width in WIDTHS[:4]:
            for low in EVENNESS:
                for wide in EVENNESS_WIDTHS:
                    total, cell, face = result(start, width, low, wide)
                    if cell >= 0 and face >= worst:
                        found.append((total, start, width, low, wide))
    print(f"\n{FILES['jpeg']}, also lighter noise read through the JPEG where the correction spreads evenly "
          f"(EVEN_NOISE_RAMP x EVEN_RAMP); the best with no cell worse and no face worse than {worst:+.2f} dB, "
          f"then those whose evenness ramp starts above the film grain of a clean scan ({grain:.2f}):")
    ranked = sorted(found, reverse=True)
    for total, start, width, low, wide in ranked[:5] + [f for f in ranked if f[3] > grain][:5]:
        print(f"  through {start:g}-{start + width:g} levels x evenness {low:g}-{low + wide:g}: "
              f"summed gain {total:.1f} dB")
    (low, high), (even_low, even_high) = (255 * v for v in repair.EVEN_NOISE_RAMP), repair.EVEN_RAMP
    total, cell, face = result(low, high - low, even_low, even_high - even_low)
    without = sum(cells(group, lambda r: share_at(r, shipped_through(r))).values())
    print(f"  shipped ({low:g}-{high:g} x {even_low:g}-{even_high:g}): summed gain {total:.1f} dB, worst cell "
          f"{cell:+.3f}, worst face {face:+.2f} (without it {without:.1f} dB)")


def through_cells(rows: list[dict], start: float, width: float) -> dict:
    """The cells of JPEG files above JPEG_LEAVE_ABOVE at `through_share` (a candidate JPEG_NOISE_RAMP)."""
    return cells(rows, lambda r: share_at(r, through_share(r, start, width)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    measured.add_arguments(p)
    args = p.parse_args()
    torch.set_num_threads(1)
    rows = measured.rows(args.rows, lambda: measure(photos.validation_faces("cpu", args.per_source),
                                                    repair.AutoRepair.shipped()))
    clean = [r["estimate"] for r in rows if r["sigma"] == 0]
    light = [r["estimate"] for r in rows if r["sigma"] == 5 and r["q"] is None]
    print(f"estimate: noiseless files (lossless or JPEG) at most {max(clean):.2f} levels; lossless sigma 5 "
          f"{min(light):.2f}-{max(light):.2f}")
    for kind, files in FILES.items():
        group = [r for r in rows if repair.noise_ramp(r["q"]) == kind]
        shipped_limit = repair.NOISE_LIMITS.get(kind)
        shipped = "-".join(f"{255 * level:g}" for level in repair.NOISE_RAMPS[kind])
        print(f"\n{files} (NOISE_RAMPS[{kind!r}], shipped {shipped} levels, {limit_text(shipped_limit)})")
        for limit in [None] if kind == "deblocked" else LIMITS:
            safe = []
            for start in STARTS:
                for width in WIDTHS:
                    c = ramp_cells(group, start, width, limit)
                    worse = {f"{s} sigma {n} q{q}": round(v, 2) for (s, n, q), v in c.items() if v < 0}
                    safe += [(sum(c.values()), start, width)] * (not worse)
                    if limit == shipped_limit:
                        print(f"  ramp {start:g}-{start + width:g} levels: summed gain {sum(c.values()):.1f} dB, "
                              f"worst cell {min(c.values()):+.3f}; worse than the input: {worse or 'none'}")
            total, start, width = max(safe)
            print(f"  {limit_text(limit)}: best ramp with no cell worse {start:g}-{start + width:g} levels, summed "
                  f"gain {total:.1f} dB")
    group = [r for r in rows if "through" in r]
    shipped = "-".join(f"{255 * level:g}" for level in repair.JPEG_NOISE_RAMP)
    print(f"\n{FILES['jpeg']}, also a ramp on the noise read through the JPEG (JPEG_NOISE_RAMP, shipped {shipped} "
          "levels), whichever share is larger:")
    safe = []
    for start in THROUGH_STARTS:
        for width in WIDTHS:
            c = through_cells(group, start, width)
            worse = [key for key, v in c.items() if v < 0]
            safe += [(sum(c.values()), start, width)] * (not worse)
            print(f"  ramp {start:g}-{start + width:g} levels: summed gain {sum(c.values()):.1f} dB, worst cell "
                  f"{min(c.values()):+.3f}, {len(worse)} cells worse than the input")
    total, start, width = max(safe)
    low, high = (255 * level for level in repair.NOISE_RAMPS["jpeg"])
    alone = sum(ramp_cells(group, low, high - low, None).values())
    print(f"  best ramp with no cell worse {start:g}-{start + width:g} levels, summed gain {total:.1f} dB (the first "
          f"ramp alone: {alone:.1f})")
    even_search(group, grain_evenness(repair.load_model("repair-noise")[0]))
    low = 255 * repair.NOISE_RAMPS["deblocked"][0]
    found = [r for r in rows if "after" in r and r["estimate"] > low]
    print(f"\nJPEG files up to quality {repair.JPEG_LEAVE_ABOVE} where noise is found (estimate above {low:g} "
          "levels): noise model from the file as it is / after the JPEG model, mean gain (dB) of the faces found")
    raw, after = cells(found, lambda r: r["gains"]["none"][-1]), cells(found, lambda r: r["after"])
    for key in sorted(raw, key=str):
        print(f"  {key[0]} sigma {key[1]} q{key[2]}: {raw[key]:+.2f} / {after[key]:+.2f}")
    print(f"  from the file as it is ahead in {sum(raw[k] > after[k] for k in raw)} of {len(raw)} cells")


if __name__ == "__main__":
    main()
