"""Measuring repair models: every model and every classical baseline on the same fixed whole images
per damage, and the results as a markdown table (the notebook's and the model cards') or JSON."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from torch import nn
from tqdm.auto import tqdm

from aeutils import metrics
from aeutils.benchmark import baselines
from aeutils.images import to_uint8
from aeutils.tasks.repair.data import fixed_cases
from aeutils.tasks.repair.infer import repair_known


def _scores(out: np.ndarray, gt: np.ndarray, mask: np.ndarray | None) -> dict:
    s = {"psnr": metrics.psnr(out, gt), "ssim": metrics.ssim(out, gt)}
    if mask is not None and mask.any():
        s["psnr_hole"] = metrics.psnr(out[mask], gt[mask])
    return s


def _mean(rows: list[dict]) -> dict:
    return {k: round(float(np.mean([r[k] for r in rows])), 3) for k in rows[0]} | {"n": len(rows)}


def evaluate(models: dict[str, nn.Module | dict[str, nn.Module]], kinds: list[str], split: str, profile: str,
             n: int, with_baselines: bool = True, slow_baselines: bool = False, examples: int = 0,
             progress: bool = False) -> dict:
    """PSNR / SSIM (and PSNR inside the holes) of every model and every classical baseline, per damage,
    on the same fixed whole images of `split` (never resized; 178x218 for CelebA).

    `models`: name -> a model for every kind, or a {kind: model} dict for models trained per kind.
    Returns {"table": {kind: {method: scores}}, "best_baseline": {kind: method}, "examples": {kind:
    {"clean", "damaged", method: uint8 image, ...}} for the first `examples` images}."""
    cases = fixed_cases(split, profile, kinds, n)
    rows: dict[str, dict[str, list]] = {k: {} for k in kinds}
    shown: dict[str, list] = {k: [] for k in kinds}
    for x, d in tqdm(cases, disable=not progress, desc=f"evaluate {split}"):
        gt, im = to_uint8(x), to_uint8(d.image)
        mask = None if d.mask is None else d.mask[0].numpy() > 0.5
        outs = {}
        for name, entry in models.items():
            model = entry.get(d.kind) if isinstance(entry, dict) else entry
            if model is not None:
                outs[name] = repair_known(model, im, d.params, mask)
        if with_baselines:
            for method in baselines.FOR_DAMAGE[d.kind]:
                if method in baselines.SLOW and not slow_baselines:
                    continue
                outs[method] = baselines.restore(method, d.kind, im, mask, d.params)
        for name, out in outs.items():
            rows[d.kind].setdefault(name, []).append(_scores(out, gt, mask))
        if len(shown[d.kind]) < examples:
            shown[d.kind].append({"clean": gt, "damaged": im, **outs})
    table = {k: {m: _mean(r) for m, r in v.items()} for k, v in rows.items()}
    best = {}
    for k, v in table.items():
        classical = {m: s["psnr"] for m, s in v.items() if m in baselines.FOR_DAMAGE[k]}
        if classical:
            best[k] = max(classical, key=classical.get)
    return {"split": split, "profile": profile, "images": n, "table": table, "best_baseline": best,
            "examples": shown}


def markdown_table(results: dict, models: list[str], key: str = "psnr") -> str:
    """One row per damage: each model's `key` beside the best classical baseline's (and its name),
    and the first model's margin over it (positive = the model is ahead). The best baseline is the
    one with the highest whole-image PSNR."""
    head = "| damage | " + " | ".join(models) + f" | best classical baseline | {models[0]} - best |"
    lines = [head, "|" + "---|" * (len(models) + 3)]
    fmt = ".3f" if key == "ssim" else ".2f"
    for kind, row in results["table"].items():
        if not any(key in scores for scores in row.values()):
            continue  # e.g. PSNR inside holes for a damage without holes
        b = results["best_baseline"].get(kind)
        cells = [f"{row[m][key]:{fmt}}" if m in row and key in row[m] else "-" for m in models]
        base = f"{row[b][key]:{fmt}} ({b})" if b and key in row[b] else "-"
        m = models[0]
        delta = f"{row[m][key] - row[b][key]:+{fmt}}" if m in row and b and key in row[m] and key in row[b] else "-"
        lines.append(f"| {kind} | " + " | ".join(cells) + f" | {base} | {delta} |")
    return "\n".join(lines)


def save_results(results: dict, path: Path, **extra) -> None:
    """Write the tables (not the example images) as JSON."""
    keep = {k: v for k, v in results.items() if k != "examples"}
    path.write_text(json.dumps(dict(keep, **extra), indent=2))
