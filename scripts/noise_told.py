"""Choose how `aeutils repair --damage noise --strength SIGMA` uses the sigma a user gives (`repair.GIVEN_RAMPS`).

The default reads the noise from the photo and applies a share of the noise model's correction that grows with
that estimate (`repair.AutoRepair`); in a fine JPEG, light noise reads like texture or film grain and is left. A
user who knows the sigma can say so: the noise model is then run on the file as it is, told that sigma
(`repair.given_level`), and the output goes a share of the way from the default's to the model's that grows with
the sigma (`repair.denoise_given`). For every validation face (CelebA validation identities, the VoxCeleb2
validation identity, even-numbered lfw-val images), noise of each sigma in SIGMAS, kept lossless or saved at each
quality in QUALITIES, this records the gain over the damaged input of the default and of each share of the way
(SHARES); the same for the demo's scanned Grace Hopper photo (GRAIN_CROPS), whose film grain the model takes for
noise. Then per kind of file (`repair.noise_ramp`) and candidate ramp on the sigma (from START to START + WIDTH
levels) it prints the summed gain over the cells (source, sigma, quality; the mean over its faces) and the cells
worse than their input (and than the default, where that already is), and the best ramp that leaves no such cell
among the faces and the crops of the scan. Last, what the shipped ramps do per cell beside the default, and clean
faces given a sigma they do not have (a user who is wrong).

    python scripts/noise_told.py --per-source 24 --rows rows.json
    python scripts/noise_told.py --sources lfw --rows lfw.json   # one source (celeba, voxceleb2, lfw, grain) a process
    python scripts/noise_told.py --rows celeba.json voxceleb2.json lfw.json grain.json   # then all of them
"""
from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from aeutils import metrics
from aeutils.benchmark import measured
from aeutils.datasets import damage, photos
from aeutils.images import jpeg_luma_steps, sample_faces, to_tensor, to_uint8
from aeutils.tasks import repair
from aeutils.tasks.repair.infer import blend, ramp

SIGMAS = [3, 5, 7, 10, 15, 25, 50]  # 8-bit levels, given
WRONG = [3, 5, 10]  # sigmas given for a clean face
QUALITIES = [None, 95, 90, 80, 70, 60, 50, 40]
SHARES = np.round(np.linspace(0, 1, 21), 2)  # the shares measured; a ramp's share is read at the nearest
STARTS = [0, 2, 3, 4, 5, 6, 7, 8, 10]  # candidate ramps, 8-bit levels: from START to START + WIDTH
WIDTHS = [0, 2, 3, 4, 5, 6, 8]
GRAIN_CROPS = [(0, 330, 0, 270), (100, 330, 40, 270)]  # rows, columns of the scan: all of it, its grainiest part


def measure_one(auto: repair.AutoRepair, im: np.ndarray, gt: np.ndarray, given: int, params: dict) -> dict:
    """The gains (dB) over `im` of the default and of each share of the way from its output to the model's told
    `given` levels."""
    def score(out):  # capped as the sweeps cap it: a file as it was scores 60 dB, not infinity
        return min(metrics.psnr(out, gt), 60.0)

    before = score(im)
    level = repair.given_level(im, given / 255, params.get("quality"), params.get("steps"))
    out = repair.repair_array(auto.noise, im, level=level, jpeg=params.get("quality") is not None)
    default = auto(im, params)[0]
    return dict(given=given, q=params.get("quality"), auto=score(default) - before,
                shares=[score(blend(default, out, s)) - before for s in SHARES])


def measure(faces: dict, auto: repair.AutoRepair) -> list[dict]:
    """One row per validation face, noise sigma (0: clean, given a sigma in WRONG) and quality."""
    rows = []
    for source, images in faces.items():
        for j, x in enumerate(images):
            cases = [(sigma, sigma) for sigma in SIGMAS] + [(0, given) for given in WRONG]
            for sigma, given in cases:
                noisy = damage.apply("noise", x, seed=j, sigma=sigma / 255).image if sigma else x
                for q in QUALITIES:
                    im = to_uint8(noisy if q is None else damage.jpeg_roundtrip(noisy, q))
                    rows.append(dict(source=source, sigma=sigma) | measure_one(auto, im, to_uint8(x), given,
                                                                                {"quality": q}))
    return rows


def measure_grain(auto: repair.AutoRepair, tmp: Path) -> list[dict]:
    """Rows as `measure`'s for crops of the scanned Grace Hopper photo with noise, saved as real JPEG files."""
    scan = np.asarray(sample_faces()["grace_hopper"].convert("RGB"))
    rows = []
    for top, bottom, left, right in GRAIN_CROPS:
        gt = np.ascontiguousarray(scan[top:bottom, left:right])
        for sigma in SIGMAS:
            noisy = to_uint8(damage.apply("noise", to_tensor(Image.fromarray(gt)), seed=1, sigma=sigma / 255).image)
            for q in QUALITIES:
                if q is None:
                    im, params = noisy, {"quality": None}
                else:
                    Image.fromarray(noisy).save(tmp, quality=q)
                    raw = Image.open(tmp)
                    im, params = np.asarray(raw.convert("RGB")), {"quality": q, "steps": jpeg_luma_steps(raw)}
                row = measure_one(auto, im, gt, sigma, params)
                rows.append(dict(source=f"grain {top}-{bottom}", sigma=sigma) | row)
    return rows


def gain(r: dict, start: float, width: float) -> float:
    """A row's gain where the share is a ramp from `start` to `start + width` levels on the sigma given: the
    default's where the share is none."""
    share = ramp(r["given"], start, start + width)
    return r["auto"] if not share else r["shares"][int(np.abs(SHARES - share).argmin())]


def cells(rows: list[dict], value) -> dict:
    """{(source, sigma, given, quality): mean of `value(row)` over the faces}."""
    by = defaultdict(list)
    for r in rows:
        by[(r["source"], r["sigma"], r["given"], r["q"])].append(value(r))
    return {key: float(np.mean(v)) for key, v in by.items()}


def name(key: tuple) -> str:
    return f"{key[0]} sigma {key[1]} q{key[3]}"


def search(rows: list[dict], grain: list[dict]) -> None:
    """Per kind of file, every candidate ramp's summed gain and the cells it leaves worse, and the best one."""
    for kind in repair.GIVEN_RAMPS:
        group = [r for r in rows if repair.noise_ramp(r["q"]) == kind]
        scan = [r for r in grain if repair.noise_ramp(r["q"]) == kind]
        default, scan_default = cells(group, lambda r: r["auto"]), cells(scan, lambda r: r["auto"])
        shipped = "-".join(f"{255 * level:g}" for level in repair.GIVEN_RAMPS[kind])
        print(f"\n{kind} files (GIVEN_RAMPS[{kind!r}], shipped {shipped} levels): the default sums "
              f"{sum(default.values()):.1f} dB over {len(default)} cells")
        safe = []
        for start in STARTS:
            for width in WIDTHS:
                c = cells(group, lambda r, s=start, w=width: gain(r, s, w))
                g = cells(scan, lambda r, s=start, w=width: gain(r, s, w))
                worse = {name(k): round(v, 2) for k, v in c.items() if v < min(default[k], 0)}
                grain_worse = {name(k): round(v, 2) for k, v in g.items() if v < min(scan_default[k], 0)}
                safe += [(sum(c.values()), start, width, sum(g.values()))] * (not worse and not grain_worse)
                print(f"  ramp {start:g}-{start + width:g}: summed gain {sum(c.values()):.1f} dB, ahead of the default "
                      f"in {sum(c[k] > default[k] for k in c)}; worse than the input (and the default): "
                      f"{worse or 'none'}; the scan {sum(g.values()):.1f} dB, worse: {grain_worse or 'none'}")
        total, start, width, scanned = max(safe)
        print(f"  best ramp with no cell worse than its input (or the default): {start:g}-{start + width:g} levels, "
              f"summed gain {total:.1f} dB (the scan {scanned:.1f})")


def shipped_gain(r: dict) -> float:
    low, high = (255 * level for level in repair.GIVEN_RAMPS[repair.noise_ramp(r["q"])])
    return gain(r, low, high - low)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sources", default="celeba,voxceleb2,lfw,grain", help="what to measure: validation sources "
                   "and the scan (grain)")
    measured.add_arguments(p)
    args = p.parse_args()
    torch.set_num_threads(1)

    def measure_all() -> list[dict]:
        sources = args.sources.split(",")
        auto = repair.AutoRepair.noise_steps()
        faces = {s: v for s, v in photos.validation_faces("cpu", args.per_source).items() if s in sources}
        rows = measure(faces, auto)  # as --damage noise runs
        if "grain" in sources:
            rows += measure_grain(auto, (args.rows[0] if args.rows else Path("noise_told")).with_suffix(".jpg"))
        return rows
    rows = measured.rows(args.rows, measure_all)
    grain = [r for r in rows if r["source"].startswith("grain")]
    faces = [r for r in rows if r not in grain]
    noisy, wrong = [r for r in faces if r["sigma"]], [r for r in faces if not r["sigma"]]
    search(noisy, grain)
    print("\nper cell, the shipped ramps: gain of the default / given the sigma")
    default, given = cells(noisy + grain, lambda r: r["auto"]), cells(noisy + grain, shipped_gain)
    for key in sorted(default, key=lambda k: (k[0].startswith("grain"), k[1], -(k[3] or 101), k[0])):
        print(f"  {name(key)}: {default[key]:+.2f} / {given[key]:+.2f}")
    print("\nclean faces given a sigma, the shipped ramps: gain of the default / given the sigma")
    default, given = cells(wrong, lambda r: r["auto"]), cells(wrong, shipped_gain)
    for key in sorted(default, key=lambda k: (k[2], -(k[3] or 101), k[0])):
        print(f"  {key[0]} given {key[2]} q{key[3]}: {default[key]:+.2f} / {given[key]:+.2f}")


if __name__ == "__main__":
    main()
