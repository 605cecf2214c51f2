"""`aeutils demo`: the project in one command, a report anyone can open.

On each face (by default two real photographs that installed packages ship, so nothing is
downloaded; or the user's own images) it runs every shipped model next to its classical rival:

    compression  the face codec at a few rates; JPEG, JPEG 2000, WebP and AVIF at the same file size
    repair       a copy damaged three ways (blocks over the face, noise, blur) -> repair model / baseline
    colorize     a grayscale copy (the face's own lightness) -> colorization model
    upscale      a copy downsampled x4 -> SRResNet and SRGAN / bicubic

and writes OUT/index.html (self-contained: images embedded), the decoded images and compressed files
under OUT/<face>/, one labelled PNG panel per face and job (OUT/<face>_<job>.png), the numbers in
OUT/results.json, and a one-screen summary on the terminal. PSNR / SSIM are measured on the 8-bit
images the user would get; bpp from the real file sizes; times are the median of a few runs, with
every coder and model on one thread. A model that is not shipped is reported as missing, not fatal.

    aeutils demo --out demo-report            # the two embedded faces
    aeutils demo me.jpg you.png --out mine    # your own faces
"""
from __future__ import annotations

import json
import re
import statistics
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from aeutils import config, metrics, zoo
from aeutils.datasets import damage
from aeutils.errors import UserError
from aeutils.images import atomic_write_bytes, load_rgb, sample_faces, save_image, to_tensor, to_uint8
from aeutils.options import add_command

CODEC = "face-codec"
CODEC_QUALITIES = (1, 5, 10)  # of the face codec's 1..13: its lowest, a middle and a high rate
CLASSICAL = ("jpeg420", "jpeg2000", "webp", "avif444")  # JPEG, JPEG 2000, WebP, AVIF
FALLBACK_BPP = (0.25, 0.5, 1.0)  # rates of the classical-only comparison when the face codec is missing
REPAIR = "repair-blind"  # named when no repair model is shipped at all
DAMAGES = {"blocks": "biharmonic", "noise": "nlm", "blur": "unsharp"}  # damage -> classical baseline shown
COLORIZE = "colorize-faces"
SR_SCALE = 4
UPSCALE = ("sr-x4-srresnet", "sr-x4-srgan")
REPEATS = 3  # timing runs per measurement (median reported)
DEFAULT_SIZE = 192
MULTIPLE = 8  # faces are cropped to a multiple of this (x4 downsampling, codec padding)
SUFFIX = {"jpeg420": ".jpg", "jpeg2000": ".j2k", "webp": ".webp", "avif444": ".avif", CODEC: ".aez"}
SOURCES = {"astronaut": "scikit-image sample 'astronaut' (Eileen Collins, NASA; public domain), face crop",
           "grace_hopper": "matplotlib sample 'grace_hopper' (US Navy; public domain), face crop"}


# --------------------------------------------------------------------------------------- inputs
def shipped(name: str) -> bool:
    return (config.WEIGHTS_DIR / f"{name}.pt").is_file()


def prepare(im: Image.Image, size: int) -> Image.Image:
    """Shrink so the longer side is at most `size` (0: keep), then centre-crop to multiples of 8."""
    if size and max(im.size) > size:
        s = size / max(im.size)
        im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.LANCZOS)
    w, h = im.width // MULTIPLE * MULTIPLE, im.height // MULTIPLE * MULTIPLE
    if min(w, h) < 32:
        raise UserError(f"image too small for the demo ({im.width}x{im.height}; at least 32x32 after resizing)")
    left, top = (im.width - w) // 2, (im.height - h) // 2
    return im.crop((left, top, left + w, top + h))


def demo_faces(paths: list[str], size: int) -> list[tuple[str, str, Image.Image]]:
    """(name, source, image) for each input, or for the embedded sample faces when none is given.
    Every input is read first, so a bad one stops the demo before any work."""
    if not paths:
        return [(n, SOURCES.get(n, n), prepare(im, size)) for n, im in sample_faces().items()]
    faces, used = [], set()
    for p in paths:
        im = load_rgb(p)
        name = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(p).stem).strip("_") or "image"
        base, i = name, 2
        while name in used:
            name, i = f"{base}_{i}", i + 1
        used.add(name)
        faces.append((name, str(p), prepare(im, size)))
    return faces


# -------------------------------------------------------------------------------------- measuring
def timed(fn, repeats: int = REPEATS):
    """(result, median CPU ms, median wall ms) of `repeats` calls of fn()."""
    cpu, wall, out = [], [], None
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        cpu.append(1000 * (time.process_time() - c0))
        wall.append(1000 * (time.perf_counter() - t0))
    return out, statistics.median(cpu), statistics.median(wall)


class Writer:
    """Saves one face's images under OUT/<face>/ and scores them against the original."""

    def __init__(self, out: Path, face: str, original: np.ndarray):
        self.out, self.face, self.original = out, face, original
        self.saved: set[str] = set()
        (out / face).mkdir(parents=True, exist_ok=True)

    def item(self, label: str, key: str, arr: np.ndarray, score: bool = True, **numbers) -> dict:
        rel = f"{self.face}/{key}.png"
        if rel not in self.saved:
            save_image(Image.fromarray(arr, "RGB"), self.out / rel)
            self.saved.add(rel)
        item = {"label": label, "image": rel}
        if score:
            item |= {"psnr": metrics.psnr(self.original, arr), "ssim": metrics.ssim(self.original, arr)}
        return item | numbers

    def file(self, key: str, data: bytes) -> str:
        rel = f"{self.face}/{key}"
        atomic_write_bytes(self.out / rel, data)
        return rel


class Models:
    """The shipped models the demo uses, each loaded once (None when not shipped)."""

    def __init__(self):
        self._cache: dict[str, object] = {}

    def get(self, name: str):
        if name not in self._cache:
            self._cache[name] = zoo.load(name) if shipped(name) else None  # the codec as its FaceCodec
        return self._cache[name]


def model_table() -> dict[str, dict]:
    """The demo's models and every other shipped file: shipped? model card? used here?"""
    from aeutils.tasks.repair import model_for

    used = (CODEC, *(model_for(kind) for kind in DAMAGES), COLORIZE, *UPSCALE)
    others = sorted(p.stem for p in config.WEIGHTS_DIR.glob("*.pt") if p.stem not in used)
    return {n: {"shipped": shipped(n), "card": (config.WEIGHTS_DIR / f"{n}.md").is_file(), "used": n in used}
            for n in (*used, *others)}


def missing(name: str, what: str) -> str:
    return f"no shipped {what} model (weights/{name}.pt)"


def compression(im: Image.Image, w: Writer, models: Models) -> dict:
    """The face codec at CODEC_QUALITIES and each classical codec at (at most) the same file size."""
    from aeutils.benchmark.classical import classical_codecs
    from aeutils.benchmark.compare import at_size, measure, select_codecs

    classical = select_codecs(",".join(CLASSICAL), classical_codecs())
    codec = models.get(CODEC)
    pixels = im.width * im.height
    if codec is not None:
        budgets = [(f"face codec quality {q}", codec, q) for q in CODEC_QUALITIES]
        note = (f"The shipped face codec at qualities {', '.join(map(str, CODEC_QUALITIES))} of "
                f"{codec.qualities[0]}..{codec.qualities[-1]}; each classical codec at its largest file not above "
                "the face codec's (marked * where even its smallest file is larger).")
    else:
        budgets = [(f"budget {b:g} bpp", None, int(b * pixels / 8)) for b in FALLBACK_BPP]
        rates = ", ".join(f"{b:g}" for b in FALLBACK_BPP)
        note = (missing(CODEC, "compression") + f": classical codecs only, at {rates}"
                " bpp (largest file not above the budget).")
    groups = []
    for title, learned, q_or_bytes in budgets:
        entries = []
        if learned is not None:
            data = learned.encode(im, q_or_bytes)
            entries.append((learned, q_or_bytes, data))
            budget = len(data)
        else:
            budget = q_or_bytes
        for c in classical:
            quality, data = at_size(c, im, budget)
            entries.append((c, quality, data))
        items = [w.item("original", "original", w.original, score=False)]
        for c, quality, data in entries:
            key = f"{c.name}-{budget}B"
            decoded = np.array(c.decode(data).convert("RGB"))
            runs = [measure(c, im, quality) for _ in range(REPEATS)]
            times = {k: statistics.median(r[k] for r in runs)
                     for k in ("encode_ms", "decode_ms", "encode_wall_ms", "decode_wall_ms")}
            items.append(w.item(c.name, key, decoded, setting=_setting(c.name, quality), bytes=len(data),
                                bpp=metrics.bpp(len(data), *im.size), over_budget=len(data) > budget,
                                file=w.file(key + SUFFIX[c.name], data), **times))
        groups.append({"title": f"{title}: {budget} bytes ({metrics.bpp(budget, *im.size):.3f} bpp)", "items": items})
    return {"available": codec is not None, "note": note, "groups": groups}


def _setting(name: str, quality) -> str:
    if name == "jpeg2000":
        return f"target {quality:g} bpp"
    return f"quality {quality}"


def repair(im: Image.Image, w: Writer, models: Models) -> dict:
    """Each of DAMAGES on a seeded copy: the damaged input, the repair model and a classical baseline."""
    from aeutils.benchmark import baselines
    from aeutils.tasks.repair import model_for, repair_known

    if not any(shipped(model_for(kind)) for kind in DAMAGES):
        return {"available": False, "note": missing(REPAIR, "repair"), "groups": []}
    x = to_tensor(im)
    groups = []
    for i, (kind, baseline) in enumerate(DAMAGES.items()):
        name = model_for(kind)
        model = models.get(name)
        if model is None:
            continue
        d = damage.apply(kind, x, seed=i)
        bad = to_uint8(d.image)
        mask = None if d.mask is None else d.mask[0].numpy() > 0.5
        fixed, cpu, wall = timed(partial(repair_known, model, bad, d.params, mask))
        classic, bcpu, bwall = timed(partial(baselines.restore, baseline, kind, bad, mask, d.params))
        params = ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in d.params.items()
                           if not isinstance(v, list))
        groups.append({"title": f"{kind}" + (f" ({params})" if params else "") +
                                (", hole mask given" if mask is not None else ""),
                       "items": [w.item("original", "original", w.original, score=False),
                                 w.item(f"damaged: {kind}", f"damaged-{kind}", bad),
                                 w.item(name, f"repaired-{kind}", fixed, cpu_ms=cpu, wall_ms=wall),
                                 w.item(f"classical: {baseline}", f"{baseline}-{kind}", classic, cpu_ms=bcpu,
                                        wall_ms=bwall)]})
    return {"available": True, "note": "Each damage's specialist model (repair-KIND) where shipped, else the "
                                       f"blind {REPAIR}; the classical baseline is given the true damage "
                                       "parameters.", "groups": groups}


def colorize(im: Image.Image, w: Writer, models: Models) -> dict:
    """A grayscale copy with the face's own CIE Lab lightness, colorized by the shipped model."""
    from aeutils.tasks.colorize import colorize_image, colorize_tensor

    model = models.get(COLORIZE)
    if model is None:
        return {"available": False, "note": missing(COLORIZE, "colorization"), "groups": []}
    with torch.no_grad():
        gray = to_uint8(colorize_tensor(None, to_tensor(im)[None])[0])
    out, cpu, wall = timed(lambda: np.array(colorize_image(model, Image.fromarray(gray, "RGB"))))
    return {"available": True, "note": "The grayscale input keeps the face's lightness (CIE Lab L); the model "
                                       "predicts the chroma. Colourfulness: Hasler and Suesstrunk 2003.",
            "groups": [{"title": "grayscale copy, colorized",
                        "items": [w.item("original", "original", w.original, score=False,
                                         colorfulness=metrics.colorfulness(w.original)),
                                  w.item("grayscale input", "gray", gray, colorfulness=metrics.colorfulness(gray)),
                                  w.item(COLORIZE, "colorized", out, cpu_ms=cpu, wall_ms=wall,
                                         colorfulness=metrics.colorfulness(out))]}]}


def upscale(im: Image.Image, w: Writer, models: Models) -> dict:
    """A copy downsampled x4 (antialiased bicubic, 8-bit), enlarged back by bicubic and the SR models."""
    from aeutils.benchmark import baselines
    from aeutils.tasks.superres import downscale, upscale_tiled

    names = [n for n in UPSCALE if models.get(n) is not None]
    if not names:
        return {"available": False, "note": missing(UPSCALE[0], "upscale") + f" nor weights/{UPSCALE[1]}.pt",
                "groups": []}
    lr = downscale(to_tensor(im), SR_SCALE)
    lr_u8 = to_uint8(lr)
    items = [w.item("original", "original", w.original, score=False),
             w.item(f"input {lr_u8.shape[1]}x{lr_u8.shape[0]}", "lowres", lr_u8, score=False)]
    up, cpu, wall = timed(lambda: baselines.upscale_bicubic(lr_u8, SR_SCALE))
    items.append(w.item("bicubic", "bicubic", np.array(up), cpu_ms=cpu, wall_ms=wall))
    for name in names:
        with torch.no_grad():
            sr, cpu, wall = timed(partial(upscale_tiled, models.get(name), lr))
        items.append(w.item(name, name, sr, cpu_ms=cpu, wall_ms=wall))
    absent = [n for n in UPSCALE if n not in names]
    note = f"x{SR_SCALE}: the input is the face downsampled with antialiased bicubic and rounded to 8 bits."
    if absent:
        note += " " + "; ".join(missing(n, "upscale") for n in absent) + "."
    return {"available": True, "note": note, "groups": [{"title": f"x{SR_SCALE} super-resolution", "items": items}]}


# ------------------------------------------------------------------------------------------- run
def machine() -> str:
    from aeutils.benchmark.compare import machine as cpu_line

    return cpu_line().split(";")[0]


def run_demo(faces: list[tuple[str, str, Image.Image]], out: Path, progress: bool = True) -> dict:
    """Every job on every face; writes the images, panels, results.json and index.html under `out`."""
    from aeutils.demo import page

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    c0, t0 = time.process_time(), time.perf_counter()
    models = Models()
    jobs = {"compression": compression, "repair": repair, "colorize": colorize, "upscale": upscale}
    results = {"faces": []}
    try:
        with tqdm(total=len(faces) * len(jobs), desc="demo", unit="job", disable=not progress) as bar:
            for name, source, im in faces:
                w = Writer(out, name, np.array(im))
                face = {"name": name, "source": source, "width": im.width, "height": im.height,
                        "original": f"{name}/original.png"}
                for job, fn in jobs.items():
                    bar.set_postfix_str(f"{name}: {job}")
                    face[job] = fn(im, w, models)
                    face[job]["panel"] = page.write_panel(face[job], out, f"{name}_{job}.png")
                    bar.update()
                results["faces"].append(face)
    finally:
        torch.set_num_threads(threads)
    results |= {"machine": machine(), "threads": 1, "repeats": REPEATS,
                "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                "models": model_table()}
    atomic_write_bytes(out / "results.json", (json.dumps(results, indent=1) + "\n").encode())
    page.write_html(results, out / "index.html")
    return results


def summary(results: dict, out: Path) -> str:
    """The one-screen terminal summary: PSNR (dB) of each job's outputs per face."""
    lines = []
    for f in results["faces"]:
        lines.append(f"{f['name']} ({f['width']}x{f['height']}), PSNR in dB")
        comp = f["compression"]
        if not comp["available"]:
            lines.append(f"  {comp['note'].split(':')[0]}")
        if comp["groups"]:
            names = [it["label"] for it in comp["groups"][0]["items"][1:]]
            lines.append(f"  {'compression, same size':24s}" + "".join(f"{n:>11s}" for n in names))
            for g in comp["groups"]:
                row = g["items"][1:]
                lead = (f"{row[0]['bytes']} B, {row[0]['bpp']:.2f} bpp" if comp["available"]
                        else g["title"].split(":")[0])
                lines.append(f"    {lead:22s}" + "".join(f"{it['psnr']:10.2f}{'*' if it['over_budget'] else ' '}"
                                                          for it in row))
        for job in ("repair", "colorize", "upscale"):
            sec = f[job]
            if not sec["available"]:
                lines.append(f"  {job:10s}{sec['note']}")
                continue
            parts = []
            for g in sec["groups"]:
                scored = [it for it in g["items"] if "psnr" in it]
                if job == "repair":  # damaged -> model (classical)
                    kind = scored[0]["label"].split(": ")[1]
                    parts.append(f"{kind} {scored[0]['psnr']:.1f} -> {scored[1]['psnr']:.1f} "
                                 f"({scored[2]['label'].split(': ')[1]} {scored[2]['psnr']:.1f})")
                else:
                    parts.append(", ".join(f"{it['label']} {it['psnr']:.2f}" for it in scored))
            lines.append(f"  {job:10s}" + "; ".join(parts))
    absent = [n for n, m in results["models"].items() if not m["shipped"]]
    if absent:
        lines.append("not shipped: " + ", ".join(absent))
    uncarded = [n for n, m in results["models"].items() if m["shipped"] and not m["card"]]
    if uncarded:
        lines.append("no model card: " + ", ".join(uncarded))
    lines.append(f"report: {out / 'index.html'} ({results['wall_s']:.0f} s wall, {results['cpu_s']:.0f} s CPU, "
                 "one thread)")
    return "\n".join(lines)


def register(sub) -> None:
    p = add_command(sub, "demo",
                       description="Compress, repair, colorize and upscale faces with the shipped models beside "
                                   "classical methods, and write a self-contained HTML report with the measured "
                                   "numbers. Without IMAGES it uses two face photographs that installed packages "
                                   "ship (no download).")
    p.add_argument("images", nargs="*", metavar="IMAGES", help="your own face images (default: the embedded faces)")
    p.add_argument("--out", required=True, help="report folder (index.html, PNGs, results.json)")
    p.add_argument("--size", type=int, default=DEFAULT_SIZE,
                   help=f"shrink each face so its longer side is at most this (default {DEFAULT_SIZE}; 0 = keep)")
    p.add_argument("--force", action="store_true", help="write into OUT even if it exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a folder")
    if out.exists() and not args.force:
        raise UserError(f"{out} exists; pass --force to overwrite it")
    if args.size < 0 or 0 < args.size < 32:
        raise UserError("--size must be 0 or at least 32")
    faces = demo_faces(args.images, args.size)
    out.mkdir(parents=True, exist_ok=True)
    results = run_demo(faces, out, progress=not args.no_progress)
    print(summary(results, out))
    return 0
