"""`aeutils compare-codecs`: every codec swept over its quality knob on the same images, in one run.

For each codec and dataset it records, per rate point, the mean bpp of the whole files, the mean
PSNR / SSIM / MS-SSIM of the decoded 8-bit images (per image, then averaged) and the median encode
and decode time per image, and writes one JSON per codec and dataset (`<out>/<dataset>/<codec>.json`):

    {"name", "description", "kind", "dataset", "images", "image_sizes", "machine",
     "results": {"quality": [...], "bpp": [...], "psnr": [...], "ssim": [...], "ms_ssim": [...],
                 "encode_ms": [...], "decode_ms": [...], "encode_wall_ms": [...], "decode_wall_ms": [...]}}

Times are medians over the images of one rate point: `encode_ms` / `decode_ms` the process's CPU
time (each coder runs on one thread), `*_wall_ms` the wall-clock time.

BD-rates are taken over 0.1-2 bpp where both curves reach (BD_RATE_BPP); `bd_rates.json` holds each
learned codec's BD-rate against every classical anchor, per dataset, at equal PSNR and MS-SSIM.

Figures and tables are drawn from those files only (`--plot-only`), so adding a codec later
(`--codecs NAME --force`) redoes that codec's files and leaves the others alone.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

from aeutils import config
from aeutils.benchmark import figures
from aeutils.benchmark.classical import classical_codecs, unavailable_codecs
from aeutils.benchmark.curves import DATASET_TITLES, quality_curve
from aeutils.codec.coder import learned_codecs
from aeutils.datasets.photos import lfw_files
from aeutils.datasets.sources import (
    celeba_files,
    have_celeba,
    image_files,
    smoke_images,
    voxceleb2_test_frames,
)
from aeutils.errors import UserError
from aeutils.images import atomic_write_bytes, load_rgb, save_image
from aeutils.metrics import bd_rate, bpp, psnr, ssim_and_ms_ssim
from aeutils.options import add_command

DATASETS = ("voxceleb2", "celeba", "kodak", "lfw", "faces")
# How many images the committed benchmark takes (None: all); bounds the CPU time of CelebA.
DEFAULT_LIMITS = {"voxceleb2": None, "celeba": 100, "kodak": None, "lfw": None, "faces": 3}
FIXTURE_SIZE = 96
ANCHOR = "jpeg420"
# The classical codecs every learned codec is held against (bd_rates.json, the anchors table), titled.
ANCHORS = {"jpeg420": "JPEG 4:2:0", "jpeg2000": "JPEG 2000 (the codec the original compared with)",
           "avif444": "AVIF 4:4:4 (speed 6)", "avif444-slow": "AVIF 4:4:4 at its slow best",
           "hevc444": "HEVC intra 4:4:4 (x265, as BPG)"}
# BD-rate over this rate range (bpp), where both curves reach: the rates a face codec is for.
BD_RATE_BPP = (0.1, 2.0)
GRID_DIR = "grid"  # under the results folder: the equal-size face grid's decoded images
RESULT_KEYS = ("quality", "bpp", "psnr", "ssim", "ms_ssim", "encode_ms", "decode_ms", "encode_wall_ms",
               "decode_wall_ms")
TIME_KEYS = ("encode_ms", "decode_ms", "encode_wall_ms", "decode_wall_ms")


# ----------------------------------------------------------------------------------------- codecs
def all_codecs() -> list:
    """The classical codecs plus the project's learned ones (every shipped model)."""
    return classical_codecs() + list(learned_codecs())


def select_codecs(names: str | None, codecs: list | None = None) -> list:
    """Codecs by comma-separated name (all of them when `names` is empty)."""
    codecs = all_codecs() if codecs is None else codecs
    if not names:
        return codecs
    by_name = {c.name: c for c in codecs}
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise UserError(f"unknown codec {unknown[0]!r}; choose from {', '.join(by_name)}")
    return [by_name[n] for n in wanted]


# --------------------------------------------------------------------------------------- datasets
def dataset_images(name: str, limit: int | None = None,
                   frames_dir: Path | None = None) -> list[tuple[str, Image.Image]]:
    """(id, RGB image) pairs of a named dataset or of a folder of images, at native size."""
    if name == "faces":
        ims = smoke_images(n=limit or DEFAULT_LIMITS["faces"], size=FIXTURE_SIZE, seed=2)
        return [(f"face{i}", im) for i, im in enumerate(ims)]
    if name == "voxceleb2":
        paths = voxceleb2_test_frames(frames_dir)
    elif name == "celeba":
        if not have_celeba():
            raise UserError(f"CelebA not found at {config.celeba_dir()}")
        paths = celeba_files("test")
    elif name == "kodak":
        if not config.kodak_dir().is_dir():
            raise UserError(f"Kodak not found at {config.kodak_dir()}")
        paths = image_files(config.kodak_dir())
    elif name == "lfw":
        try:
            paths = lfw_files("test")
        except FileNotFoundError:
            raise UserError("lfw-val not found under the data root") from None
    elif Path(name).is_dir():
        paths = image_files(name)
    else:
        raise UserError(f"unknown dataset {name!r}: use {', '.join(DATASETS)} or a folder of images")
    paths = paths[:limit]
    if not paths:
        raise UserError(f"no images in dataset {name!r}")
    # ids: identity/video/frame for VoxCeleb2, the file name otherwise
    return [("/".join(p.parts[-3:]) if name == "voxceleb2" else p.name, load_rgb(p)) for p in paths]


def dataset_key(name: str) -> str:
    """The folder name results go under: the dataset's name, or a folder's own name."""
    return name if name in DATASETS else Path(name).resolve().name


# ------------------------------------------------------------------------------------------ sweep
def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores; each coder on one thread"


def measure(codec, im: Image.Image, quality) -> dict:
    """Encode and decode one image at one quality: whole-file bpp, quality metrics, and times in ms:
    CPU time of this process (`encode_ms`, `decode_ms`; what the coder costs, even on a machine
    shared with other jobs) and wall-clock time (`*_wall_ms`)."""
    c0, t0 = time.process_time(), time.perf_counter()
    data = codec.encode(im, quality)
    c1, t1 = time.process_time(), time.perf_counter()
    out = codec.decode(data)
    c2, t2 = time.process_time(), time.perf_counter()
    if out.size != im.size:
        raise RuntimeError(f"{codec.name} decoded {out.size}, expected {im.size}")
    a, b = np.array(im.convert("RGB")), np.array(out.convert("RGB"))
    s, ms = ssim_and_ms_ssim(a, b)
    return {"bpp": bpp(len(data), *im.size), "psnr": psnr(a, b), "ssim": s, "ms_ssim": ms,
            "encode_ms": 1000 * (c1 - c0), "decode_ms": 1000 * (c2 - c1),
            "encode_wall_ms": 1000 * (t1 - t0), "decode_wall_ms": 1000 * (t2 - t1)}


def sweep(codec, images: list[tuple[str, Image.Image]], dataset: str, qualities: list | None = None,
          progress: bool = False) -> dict:
    """Sweep one codec over its rate points on a list of (id, image): one result dict (the JSON)."""
    from tqdm.auto import tqdm

    qualities = list(codec.qualities if qualities is None else qualities)
    measure(codec, images[0][1], qualities[0])  # warm-up: first calls load libraries and tables
    res = {k: [] for k in RESULT_KEYS}
    bar = tqdm(total=len(qualities) * len(images), desc=f"{dataset}/{codec.name}", disable=not progress,
               leave=False)
    for q in qualities:
        rows = []
        for _, im in images:
            rows.append(measure(codec, im, q))
            bar.update()
        res["quality"].append(q)
        for k in ("bpp", "psnr", "ssim", "ms_ssim"):
            res[k].append(float(np.mean([r[k] for r in rows])))
        for k in TIME_KEYS:
            res[k].append(float(statistics.median(r[k] for r in rows)))
    bar.close()
    sizes = sorted({f"{im.width}x{im.height}" for _, im in images})
    return {"name": codec.name, "description": codec.description, "kind": getattr(codec, "kind", "learned"),
            "dataset": dataset, "images": len(images), "image_sizes": sizes, "machine": machine(),
            "results": res}


# ------------------------------------------------------------------------------------ JSON files
def result_path(out: Path, dataset: str, codec_name: str) -> Path:
    return Path(out) / dataset / f"{codec_name}.json"


def save_result(result: dict, out: Path) -> Path:
    path = result_path(out, result["dataset"], result["name"])
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps(result, indent=1) + "\n").encode())
    return path


def check_result(r: dict, source: str = "") -> dict:
    """Validate one result against the schema (same-length lists of numbers, increasing rate order)."""
    missing = [k for k in ("name", "description", "dataset", "results") if k not in r]
    missing += [k for k in ("bpp", "psnr", "ssim", "encode_ms", "decode_ms") if k not in r.get("results", {})]
    if missing:
        raise UserError(f"{source or r.get('name')}: not a codec result file (missing {missing[0]!r})")
    n = len(r["results"]["bpp"])
    if any(len(v) != n for v in r["results"].values()):
        raise UserError(f"{source or r['name']}: result lists of different lengths")
    return r


def load_results(out: Path, dataset: str) -> list[dict]:
    """All codec results saved for one dataset: the classical ones in their usual order, then the
    learned ones by name."""
    folder = Path(out) / dataset
    results = []
    for p in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            results.append(check_result(json.loads(p.read_text()), str(p)))
        except json.JSONDecodeError:
            raise UserError(f"{p}: not valid JSON") from None
    order = {c.name: i for i, c in enumerate(classical_codecs())}
    return sorted(results, key=lambda r: (r.get("kind") != "classical", order.get(r["name"], len(order)), r["name"]))


def saved_datasets(out: Path) -> list[str]:
    """Datasets with results under `out`, in the project's order, then any folders by name. A folder
    with its own tables.md is a nested comparison (resources/codecs/anchors), not a dataset."""
    found = [p.name for p in Path(out).iterdir()
             if p.is_dir() and p.name != GRID_DIR and not (p / "tables.md").exists() and any(p.glob("*.json"))
             ] if Path(out).is_dir() else []
    return [d for d in DATASETS if d in found] + sorted(d for d in found if d not in DATASETS)


# ---------------------------------------------------------------------------------------- tables
def psnr_at(result: dict, rate: float, metric: str = "psnr") -> float | None:
    """PSNR (or MS-SSIM dB) at a given bpp, interpolated linearly in log-rate; None outside the
    measured range."""
    r = np.asarray(result["results"]["bpp"], float)
    p = np.asarray(quality_curve(result, metric), float)
    order = np.argsort(r)
    r, p = r[order], p[order]
    if not r[0] <= rate <= r[-1]:
        return None
    return float(np.interp(np.log(rate), np.log(r), p))


def quality_window(result: dict, metric: str = "psnr") -> tuple[float, float] | None:
    """The quality range a curve spans inside BD_RATE_BPP (None when it has no rate there)."""
    rates = result["results"]["bpp"]
    lo, hi = max(BD_RATE_BPP[0], min(rates)), min(BD_RATE_BPP[1], max(rates))
    return (psnr_at(result, lo, metric), psnr_at(result, hi, metric)) if lo < hi else None


def bd_rate_of(anchor: dict, test: dict, metric: str = "psnr") -> float | None:
    """BD-rate of `test` against `anchor` in percent at equal PSNR (or MS-SSIM dB), over the quality
    range both curves reach within BD_RATE_BPP; None when there is none or a curve has fewer than 4
    points."""
    wa, wt = quality_window(anchor, metric), quality_window(test, metric)
    if wa is None or wt is None:
        return None
    try:
        return bd_rate(anchor["results"]["bpp"], quality_curve(anchor, metric),
                       test["results"]["bpp"], quality_curve(test, metric),
                       within=(max(wa[0], wt[0]), min(wa[1], wt[1])))
    except ValueError:
        return None


def learned_bd_rates(by_dataset: dict[str, list[dict]]) -> dict:
    """{dataset: {learned codec: {anchor: {"psnr": %, "ms_ssim": %}}}} against every anchor present
    (None where the curves share no range): what bd_rates.json and the anchors table show."""
    out = {}
    for d, results in by_dataset.items():
        res = {r["name"]: r for r in results}
        out[d] = {r["name"]: {a: {m: bd_rate_of(res[a], r, m) for m in ("psnr", "ms_ssim")}
                              for a in ANCHORS if a in res}
                  for r in results if r.get("kind") != "classical"}
    return out


def anchors_table(by_dataset: dict[str, list[dict]]) -> str:
    """Markdown table: each learned codec's BD-rate against each anchor, per dataset, as
    "PSNR / MS-SSIM" percentages (codecs with no BD-rate anywhere, single-point ones, left out)."""
    datasets = list(by_dataset)
    rates = learned_bd_rates(by_dataset)
    lines = ["| codec | against | " + " | ".join(DATASET_TITLES.get(d, d) for d in datasets) + " |",
             "|---|---|" + "---:|" * len(datasets)]
    rows = [(name, a) for name in _names(by_dataset) for a in ANCHORS
            if any(v is not None for d in datasets for v in rates[d].get(name, {}).get(a, {}).values())]
    for name, a in rows:
        cells = [" / ".join(_cell(v, "+.1f") + ("%" if v is not None else "")
                            for v in rates[d].get(name, {}).get(a, {}).values()) or "n/a"
                 for d in datasets]
        lines.append(f"| {name} | {a} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(v, fmt: str) -> str:
    return "n/a" if v is None else format(v, fmt)


def bd_rate_table(by_dataset: dict[str, list[dict]], anchor: str = ANCHOR, metric: str = "psnr") -> str:
    """Markdown table: BD-rate of every codec against `anchor`, one column per dataset."""
    names = _names(by_dataset)
    datasets = list(by_dataset)
    lines = ["| codec | " + " | ".join(DATASET_TITLES.get(d, d) for d in datasets) + " |",
             "|---|" + "---:|" * len(datasets)]
    for name in names:
        if name == anchor:
            continue
        cells = []
        for d in datasets:
            res = {r["name"]: r for r in by_dataset[d]}
            v = bd_rate_of(res[anchor], res[name], metric) if anchor in res and name in res else None
            cells.append(_cell(v, "+.1f") + ("%" if v is not None else ""))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def psnr_table(results: list[dict], rates=(0.25, 0.5, 1.0, 2.25)) -> str:
    """Markdown table: PSNR (dB) of each codec at fixed rates (interpolated; - outside its sweep)."""
    lines = ["| codec | " + " | ".join(f"{r:g} bpp" for r in rates) + " |", "|---|" + "---:|" * len(rates)]
    for r in results:
        cells = [_cell(psnr_at(r, x), ".1f").replace("n/a", "-") for x in rates]
        lines.append(f"| {r['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def timing_table(by_dataset: dict[str, list[dict]]) -> str:
    """Markdown table: median encode / decode ms per image (median over the sweep's rate points)."""
    datasets = list(by_dataset)
    lines = ["| codec | " + " | ".join(f"{DATASET_TITLES.get(d, d)} enc / dec ms" for d in datasets) + " |",
             "|---|" + "---:|" * len(datasets)]
    for name in _names(by_dataset):
        cells = []
        for d in datasets:
            res = {r["name"]: r for r in by_dataset[d]}.get(name)
            if res is None:
                cells.append("n/a")
            else:
                enc = statistics.median(res["results"]["encode_ms"])
                dec = statistics.median(res["results"]["decode_ms"])
                cells.append(f"{enc:.1f} / {dec:.1f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _names(by_dataset: dict[str, list[dict]]) -> list[str]:
    names = []
    for results in by_dataset.values():
        names += [r["name"] for r in results if r["name"] not in names]
    return names


def tables_markdown(by_dataset: dict[str, list[dict]]) -> str:
    """The BD-rate, PSNR-at-rate and timing tables of a whole comparison, as one markdown file."""
    lo, hi = BD_RATE_BPP
    parts = ["# Codec comparison tables (written by `aeutils compare-codecs`)\n",
             f"BD-rates over {lo:g}-{hi:g} bpp where both curves reach; negative = fewer bits for the same "
             "quality.\n",
             "## The learned codecs against every anchor (BD-rate, PSNR / MS-SSIM)\n",
             anchors_table(by_dataset)]
    present = {r["name"] for results in by_dataset.values() for r in results}
    for a in (a for a in ANCHORS if a in present):
        parts += [f"## BD-rate against {ANCHORS[a]}, at equal PSNR\n", bd_rate_table(by_dataset, a)]
    parts += ["## BD-rate against JPEG 4:2:0 at equal MS-SSIM (dB)\n", bd_rate_table(by_dataset, ANCHOR, "ms_ssim")]
    for d, results in by_dataset.items():
        parts += [f"## PSNR (dB) at fixed rates: {DATASET_TITLES.get(d, d)}\n", psnr_table(results)]
    parts += ["## Encode / decode time per image (CPU ms, median over images and rate points, one thread)\n",
              timing_table(by_dataset)]
    for d, results in by_dataset.items():
        if results:
            parts.append(f"- {DATASET_TITLES.get(d, d)}: {results[0]['images']} images "
                         f"({', '.join(results[0]['image_sizes'][:3])}); {results[0]['machine']}\n")
    return "\n".join(parts)


# --------------------------------------------------------------------------- equal-size face grid
def at_size(codec, im: Image.Image, max_bytes: int) -> tuple[object, bytes]:
    """The largest file of `codec` not above `max_bytes` (its smallest file if none fits): a binary
    search over its dense knob list `search` when it has one, else over its sweep `qualities`."""
    knobs = list(getattr(codec, "search", None) or codec.qualities)
    lo, hi, best = 0, len(knobs) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        data = codec.encode(im, knobs[mid])
        if len(data) <= max_bytes:
            best, lo = (knobs[mid], data), mid + 1
        else:
            hi = mid - 1
    return best or (knobs[0], codec.encode(im, knobs[0]))


def write_grid_entries(codecs: list, item: tuple[str, Image.Image], dataset: str, target_bpp: float,
                       out: Path) -> Path:
    """Decode one face from every codec at (at most) the same file size; save the decoded images
    under `<out>/grid/` with `grid.json` (entries merged with those already there for the same face)."""
    image_id, im = item
    folder = Path(out) / GRID_DIR
    folder.mkdir(parents=True, exist_ok=True)
    index_path = folder / "grid.json"
    index = json.loads(index_path.read_text()) if index_path.is_file() else {}
    if (index.get("dataset"), index.get("image"), index.get("target_bpp")) != (dataset, image_id, target_bpp):
        index = {"dataset": dataset, "image": image_id, "target_bpp": target_bpp, "entries": {}}
    save_image(im, folder / "original.png")
    max_bytes = int(target_bpp * im.width * im.height / 8)
    a = np.asarray(im)
    for codec in codecs:
        quality, data = at_size(codec, im, max_bytes)
        out_im = codec.decode(data)
        save_image(out_im, folder / f"{codec.name}.png")
        index["entries"][codec.name] = {"quality": quality, "bytes": len(data), "bpp": bpp(len(data), *im.size),
                                        "psnr": psnr(a, np.asarray(out_im)),
                                        "kind": getattr(codec, "kind", "learned")}
    atomic_write_bytes(index_path, (json.dumps(index, indent=1) + "\n").encode())
    return index_path


# ------------------------------------------------------------------------------------------- CLI
def output_files(out: Path, datasets: list[str]) -> list[Path]:
    """The figures and tables a run (re)draws under `out`."""
    return ([Path(out) / f"rd_{d}.png" for d in datasets]
            + [Path(out) / "face_grid.png", Path(out) / "tables.md", Path(out) / "bd_rates.json"])


def draw(out: Path, datasets: list[str] | None = None) -> dict[str, list[dict]]:
    """Draw every figure and table from the JSON files under `out`; returns the results read."""
    datasets = datasets or saved_datasets(out)
    by_dataset = {d: load_results(out, d) for d in datasets}
    by_dataset = {d: r for d, r in by_dataset.items() if r}
    if not by_dataset:
        raise UserError(f"no codec results under {out}")
    for d, results in by_dataset.items():
        figures.rd_figure(results, d, Path(out) / f"rd_{d}.png")
    if (Path(out) / GRID_DIR / "grid.json").is_file():
        figures.face_grid(Path(out) / GRID_DIR, Path(out) / "face_grid.png")
    atomic_write_bytes(Path(out) / "tables.md", tables_markdown(by_dataset).encode())
    bd_json = json.dumps(learned_bd_rates(by_dataset), indent=1) + "\n"
    atomic_write_bytes(Path(out) / "bd_rates.json", bd_json.encode())
    return by_dataset


def compare(datasets: list[str], codecs: list, out: Path, limit: int | None = None, grid_bpp: float = 0.3,
            frames_dir: Path | None = None, progress: bool = False) -> list[Path]:
    """Sweep `codecs` on each dataset, write their JSON files and the face-grid images under `out`.
    The grid shows the first VoxCeleb2 test frame (the original's domain) when VoxCeleb2 is in the
    run, else the first image of the first dataset when `out` has no grid yet."""
    written = []
    has_grid = (Path(out) / GRID_DIR / "grid.json").is_file()
    grid_name = "voxceleb2" if "voxceleb2" in datasets else None if has_grid else datasets[0]
    for name in datasets:
        images = dataset_images(name, limit if limit is not None else DEFAULT_LIMITS.get(name), frames_dir)
        key = dataset_key(name)
        if name == grid_name:
            write_grid_entries(codecs, images[0], key, grid_bpp, out)
        for codec in codecs:
            written.append(save_result(sweep(codec, images, key, progress=progress), out))
    return written


def register(sub) -> None:
    p = add_command(sub, "compare-codecs",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", default=None,
                   help="comma-separated: voxceleb2, celeba, kodak, lfw (lfw-val test half), faces (fixtures) "
                        "or folders of images "
                        "(default: voxceleb2,celeba,kodak,lfw; faces in the smoke profile)")
    p.add_argument("--codecs", default=None, help="comma-separated codec names (default: all, classical and learned)")
    p.add_argument("--out", default=None, help="results folder (default: resources/codecs; runs/codecs-smoke in smoke)")
    p.add_argument("--limit", type=int, default=None,
                   help="images per dataset (default: all; the first 100 of CelebA test; 3 fixtures)")
    p.add_argument("--grid-bpp", type=float, default=0.3, help="file size of the face grid, in bpp (default 0.3)")
    p.add_argument("--voxceleb2-frames", default=None, help="compiled VoxCeleb2 frames (default data/voxceleb2-frames)")
    p.add_argument("--plot-only", action="store_true", help="only redraw figures and tables from the JSON files")
    p.add_argument("--list", action="store_true", help="list the codecs and exit")
    p.add_argument("--profile", default=None, help="smoke, cpu or paper (default $AEUTILS_PROFILE or cpu)")
    p.add_argument("--force", action="store_true", help="overwrite existing results and figures")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    import torch

    torch.set_num_threads(1)
    try:
        profile = config.get_profile(args.profile)
    except ValueError as e:
        raise UserError(str(e)) from None
    if args.list:
        for c in all_codecs():
            print(f"{c.name:12s} {c.description}")
        for name, reason in unavailable_codecs().items():
            print(f"{name:12s} (not available: {reason})")
        return 0
    out = Path(args.out) if args.out else config.results_dir("codecs", profile, smoke=config.RUNS_DIR / "codecs-smoke")
    if args.limit is not None and args.limit < 1:
        raise UserError("--limit must be at least 1")
    if args.grid_bpp <= 0:
        raise UserError("--grid-bpp must be positive")
    if args.plot_only:
        datasets = [dataset_key(d) for d in args.datasets.split(",")] if args.datasets else saved_datasets(out)
        _refuse_existing(output_files(out, datasets), args.force)
        draw(out, datasets)
        print(f"figures and tables redrawn under {out}")
        return 0
    datasets = args.datasets or ("faces" if profile == "smoke" else "voxceleb2,celeba,kodak,lfw")
    names = [d.strip() for d in datasets.split(",") if d.strip()]
    unknown = [d for d in names if d not in DATASETS and not Path(d).is_dir()]
    if unknown:
        raise UserError(f"unknown dataset {unknown[0]!r}: use {', '.join(DATASETS)} or a folder of images")
    codecs = select_codecs(args.codecs)
    keys = [dataset_key(d) for d in names]
    _refuse_existing([result_path(out, k, c.name) for k in keys for c in codecs]
                     + output_files(out, saved_datasets(out) + [k for k in keys if k not in saved_datasets(out)]),
                     args.force)
    compare(names, codecs, out, limit=args.limit, grid_bpp=args.grid_bpp, frames_dir=args.voxceleb2_frames,
            progress=not args.no_progress)
    draw(out)
    print(f"results, figures and tables written under {out}")
    return 0


def _refuse_existing(paths: list[Path], force: bool) -> None:
    existing = [p for p in paths if p.exists()]
    if existing and not force:
        raise UserError(f"{existing[0]} exists; pass --force to overwrite it")
