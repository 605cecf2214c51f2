"""The blind blur estimate (`aeutils.benchmark.blur_estimate`): how close it is to the truth, whether it
leaves photos that are not blurred alone, and how its safety margin was chosen.

    python scripts/blur_estimate.py                    # estimate vs truth, and the default's gate, on validation
    python scripts/blur_estimate.py --choose           # + the margin (offset, slope) search, on validation
    python scripts/blur_estimate.py --split test       # estimate vs truth on the test images (report only)
    python scripts/blur_estimate.py --jpeg             # + the blur model for JPEG files on blurred faces saved as JPEGs
    python scripts/blur_estimate.py --choose --jpeg    # + the margin for JPEG files, on validation

`--choose` runs the shipped repair-blur told every sigma of TOLD on blurred validation faces, then picks
the offset and slope (`blur_estimate.Reading`) that give the most mean gain over the input with no cell
worse than its input, no face more than 0.3 dB worse, and clean faces back at 45 dB or better. With
`--jpeg` it runs the blur model for JPEG files on faces blurred and saved at each of JPEG_QUALITIES, read as
JPEG files, where clean faces must not lose either (their input is far below 45 dB).
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from aeutils import metrics
from aeutils.benchmark import blur_estimate
from aeutils.datasets import damage, photos
from aeutils.images import to_uint8
from aeutils.tasks import repair

SIGMAS = [0.0, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0]
TOLD = [0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1, 1.25, 1.5, 1.75, 2, 2.5, 3]
TOLD_JPEG = [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 2.5, 3]  # coarser: every one runs on each face and quality
JPEG_QUALITIES = (95, 85, 70, 50)  # the JPEG files --choose --jpeg measures
SLOPES = (0.5, 0.6, 0.8, 1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0)
OFFSETS = np.arange(0.0, 2.5, 0.05)


def blurred(x: torch.Tensor, sigma: float, jpeg: int | None = None) -> np.ndarray:
    """`x` blurred by `sigma` (0: left clean) as the sweep does it, optionally saved as a JPEG after."""
    d = damage.sweep_damage("blur", x, sigma or None, seed=1).image
    return to_uint8(d if jpeg is None else damage.jpeg_roundtrip(d, jpeg))


def accuracy(sources: dict) -> None:
    """blur_sigma against the true sigma, per source, on lossless and JPEG-q70-saved inputs."""
    print("\n| source | saved as | " + " | ".join(f"sigma {s:g}" for s in SIGMAS) + " |")
    print("|---|---|" + "---|" * len(SIGMAS))
    for source, images in sources.items():
        for jpeg in (None, 70):
            cells = []
            for s in SIGMAS:
                est = [blur_estimate.blur_sigma(blurred(x, s, jpeg), jpeg=jpeg is not None) for x in images]
                cells.append(f"{np.median(est):.2f} [{min(est):.2f}, {max(est):.2f}]")
            print(f"| {source} | {'PNG' if jpeg is None else 'JPEG q70'} | " + " | ".join(cells) + " |")


def gate(sources: dict) -> None:
    """The largest blur_sigma on photos that are not blurred: clean, and every SWEEP strength of noise,
    JPEG and mosaic, measured on the photo as given (what AutoRepair gates on: a JPEG file above
    repair.JPEG_LEAVE_ABOVE read as one; below it, after the JPEG model, what it would read if it measured
    there); and clean, noisy and pixelated photos saved at quality 95 / 85 / 70, read as JPEG files."""
    jpeg_model = repair.load_model("repair-jpeg")[0]
    worst: dict = {}

    def note(row: str, source: str, im: np.ndarray, jpeg: bool = False) -> None:
        cells = worst.setdefault(row, {})
        cells[source] = max(cells.get(source, 0.0), blur_estimate.blur_sigma(im, jpeg))

    for source, images in sources.items():
        for j, x in enumerate(images):
            for kind in ("noise", "jpeg", "pixelate"):
                for s in [None, *damage.SWEEP[kind][1]]:
                    d = damage.sweep_damage(kind, x, s, seed=j)
                    im = to_uint8(d.image)
                    if kind != "jpeg" or s is None:
                        note(kind if s is not None else "clean", source, im)
                    elif repair.leave_as_is(s):  # the default reads a JPEG file's blur only above JPEG_LEAVE_ABOVE
                        note("jpeg above the leave-as-is quality, read as a JPEG file", source, im, jpeg=True)
                    else:
                        note("jpeg, after the JPEG model", source, repair.repair_known(jpeg_model, im, d.params))
                    if kind != "jpeg":
                        for q in (95, 85, 70):
                            note(f"{kind if s is not None else 'clean'}, saved at 70-95", source,
                                 to_uint8(damage.jpeg_roundtrip(d.image, q)), jpeg=True)
    print(f"\nlargest estimate on photos that are not blurred (the default's gate: {repair.BLUR_GATE} px)\n")
    print("| photo | " + " | ".join(sources) + " |\n|---|" + "---|" * len(sources))
    for kind, row in worst.items():
        print(f"| {kind} | " + " | ".join(f"{row[s]:.2f}" for s in sources) + " |")


def choose(sources: dict, jpeg: bool = False) -> None:
    """PSNR of the blur model told each TOLD sigma on each blurred face (`jpeg`: the model for JPEG files,
    TOLD_JPEG, the faces saved at each of JPEG_QUALITIES), then the offset / slope grid of that kind of
    file's reading."""
    model = repair.load_model(repair.model_for("blur", jpeg))[0]
    told_grid = TOLD_JPEG if jpeg else TOLD
    rows = []
    for source, images in sources.items():
        for x in images:
            gt = to_uint8(x)
            for q in JPEG_QUALITIES if jpeg else [None]:
                for s in SIGMAS:
                    im = blurred(x, s, q)
                    psnr = [min(metrics.psnr(repair.repair_known(model, im, {"sigma": t, "quality": q}), gt), 60.0)
                            for t in told_grid]
                    rows.append(((source, q, s), min(metrics.psnr(im, gt), 60.0), np.array(psnr),
                                 blur_estimate.measure(im, jpeg)))
    best = None
    for slope in SLOPES:
        for offset in OFFSETS:
            cells: dict = {}
            for key, inp, psnr, m in rows:
                told = float(np.clip(slope * (m - offset), 0, blur_estimate.SIGMA_MAX))
                cells.setdefault(key, []).append((float(np.interp(told, told_grid, psnr)) - inp, inp))
            judged = cells if jpeg else {k: v for k, v in cells.items() if k[2]}  # a JPEG's clean faces too
            gains = {k: np.mean([g for g, _ in v]) for k, v in judged.items()}
            worst = min(g for v in judged.values() for g, _ in v)
            clean = jpeg or min(np.mean([g + i for g, i in v]) for k, v in cells.items() if not k[2]) >= 45
            if min(gains.values()) >= 0 and worst >= -0.3 and clean:
                total = sum(g for k, g in gains.items() if k[2])
                if best is None or total > best[0]:
                    best = (total, slope, round(offset, 2), gains)
    print(f"\nchosen on validation ({'JPEG files' if jpeg else 'lossless'}): slope {best[1]}, offset {best[2]} "
          f"(sum of mean gains {best[0]:.2f} dB)")
    for (source, q, s), g in sorted(best[3].items(), key=lambda kv: (kv[0][0], kv[0][1] or 0, kv[0][2])):
        print(f"  {source}{f' q{q}' if q else ''} sigma {s:g}: {g:+.2f} dB")


def on_jpegs(sources: dict) -> None:
    """Mean gain (dB) of the blur model the command runs on a JPEG file (`repair.model_for`: repair-blur-jpeg
    where shipped) over blurred faces saved as JPEGs, told the true sigma / told the photo's own estimate (0:
    left as it is). The lossless model's lost up to 10 dB (what made `repair.blur_repairable` leave every JPEG
    file to a model trained on them)."""
    name = repair.model_for("blur", jpeg=True)
    model = repair.load_model(name)[0]
    sigmas = [s for s in SIGMAS if s >= 1]
    print(f"\n{name}, told the true sigma / the estimate\n")
    print("| source | quality | " + " | ".join(f"sigma {s:g}" for s in sigmas) + " |")
    print("|---|---|" + "---|" * len(sigmas))
    for source, images in sources.items():
        for q in (95, 90, 80, 70, 50, 30, 15):
            cells = []
            for s in sigmas:
                gains = []
                for x in images:
                    gt, im = to_uint8(x), blurred(x, s, q)
                    before = metrics.psnr(im, gt)
                    told = [s, blur_estimate.blur_sigma(im, jpeg=True)]
                    gains.append([metrics.psnr(repair.repair_array(
                        model, im, level=damage.told_level("blur", {"sigma": t})), gt) - before if t else 0.0
                        for t in told])
                truth, estimate = np.mean(gains, axis=0)
                cells.append(f"{truth:+.2f} / {estimate:+.2f}")
            print(f"| {source} | {q} | " + " | ".join(cells) + " |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--split", choices=["val", "test"], default="val")
    p.add_argument("--per-source", type=int, default=24)
    p.add_argument("--choose", action="store_true", help="search the margin (validation only)")
    p.add_argument("--jpeg", action="store_true", help="also the blur model on blurred faces saved as JPEGs")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    sources = (photos.validation_faces("cpu", args.per_source) if args.split == "val"
               else photos.test_faces(args.per_source))
    accuracy(sources)
    if args.split == "val":
        gate({s: v[:8] for s, v in sources.items()})
    if args.choose:
        if args.split != "val":
            raise SystemExit("--choose picks parameters: validation images only")
        choose({s: v[:8] for s, v in sources.items()})
        if args.jpeg:
            choose({s: v[:16] for s, v in sources.items()}, jpeg=True)
    if args.jpeg:
        on_jpegs({s: v[:8] for s, v in sources.items()})


if __name__ == "__main__":
    main()
