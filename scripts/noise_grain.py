"""Choose how the default repair tells a lossless photo's noise from its grain and texture (`repair.SPREAD_RAMP`,
`repair.NOISE_RAMPS["lossless"]`, `repair.GREY_RAMP`) on validation photos.

The default (`repair.AutoRepair`) applies a share of the noise model's correction that grows with
`repair.estimate_noise`. A film scan's grain and a face's fine texture read as light noise too, and the model takes
them away with it. Noise drawn for each channel on its own lies mostly in the chroma, grain and texture in the luma,
so in a colour photo the share is also multiplied by a ramp on the correction's `repair.chroma_spread`; a grey photo
(`repair.colourfulness` under GREY_BELOW) has no chroma to read and a ramp of its own. For every validation face
(CelebA validation identities, the VoxCeleb2 validation identity, even-numbered lfw-val images), grey copies of some
of them under grey noise (`mono`: a black-and-white photo's noise), crops of the demo's scanned Grace Hopper photo
(`grain`) and grey copies of them under grey noise (`grey scan`: a black-and-white film scan) and scikit-image's
sample photos (`photos`), with noise of each sigma in SIGMAS kept lossless, this records
the estimate, the spread, the colourfulness and the gain over the damaged input of each share of the correction.
Then it prints the best candidates (colour photos: a ramp on the estimate from STARTS times one on the spread
from SPREAD_STARTS; grey photos: a ramp from STARTS) by summed gain over the faces' cells (source, sigma; the
mean over its faces) that leave no cell worse than its input (each scan crop and sample photo a cell of its own), and
per cell the one ramp before (BEFORE, no spread) beside the shipped ramps; with --kodak, the same two on the Kodak
images (film scans) under light noise, a check not used to choose.

    python scripts/noise_grain.py --per-source 24 --rows rows.json
    python scripts/noise_grain.py --sources voxceleb2,lfw --rows b.json   # some sources a process
    python scripts/noise_grain.py --rows a.json b.json   # then all of them
    python scripts/noise_grain.py --rows a.json b.json --kodak ../shared/data/kodak   # and the Kodak check (5 min)
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import skimage.data
import torch
from PIL import Image

from aeutils import metrics
from aeutils.benchmark import measured
from aeutils.datasets import damage, photos
from aeutils.images import sample_faces, to_tensor, to_uint8
from aeutils.tasks import repair
from aeutils.tasks.repair.infer import blend, ramp

SIGMAS = [0, 1, 2, 3, 4, 5, 7, 10, 15, 25, 50]  # 8-bit levels
SHARES = np.round(np.linspace(0, 1, 21), 2)  # the shares measured; a candidate's share is read at the nearest
STARTS = [1, 1.25, 1.5, 1.75, 2, 2.25, 2.5, 2.75, 3, 3.5, 4, 5]  # ramps on the estimate, levels: START to START + WIDTH
WIDTHS = [0, 0.5, 1, 1.5, 2, 2.5, 3, 4, 6]
SPREAD_STARTS, SPREAD_WIDTHS = [0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5], [0, 0.05, 0.1, 0.2, 0.3]
LEVEL = 0.005  # dB: a cell this close to its input counts as level with it (rounding)
BEFORE = (1.5, 4.0)  # levels: the one ramp of lossless files until 2026-12-07
MONO_PER_SOURCE = 8  # faces of each source also measured grey, under grey noise
GRAIN_CROPS = [(0, 330, 0, 270), (0, 192, 0, 192), (60, 300, 20, 250), (100, 330, 40, 270)]  # rows, columns
PHOTOS = ["astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "camera.png", "motorcycle_left.png"]
PHOTO_SIDE = 320  # px: the central crop of each sample photo measured
ALONE = ("grain", "grey scan", "photos")  # sources whose every image is a cell of its own
GREY_NOISE = ("mono", "grey scan")  # sources of grey photos, under grey noise
KODAK_SIGMAS = [1, 2, 3, 4, 5, 7]  # 8-bit levels


def measure(images: dict, noise: torch.nn.Module) -> list[dict]:
    """One row per image and sigma: what the ramps read and the gain (dB) of each share of the correction."""
    rows = []
    for source, faces in images.items():
        for j, x in enumerate(faces):
            gt = to_uint8(x)
            for sigma in SIGMAS:
                if not sigma:
                    im = gt
                elif source in GREY_NOISE:  # one noise for the three channels
                    grey_noise = damage.apply("noise", x[:1], seed=j, sigma=sigma / 255).image - x[:1]
                    im = to_uint8((x + grey_noise).clamp(0, 1))
                else:
                    im = to_uint8(damage.apply("noise", x, seed=j, sigma=sigma / 255).image)
                estimate = repair.estimate_noise(im)
                denoised = repair.denoise(noise, im, estimate, "lossless")
                before = min(metrics.psnr(im, gt), 60.0)  # capped as the sweeps cap it
                rows.append(dict(source=source, face=j, sigma=sigma, estimate=255 * estimate,
                                 spread=repair.chroma_spread(im, denoised), colour=255 * repair.colourfulness(im),
                                 gains=[round(min(metrics.psnr(blend(im, denoised, s), gt), 60.0) - before, 4)
                                        for s in SHARES]))
    return rows


def grey(x: torch.Tensor) -> torch.Tensor:
    """A (3, H, W) photo made grey: its luma in all three channels."""
    return (x * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0, keepdim=True).expand(3, -1, -1).contiguous()


def grey_faces(faces: dict) -> list[torch.Tensor]:
    """MONO_PER_SOURCE faces of each source made grey."""
    return [grey(x) for images in faces.values() for x in images[:MONO_PER_SOURCE]]


def scan_crops() -> list[torch.Tensor]:
    scan = to_tensor(sample_faces()["grace_hopper"])
    return [scan[:, top:bottom, left:right] for top, bottom, left, right in GRAIN_CROPS]


def sample_photos() -> list[torch.Tensor]:
    """PHOTOS from scikit-image's sample data, central crops at most PHOTO_SIDE px a side."""
    folder = Path(skimage.data.__file__).parent
    out = []
    for name in PHOTOS:
        x = to_tensor(Image.open(folder / name).convert("RGB"))
        top, left = (max((side - PHOTO_SIDE) // 2, 0) for side in x.shape[1:])
        out.append(x[:, top:top + PHOTO_SIDE, left:left + PHOTO_SIDE])
    return out


def ramps(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """`ramp` over an array."""
    return np.clip((values - low) / (high - low), 0, 1) if high > low else (values >= low).astype(float)


class Cells:
    """The rows as arrays, to read every candidate at once: a cell is (source, sigma), each scan crop and sample
    photo one of its own."""

    def __init__(self, rows: list[dict]):
        keys = [(r["source"] if r["source"] not in ALONE else f"{r['source']} {r['face']}", r["sigma"])
                for r in rows]
        self.names = sorted(set(keys))
        index = {k: i for i, k in enumerate(self.names)}
        self.cell = np.array([index[k] for k in keys])
        self.count = np.bincount(self.cell, minlength=len(self.names))
        self.estimate = np.array([r["estimate"] for r in rows])
        self.spread = np.array([r["spread"] for r in rows])
        self.grey = np.array([r["colour"] for r in rows]) < 255 * repair.GREY_BELOW
        self.gains = np.array([r["gains"] for r in rows])
        self.faces = np.array([not name[0].startswith(ALONE) for name in self.names])
        self.grey_cells = np.array([self.grey[self.cell == i].all() for i in range(len(self.names))])

    def of(self, share: np.ndarray) -> np.ndarray:
        """Mean gain per cell with this share per row."""
        picked = self.gains[np.arange(len(share)), np.abs(SHARES[None] - share[:, None]).argmin(axis=1)]
        return np.bincount(self.cell, picked, minlength=len(self.names)) / self.count

    def ranked(self, keep: np.ndarray, options) -> list[tuple[float, tuple]]:
        """Of `options` ((key, share per row)), those that leave no cell in `keep` worse than its input (within
        LEVEL), best first by their summed gain over the faces' cells in `keep`."""
        found = []
        for key, share in options:
            c = self.of(share)
            if not keep.any() or c[keep].min() >= -LEVEL:
                found.append((float(c[keep & self.faces].sum()), key))
        return sorted(found, reverse=True)


def search(cells: Cells) -> None:
    levels = [(s, s + w) for s in STARTS for w in WIDTHS]
    spreads = [(s, s + w) for s in SPREAD_STARTS for w in SPREAD_WIDTHS]
    colour = cells.ranked(~cells.grey_cells, [((r, g), ramps(cells.estimate, *r) * ramps(cells.spread, *g))
                                              for r in levels for g in spreads])
    grey = cells.ranked(cells.grey_cells, [((r,), ramps(cells.estimate, *r)) for r in levels])
    print(f"the best with no cell worse than its input (within {LEVEL:g} dB), summed gain over the faces' cells:")
    for total, ((l0, l1), (g0, g1)) in colour[:8]:
        print(f"  colour photos: estimate {l0:g}-{l1:g} levels x chroma spread {g0:g}-{g1:g}: {total:.1f} dB")
    for total, ((l0, l1),) in grey[:5]:
        print(f"  grey photos: estimate {l0:g}-{l1:g} levels: {total:.1f} dB")
    before = cells.of(ramps(cells.estimate, *BEFORE))
    shipped = cells.of(np.array([shipped_share(e, s, g) for e, s, g in zip(cells.estimate, cells.spread, cells.grey)]))
    for name, c in (("before", before), ("shipped", shipped)):
        worse = int((c < -LEVEL).sum())
        print(f"{name}: summed gain over the faces' cells {c[cells.faces].sum():.1f} dB, over all {c.sum():.1f} "
              f"({len(c)} cells), {worse} cells worse than their input, the worst {c.min():+.2f}")
    print(f"per cell, mean gain (dB): one ramp {BEFORE[0]:g}-{BEFORE[1]:g} levels before / shipped")
    for i, (source, sigma) in enumerate(cells.names):
        print(f"  {source} sigma {sigma}: {before[i]:+.2f} / {shipped[i]:+.2f}")


def shipped_share(estimate: float, spread: float, grey: bool) -> float:
    """The share the default applies to a lossless photo (`repair.AutoRepair`)."""
    return repair.noise_share(estimate / 255, "lossless", grey) * repair.spread_share(spread, grey)


def kodak(folder: Path, noise: torch.nn.Module) -> None:
    """The one ramp before and the shipped ramps on the Kodak images in `folder` (film scans, not faces; a check,
    not used to choose) and grey copies of them under grey noise, with noise of each KODAK_SIGMAS kept lossless:
    gain over the input per image, and the cells made worse than their input."""
    worse, total = {"before": [], "shipped": []}, {"before": 0.0, "shipped": 0.0}
    for path, is_grey in [(path, g) for path in sorted(folder.glob("*.png")) for g in (False, True)]:
        x = to_tensor(Image.open(path).convert("RGB"))
        x = grey(x) if is_grey else x
        gt, line = to_uint8(x), []
        for sigma in KODAK_SIGMAS:
            noisy = damage.apply("noise", x[:1] if is_grey else x, seed=1, sigma=sigma / 255).image
            im = to_uint8((x + noisy - x[:1]).clamp(0, 1) if is_grey else noisy)
            estimate = repair.estimate_noise(im)
            denoised = repair.denoise(noise, im, estimate, "lossless")
            shares = {"before": ramp(255 * estimate, *BEFORE),
                      "shipped": shipped_share(255 * estimate, repair.chroma_spread(im, denoised), repair.is_grey(im))}
            before = metrics.psnr(im, gt)
            gains = {name: metrics.psnr(blend(im, denoised, share), gt) - before for name, share in shares.items()}
            for name, g in gains.items():
                total[name] += g
                worse[name] += [f"{path.stem}{' grey' * is_grey} sigma {sigma} {g:+.2f}"] * (g < -LEVEL)
            line.append(f"sigma {sigma} {gains['before']:+.2f} / {gains['shipped']:+.2f}")
        print(f"  {path.stem}{' (grey, grey noise)' * is_grey}: " + ", ".join(line))
    for name in worse:
        print(f"{name}: summed gain {total[name]:.1f} dB, worse than the input: {worse[name] or 'none'}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sources", default="celeba,voxceleb2,lfw,mono,grain,grey scan,photos",
                   help="what to measure: validation sources, grey faces (mono), the scan (grain) and a grey copy "
                   "of it (grey scan), sample photos")
    p.add_argument("--kodak", type=Path, default=None, help="also check the Kodak images in this folder (a check on "
                   "film scans, not used to choose; e.g. ../shared/data/kodak)")
    measured.add_arguments(p)
    args = p.parse_args()
    torch.set_num_threads(1)

    def measure_all() -> list[dict]:
        sources = args.sources.split(",")
        faces = photos.validation_faces("cpu", args.per_source)
        images = {s: v for s, v in faces.items() if s in sources}
        extra = {"mono": lambda: grey_faces(faces), "grain": scan_crops, "photos": sample_photos,
                 "grey scan": lambda: [grey(x) for x in scan_crops()]}
        images |= {s: make() for s, make in extra.items() if s in sources}
        return measure(images, repair.load_model("repair-noise")[0])
    rows = measured.rows(args.rows, measure_all)
    search(Cells(rows))
    if args.kodak:
        print(f"\nKodak ({args.kodak}), noise kept lossless, gain over the input (dB): one ramp before / shipped")
        kodak(args.kodak, repair.load_model("repair-noise")[0])


if __name__ == "__main__":
    main()
