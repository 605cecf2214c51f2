"""Figures of the codec comparison, drawn only from saved results (`aeutils.benchmark.compare` JSON files and
the face-grid folder), so they can be redrawn and tested without running any codec."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from matplotlib.ticker import FormatStrFormatter, NullFormatter, NullLocator

from aeutils import config
from aeutils.benchmark.curves import DATASET_TITLES, msssim_db, quality_curve

# The original report's one compression result: 43.4 dB at "compression ratio" 10.66 (2.25 bpp),
# on its own VoxCeleb2 frames, PSNR of unclamped outputs, rate without its side information.
ORIGINAL_POINT = {"ratio": 10.66, "psnr": 43.4}
CLASSICAL_COLORS = {"jpeg420": "#1f77b4", "jpeg444": "#6baed6", "jpeg2000": "#2ca02c", "webp": "#9467bd",
                    "avif444": "#ff7f0e", "avif444-slow": "#b35806", "jpegxl": "#8c564b", "hevc444": "#636363"}
LEARNED_COLORS = ["#d62728", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#000000"]
PUBLISHED_KODAK = {"jpeg.json": "JPEG", "jpeg2000.json": "JPEG 2000", "bpg_444_x265_ycbcr.json": "BPG 4:4:4",
                   "vtm.json": "VTM (H.266 intra)", "paper-bmshj2018-hyperprior.json": "Balle 2018 hyperprior",
                   "paper-elic2022_mse.json": "ELIC 2022"}


def reference_dir() -> Path:
    """Published reference curves beside the data root (../shared/reference); may be absent."""
    return config.data_root().parent / "reference"


def _colors(results: list[dict]) -> dict[str, str]:
    learned = iter(LEARNED_COLORS * 4)
    return {r["name"]: CLASSICAL_COLORS.get(r["name"]) or next(learned) for r in results}


def _ratio_axis(ax) -> None:
    """A second x axis on top with the original's "compression ratio" 24 / bpp."""
    def inv(x):
        return 24.0 / np.maximum(np.asarray(x, float), 1e-9)

    top = ax.secondary_xaxis("top", functions=(inv, inv))
    top.set_xlabel("compression ratio (24 / bpp)")
    top.set_xticks([100, 48, 24, 10.66, 5, 2.4])
    top.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    top.xaxis.set_minor_locator(NullLocator())


def _bpp_axis(ax, lo: float, hi: float) -> None:
    """Log-scale bpp axis with plain tick labels."""
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ax.set_xticks([t for t in (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8) if lo <= t <= hi])
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("bits per pixel (whole file)")


def published_kodak(ref: Path | None = None) -> list[dict]:
    """The CompressAI project's published Kodak curves that are present, as {label, bpp, psnr, ms_ssim}
    (MS-SSIM in dB)."""
    folder = (ref or reference_dir()) / "compressai-kodak"
    curves = []
    for fname, label in PUBLISHED_KODAK.items():
        p = folder / fname
        if p.is_file():
            r = json.loads(p.read_text())["results"]
            ms = r.get("ms-ssim-rgb")
            curves.append({"label": f"{label} (published)", "bpp": r["bpp"], "psnr": r["psnr-rgb"],
                           "ms_ssim": msssim_db(ms) if ms else None})
    return curves


def ebrahimi2004(ref: Path | None = None) -> list[dict]:
    """The original's digitised 2004 JPEG / JPEG 2000 curves (ratio -> bpp = 24 / ratio), if present."""
    p = (ref or reference_dir()) / "ebrahimi2004-fig10.csv"
    if not p.is_file():
        return []
    with open(p, newline="") as f:
        rows = list(csv.reader(f))
    curves = []
    for col, label in ((0, "JPEG"), (2, "JPEG 2000")):
        pts = [(float(r[col]), float(r[col + 1])) for r in rows[2:] if len(r) > col + 1 and r[col] and r[col + 1]]
        curves.append({"label": f"{label} (other images, 2004)", "bpp": [24.0 / x for x, _ in pts],
                       "psnr": [y for _, y in pts], "ms_ssim": None})
    return curves


def rd_figure(results: list[dict], dataset: str, path: Path, ref: Path | None = None):
    """PSNR and MS-SSIM against bpp (log scale; compression ratio on top) for one dataset's results;
    learned codecs drawn bold, published or digitised curves dashed grey. Saves to `path`."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    overlays = published_kodak(ref) if dataset == "kodak" else ebrahimi2004(ref) if dataset == "voxceleb2" else []
    colors = _colors(results)
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 6.2))
    styles = ["--", ":", "-.", (0, (5, 1)), (0, (3, 1, 1, 1)), (0, (1, 2))]
    rates = [x for r in results for x in r["results"]["bpp"]]
    for ax, key, label in ((axes[0], "psnr", "PSNR (dB, RGB)"), (axes[1], "ms_ssim", "MS-SSIM (dB, RGB)")):
        for i, c in enumerate(overlays):
            if c[key] is not None:
                grey = str(0.25 + 0.45 * i / max(len(overlays) - 1, 1))
                ax.plot(c["bpp"], c[key], linestyle=styles[i % len(styles)], color=grey, lw=1.1, label=c["label"])
        for r in results:
            res = r["results"]
            ys = quality_curve(r, key)
            learned = r.get("kind") != "classical"
            ax.plot(res["bpp"], ys, marker="o" if learned else ".", lw=2.4 if learned else 1.3,
                    ms=5 if learned else 4, color=colors[r["name"]], label=r["name"], zorder=3 if learned else 2)
        if dataset == "voxceleb2" and key == "psnr":
            b = 24.0 / ORIGINAL_POINT["ratio"]
            ax.plot([b], [ORIGINAL_POINT["psnr"]], marker="*", ms=16, color="crimson", mec="k", ls="none",
                    zorder=5, label="original report: 43.4 dB at ratio 10.66\n(its own frames; unclamped PSNR,\n"
                                    "side information not counted)")
        _bpp_axis(ax, max(0.04, min(rates) * 0.85), min(8.0, max(rates) * 1.15))
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        _ratio_axis(ax)
    _autoscale_y(axes[0], results, "psnr")
    _autoscale_y(axes[1], results, "ms_ssim")
    first = results[0]
    fig.suptitle(f"{DATASET_TITLES.get(dataset, dataset)}: {first['images']} images "
                 f"({', '.join(first['image_sizes'][:2])}), every codec on the same images", fontsize=11)
    handles, labels = axes[0].get_legend_handles_labels()
    ncol = 4
    rows = -(-len(labels) // ncol)
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.01 + 0.042 * rows, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _autoscale_y(ax, results: list[dict], key: str) -> None:
    """Fit the y range to the measured curves (overlays may extend beyond them)."""
    ys = [y for r in results for y in quality_curve(r, key)]
    lo, hi = min(ys), max(ys)
    pad = 0.05 * (hi - lo or 1)
    ax.set_ylim(lo - pad, hi + pad)


def face_grid(grid_dir: Path, path: Path):
    """The same face decoded by every codec at (at most) the same file size, from the folder that
    `compare.write_grid_entries` fills (grid.json + one PNG per codec). Saves to `path`."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from PIL import Image

    grid_dir = Path(grid_dir)
    index = json.loads((grid_dir / "grid.json").read_text())
    entries = sorted(index["entries"].items(), key=lambda kv: kv[1].get("kind") != "classical")
    panels = [("original", "original", grid_dir / "original.png")]
    for name, e in entries:
        over = " (over)" if e["bpp"] > index["target_bpp"] + 1e-9 else ""
        panels.append((name, f"{name}\n{e['bpp']:.3f} bpp{over}, {e['psnr']:.1f} dB", grid_dir / f"{name}.png"))
    cols = min(5, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 3.15 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (_, title, p) in zip(axes.flat, panels):
        with Image.open(p) as im:
            ax.imshow(np.asarray(im.convert("RGB")), interpolation="nearest")
        ax.set_title(title, fontsize=8)
    fig.suptitle(f"{index['dataset']} {index['image']}: each codec's largest file of at most "
                 f"{index['target_bpp']:g} bpp", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
