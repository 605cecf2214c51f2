"""The robustness sweep of the repair models: every strength a user meets, on three sources.

A model that wins inside its training range can still ruin a photo one step outside it, and a user
does not know which range their photo is in. So each model runs on clean images of CelebA test
identities, VoxCeleb2 test frames and lfw-val (faces in the wild, another source) damaged at every
strength of `damage.SWEEP` (below, inside and above the original study's ranges) and left clean,
beside the damaged input itself and the classical baselines on the same images. Each baseline is
given the true damage parameter and has its own knob tuned per strength on validation images
(`tune`), so a model that beats it has earned it.

    python scripts/robustness.py --kinds noise,blur      # tables + figures in resources/repair/robustness
"""
from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from aeutils import metrics
from aeutils.benchmark import baselines
from aeutils.datasets import damage
from aeutils.images import to_tensor, to_uint8

# Per damage: baseline -> (knob values tried on validation, restore(im, params, knob)).
BASELINES = {
    "noise": {
        "nlm": ([0.5, 0.65, 0.8, 1.0], lambda im, p, c: baselines.denoise_nlm(im, p["sigma"], strength=c)),
        "bm3d": ([1.0], lambda im, p, c: baselines.denoise_bm3d(im, c * p["sigma"])),
    },
    "blur": {
        "unsharp": ([0.25, 0.5, 1.0, 1.5, 2.5],
                    lambda im, p, c: baselines.unsharp_mask(im, radius=p["sigma"], amount=c)),
        "richardson-lucy": ([3, 10, 30],
                            lambda im, p, c: baselines.deconvolve_richardson_lucy(im, p["sigma"], iterations=c)),
    },
    "jpeg": {
        "tv": ([0.01, 0.02, 0.04, 0.08], lambda im, p, c: baselines.denoise_tv(im, sigma=c, strength=1.0)),
        "nlm": ([0.01, 0.02, 0.04], lambda im, p, c: baselines.denoise_nlm(im, sigma=c)),
    },
    "pixelate": {
        "bicubic": ([None], lambda im, p, c: _depixelate(im, p, "bicubic")),
        "lanczos": ([None], lambda im, p, c: _depixelate(im, p, "lanczos")),
    },
    # mixtures: the damage is not told (the command's default is not), so the knob is the sigma itself
    damage.MIXED: {
        "nlm": ([2, 4, 8, 16, 32], lambda im, p, c: baselines.denoise_nlm(im, c / 255)),
    },
} | {kind: {  # holes: every method is given the true mask, as the command is with --mask
    "biharmonic": ([None], lambda im, p, c: baselines.inpaint_biharmonic(im, p["mask"])),
    "telea": ([3, 5, 9], lambda im, p, c: baselines.inpaint_telea(im, p["mask"], radius=c or 5)),  # untuned sweep: 5 px
    "navier-stokes": ([3, 5, 9], lambda im, p, c: baselines.inpaint_navier_stokes(im, p["mask"], radius=c)),
} for kind in damage.HOLE_KINDS}
SLOW = {"bm3d"}  # seconds per image: only with slow=True
# What a model must at least match in every damaged cell: the damaged input, or for holes the fill
# the model starts from (`repair.prefill`) and refines: biharmonic, or in a JPEG file Telea's.
REFERENCE = dict.fromkeys(damage.HOLE_KINDS, "biharmonic")
REFERENCE_JPEG = dict.fromkeys(damage.HOLE_KINDS, "telea")


def _depixelate(im: np.ndarray, p: dict, method: str) -> np.ndarray:
    """A classical upscaling of a mosaic's blocks, told the mosaic: its block side, and for one over part of
    the photo where its box is (the rest is kept)."""
    if "box" not in p:
        return baselines.depixelate(im, p["factor"], method)
    top, left, h, w = p["box"]
    out = im.copy()
    out[top:top + h, left:left + w] = baselines.depixelate(im[top:top + h, left:left + w], p["factor"], method)
    return out


def _cases(kind: str, sources: dict[str, list[torch.Tensor]], seed: int, saved_as: int | None = None,
           part: float | None = None):
    """(source, strength, clean uint8, damaged uint8, what the command is told) for every image and
    SWEEP strength (None = clean): the damage's parameters, and for holes the mask (bool (H, W)).
    `saved_as`: the damaged photo saved as a JPEG of this quality, as most users' photos are, and the
    file's quality told (as the command reads it from the file). `part`: a mosaic over a box of this share
    of each side only (`damage.pixelate`)."""
    extra = {} if part is None else {"part": part}
    for source, images in sources.items():
        for j, x in enumerate(images):
            for strength in [None, *strengths(kind)]:
                d = damage.sweep_damage(kind, x, strength, seed=seed * 100_003 + j, **extra)
                im, told = d.image, dict(d.params)
                if saved_as is not None:
                    im, told["quality"] = damage.jpeg_roundtrip(im, saved_as), saved_as
                if d.mask is not None:
                    told["mask"] = d.mask[0].numpy() > 0.5
                yield source, strength, to_uint8(x), to_uint8(im), told


def strengths(kind: str) -> list:
    """What a sweep of `kind` visits besides the clean image: SWEEP's strengths, or the MIXES' names."""
    return list(damage.MIXES) if kind == damage.MIXED else damage.SWEEP[kind][1]


def reference(kind: str, saved_as: int | None = None) -> str:
    """The method a model of `kind` must at least match in every damaged cell (`REFERENCE`), on
    photos saved as JPEGs of quality `saved_as` (`REFERENCE_JPEG`) or lossless ones."""
    return (REFERENCE if saved_as is None else REFERENCE_JPEG).get(kind, "input")


def tune(kind: str, sources: dict[str, list[torch.Tensor]], slow: bool = False, progress: bool = False,
         saved_as: int | None = None, part: float | None = None) -> dict:
    """{strength: {baseline: knob}}: each baseline's knob that gives the best mean PSNR at that
    strength on `sources` (validation images, never the ones reported on), damaged as `_cases` says."""
    scores: dict = {}
    for _, strength, gt, im, told in tqdm(list(_cases(kind, sources, 7, saved_as, part)), disable=not progress,
                                          desc=f"tune {kind}"):
        if strength is None:
            continue
        for name, (knobs, restore) in _methods(kind, slow).items():
            for c in knobs:
                scores.setdefault(strength, {}).setdefault(name, {}).setdefault(c, []).append(
                    metrics.psnr(restore(im, told, c), gt))
    return {s: {name: max(by_knob, key=lambda c: np.mean(by_knob[c])) for name, by_knob in per.items()}
            for s, per in scores.items()}


def _methods(kind: str, slow: bool) -> dict:
    return {k: v for k, v in BASELINES[kind].items() if slow or k not in SLOW}


def sweep(kind: str, models: dict[str, torch.nn.Module], sources: dict[str, list[torch.Tensor]], run,
          tuned: dict | None = None, slow: bool = False, seed: int = 0, progress: bool = False,
          saved_as: int | None = None, part: float | None = None) -> dict:
    """Mean PSNR (dB, each image capped at 60) and colour shift of the damaged input, each model
    (`run(model, uint8 image, told) -> uint8 image`, what the command does; `told` is what the user's
    file or the user tells it: the damage's parameters, e.g. a JPEG's quality, and for holes the mask)
    and, with `tuned` (see `tune`), each baseline, per source and strength: {source: {strength label:
    {method: {"psnr", "cast"}}}}; the `reference` a model must match is always there. The colour shift
    is the largest per-channel mean error over the cell's images (8-bit levels). `saved_as`: every
    damaged photo saved as a JPEG of this quality; `part`: a mosaic over part of it (`_cases`)."""
    rows: dict = {}
    ref = reference(kind, saved_as)
    for source, strength, gt, im, told in tqdm(list(_cases(kind, sources, seed, saved_as, part)), disable=not progress,
                                               desc=f"sweep {kind}"):
        outs = {"input": im} | {name: run(m, im, told) for name, m in models.items()}
        if strength is not None:
            for name, (_, restore) in _methods(kind, slow).items():
                if tuned is not None or name == ref:
                    outs[name] = restore(im, told, None if tuned is None else tuned[strength][name])
        cell = rows.setdefault(source, {}).setdefault(label(kind, strength), {})
        for name, out in outs.items():
            shift = (out.astype(np.float64) - gt).reshape(-1, 3).mean(0)
            cell.setdefault(name, []).append((min(metrics.psnr(out, gt), 60.0), shift))
    return {source: {s: {name: {"psnr": float(np.mean([v[0] for v in vals])),
                                "cast": float(np.abs(np.mean([v[1] for v in vals], axis=0)).max())}
                         for name, vals in cell.items()} for s, cell in per.items()}
            for source, per in rows.items()}


CLEAN_MIN = 40.0  # dB: a clean photo must come back at least this close
MIN_GAIN, GAIN_BELOW = 0.3, 40.0  # dB: the gain over the input due wherever the input is below GAIN_BELOW
CAST_MAX = 1.0  # 8-bit levels: the largest mean error per channel that is no colour cast


def summary(results: dict, model: str, ref: str = "input") -> dict:
    """What the issue asks of a model, over every cell of a `sweep`, against `ref` (`reference`: the
    damaged input, or for holes the fill the model refines): mean PSNR over all cells (`psnr`, what
    picks a checkpoint) and per source; the worst mean gain over `ref` (`gain_min`, dB); the cells
    short of their due gain (`short`: over the input +0.3 dB where it is below 40 dB, else 0; over a
    fill, 0); the worst PSNR on clean input (`clean_min`); the largest colour shift (`cast_max`, 8-bit
    levels) and the largest beyond both CAST_MAX and `ref`'s own shift (`metrics.cast_added`: heavy
    JPEG or clipped noise shift an input's means by a few levels, which a model cannot always undo,
    but must not add to); and `select` (`metrics.bars_select`), what picks a wide model's checkpoint:
    its mean PSNR when it meets every bar, otherwise minus how far it falls short of them (summed over
    cells, dB and levels), so a checkpoint that never makes a photo worse always wins over one with a
    better mean that does."""
    cells = [(source, s, cell) for source, per in results.items() for s, cell in per.items()]
    out = {"psnr": float(np.mean([c[model]["psnr"] for _, _, c in cells])), "reference": ref}
    for source in results:
        out[f"psnr_{source}"] = float(np.mean([c[model]["psnr"] for src, _, c in cells if src == source]))
    damaged = [(src, s, c[model]["psnr"] - c[ref]["psnr"], c[ref]["psnr"]) for src, s, c in cells if s != "clean"]
    out["gain_min"] = min(g for _, _, g, _ in damaged)
    out["clean_min"] = min(c[model]["psnr"] for _, s, c in cells if s == "clean")
    out["cast_max"] = max(c[model]["cast"] for _, _, c in cells)
    out["cast_added"] = max(metrics.cast_added(c[model]["cast"], c.get(ref, c["input"])["cast"], floor=CAST_MAX)
                            for _, _, c in cells)
    due_gain = MIN_GAIN if ref == "input" else 0.0
    due = {(src, s): due_gain if inp < GAIN_BELOW else 0.0 for src, s, _, inp in damaged}
    out["short"] = [f"{src} {s}" for src, s, g, _ in damaged if g < due[src, s]]
    shortfall = sum(max(0.0, due[src, s] - g) for src, s, g, _ in damaged)
    # a clean photo must come back at CLEAN_MIN, or as close as it came in (a JPEG-saved sweep's clean file)
    shortfall += max(max(0.0, min(CLEAN_MIN, c["input"]["psnr"]) - c[model]["psnr"])
                     for _, s, c in cells if s == "clean")
    shortfall += out["cast_added"]
    out["select"] = metrics.bars_select(out["psnr"], shortfall)
    return out


UPSCALE_QUALITIES = [None, 90, 75, 50]  # the small input as a lossless file, or a JPEG of this quality


def upscale_sweep(models: dict[str, torch.nn.Module], sources: dict[str, list[torch.Tensor]], scale: int, run) -> dict:
    """x`scale` super-resolution of faces from each source, the small input made as users make it
    (antialiased bicubic downscale, then saved losslessly or as a JPEG of each UPSCALE_QUALITIES):
    mean PSNR (dB) of bicubic, Lanczos and each model (`run(model, small (3, h, w) tensor) -> uint8`)
    against the original, {source: {"png" | "q75": {method: psnr}}}."""
    from PIL import Image

    out: dict = {}
    for source, images in sources.items():
        for x in images:
            _, h, w = x.shape
            gt = to_uint8(x[:, :h // scale * scale, :w // scale * scale])
            small = Image.fromarray(gt).resize((w // scale, h // scale), Image.BICUBIC, reducing_gap=None)
            for q in UPSCALE_QUALITIES:
                t = to_tensor(small) if q is None else damage.jpeg_roundtrip(to_tensor(small), q)
                lr = to_uint8(t)
                outs = {"bicubic": baselines.upscale_bicubic(lr, scale),
                        "lanczos": baselines.upscale_lanczos(lr, scale)}
                outs |= {name: run(m, t) for name, m in models.items()}
                cell = out.setdefault(source, {}).setdefault("png" if q is None else f"q{q}", {})
                for name, im in outs.items():
                    cell.setdefault(name, []).append(metrics.psnr(im, gt))
    return {src: {k: {m: round(float(np.mean(v)), 2) for m, v in cell.items()} for k, cell in per.items()}
            for src, per in out.items()}


def label(kind: str, strength) -> str:
    """How a strength is written in tables: 'clean', 'sigma 10' (noise on the 8-bit scale), 'q 50', a
    mixture's name."""
    if strength is None:
        return "clean"
    if kind == damage.MIXED:
        return strength
    name = damage.SWEEP[kind][0]
    if kind == "noise":
        return f"sigma {strength * 255:g}"
    return {"quality": "q", "factor": "x"}.get(name, name) + f" {strength:g}"


def markdown(results: dict, model: str) -> str:
    """One table: a row per strength, per source the input, the model and the best tuned baseline."""
    sources = list(results)
    head = "| strength | " + " | ".join(f"{s} input | {s} {model} | {s} best classical" for s in sources) + " |"
    lines = [head, "|---|" + "---|---|---|" * len(sources)]
    for s in results[sources[0]]:
        cells = []
        for source in sources:
            cell = results[source][s]
            classical = {k: v["psnr"] for k, v in cell.items() if k != "input" and k in _all_baselines()}
            best = max(classical, key=classical.get) if classical else None
            mark = "**" if best and cell[model]["psnr"] >= classical[best] else ""
            cells += [f"{cell['input']['psnr']:.2f}", f"{mark}{cell[model]['psnr']:.2f}{mark}",
                      f"{classical[best]:.2f} ({best})" if best else "-"]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _all_baselines() -> set:
    return {name for per in BASELINES.values() for name in per}


def figure(kind: str, results: dict, path=None):
    """PSNR against strength, one panel per source, one line per method (the input dashed)."""
    import matplotlib.pyplot as plt

    sources = list(results)
    fig, axes = plt.subplots(1, len(sources), figsize=(4.2 * len(sources), 3.3), squeeze=False)
    for ax, source in zip(axes[0], sources):
        per = results[source]
        labels = [s for s in per if s != "clean"]
        for name in per[labels[0]]:
            ys = [per[s][name]["psnr"] for s in labels]
            ax.plot(range(len(labels)), ys, marker=".", label=name, linestyle="--" if name == "input" else "-")
        ax.set_xticks(range(len(labels)), labels, rotation=45, fontsize=7)
        ax.set_title(source, fontsize=9)
        ax.set_ylabel("PSNR (dB)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{kind}: PSNR against strength", fontsize=10)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
