"""Measuring colorizers on the same images, all on their 8-bit RGB outputs: ab RMSE, PSNR, AuC of the
per-pixel ab error (Zhang et al. 2016) and colourfulness, for models and the "gray" / "mean ab" baselines;
and, for photos from any source (issue #16), a model against leaving the photo gray (`against_gray`) and
whether it meets the bars (`select_score`: never worse than gray, no colour cast)."""
from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from aeutils import metrics
from aeutils.color import rgb_to_lab
from aeutils.images import to_uint8
from aeutils.models.colorize import Colorizer
from aeutils.tasks.colorize.model import WORK_SIDE, colorize_tensor


def image_metrics(pred_u8: np.ndarray, true_u8: np.ndarray) -> dict[str, float]:
    """Colorization metrics of one 8-bit RGB output (H, W, 3) against its ground truth.

    ab_rmse: root mean square of the per-pixel Euclidean ab error (Lab units); auc: area under the
    curve of the fraction of pixels within an ab distance t, t = 0..150, normalised to [0, 1]
    (Zhang et al. 2016); psnr on RGB; colourfulness (Hasler and Suesstrunk) of the output and the
    truth; l_dev: the largest change of L against the truth's (the input's) L; shift_r/g/b: the mean
    error of each RGB channel (8-bit levels), a colour cast where it is far from zero."""
    p = rgb_to_lab(torch.from_numpy(pred_u8).permute(2, 0, 1).double() / 255)
    t = rgb_to_lab(torch.from_numpy(true_u8).permute(2, 0, 1).double() / 255)
    d = (p[1:] - t[1:]).norm(dim=0).flatten().numpy()
    shift = (pred_u8 - true_u8.astype(np.float64)).reshape(-1, 3).mean(0)
    thresholds = np.arange(0, 151)
    within = np.searchsorted(np.sort(d), thresholds, side="right") / d.size
    return {
        "ab_rmse": float(np.sqrt(np.mean(d ** 2))),
        "psnr": metrics.psnr(pred_u8, true_u8),
        "auc": float(np.trapezoid(within, thresholds) / 150),
        "colorfulness": metrics.colorfulness(pred_u8),
        "colorfulness_gt": metrics.colorfulness(true_u8),
        "l_dev": float((p[0] - t[0]).abs().max()),
        **{f"shift_{c}": float(v) for c, v in zip("rgb", shift)},
    }


def _summarise(rows: list[dict]) -> dict[str, float]:
    out = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "l_dev"}
    out["colorfulness_gap"] = out["colorfulness"] - out["colorfulness_gt"]
    out["l_dev_max"] = float(max(r["l_dev"] for r in rows))
    out["n_images"] = len(rows)
    return out


def evaluate(colorizers: dict, images, work_side: int | None = WORK_SIDE, progress: bool = False,
             batch: int = 32) -> dict[str, dict]:
    """Metrics averaged over images for each entry of `colorizers`: a Colorizer, "gray", or a
    (2,) tensor of constant ab (the "mean ab" baseline). `images`: a sequence of RGB tensors (3, H, W);
    consecutive images of one size are colorized as a batch."""
    rows = evaluate_images(colorizers, images, work_side, progress, batch)
    return {name: _summarise(r) for name, r in rows.items()}


def evaluate_images(colorizers: dict, images, work_side: int | None = WORK_SIDE, progress: bool = False,
                    batch: int = 32) -> dict[str, list[dict]]:
    """`evaluate` per image: {name: [image_metrics of each image]}."""
    images = list(images)
    groups, start = [], 0
    while start < len(images):
        end = start + 1
        while end < len(images) and end - start < batch and images[end].shape == images[start].shape:
            end += 1
        groups.append(torch.stack(images[start:end]))
        start = end
    rows: dict[str, list] = {name: [] for name in colorizers}
    for m in colorizers.values():
        if isinstance(m, torch.nn.Module):
            m.eval()
    with torch.no_grad():
        for x in tqdm(groups, desc="evaluate", disable=not progress):
            truth = [to_uint8(t) for t in x]
            for name, m in colorizers.items():
                if isinstance(m, torch.nn.Module):
                    y = colorize_tensor(m, x, work_side)
                else:
                    y = colorize_tensor(None, x, const_ab=None if isinstance(m, str) else m)
                rows[name] += [image_metrics(to_uint8(yi), ti) for yi, ti in zip(y, truth)]
    return rows


CAST_MAX = 2.0  # 8-bit levels a model's mean colour may pass the truth's by (the repair models' bar)


def against_gray(model: Colorizer, sources: dict[str, list[torch.Tensor]]) -> dict[str, dict]:
    """The model against leaving the photo gray (what a user has without it), per source of
    {source: [RGB (3, H, W)]} (`photos.validation_faces` / `test_faces`): mean ab RMSE of both and
    their ratio, mean PSNR of both, the images the model makes worse than gray (lower PSNR), AuC,
    colourfulness, and the mean RGB error of both (the colour cast, 8-bit levels)."""
    out = {}
    for source, images in sources.items():
        rows = evaluate_images({"gray": "gray", "model": model}, images)
        g, m = _summarise(rows["gray"]), _summarise(rows["model"])
        out[source] = {
            "ab_rmse_gray": g["ab_rmse"], "ab_rmse": m["ab_rmse"], "ratio": m["ab_rmse"] / g["ab_rmse"],
            "psnr_gray": g["psnr"], "psnr": m["psnr"],
            "worse": sum(a["psnr"] < b["psnr"] for a, b in zip(rows["model"], rows["gray"])),
            "auc": m["auc"], "colourfulness": m["colorfulness"], "colourfulness_gt": m["colorfulness_gt"],
            "rgb_shift": [round(m[f"shift_{c}"], 2) for c in "rgb"],
            "rgb_shift_gray": [round(g[f"shift_{c}"], 2) for c in "rgb"], "images": len(images)}
    return out


def select_score(per_source: dict[str, dict]) -> dict[str, float]:
    """What picks a photo-trained checkpoint and the chroma factor, from `against_gray`: `gain`, the
    mean over sources of the ab RMSE saved against gray (1 - ratio); `cast_added`, the largest
    `metrics.cast_added` of a channel of a source, gray being the reference (anywhere between gray's
    mean error and none is less colour than the truth, CAST_MAX past either is a colour the photo does
    not have); `worse`, the fraction of images worse than gray; `select` (`metrics.bars_select`):
    `gain` when no source is worse than gray on average and no cast is added, otherwise minus how far
    it falls short (ratio above 1 plus levels of cast), so a checkpoint that meets the bars always
    wins over one that does not."""
    rs = per_source.values()
    cast = max(metrics.cast_added(a, b, margin=CAST_MAX) for r in rs
               for a, b in zip(r["rgb_shift"], r["rgb_shift_gray"]))
    shortfall = sum(max(0.0, r["ratio"] - 1) for r in rs) + cast
    gain = float(np.mean([1 - r["ratio"] for r in rs]))
    return {"gain": gain, "cast_added": cast, "worse": sum(r["worse"] for r in rs) / sum(r["images"] for r in rs),
            "select": metrics.bars_select(gain, shortfall)}
