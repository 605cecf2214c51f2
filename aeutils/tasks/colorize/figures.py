"""The notebook's and the model cards' tables and figures, drawn from measured results (nothing is
re-run here), and the gray / prediction / truth grid that training logs and the notebook shows."""
from __future__ import annotations

from pathlib import Path

import torch

from aeutils import tb
from aeutils.images import to_uint8
from aeutils.tasks.colorize.model import WORK_SIDE, colorize_tensor


def comparison_grid(colorizers: dict, images, work_side: int | None = WORK_SIDE) -> tuple[list[str], torch.Tensor]:
    """Rows gray input / each colorizer / ground truth for a few images: (names, (R, N, 3, H, W))."""
    names = ["gray input"] + list(colorizers) + ["ground truth"]
    rows = []
    with torch.no_grad():
        batch = torch.stack(list(images))
        rows.append(colorize_tensor(None, batch))
        for m in colorizers.values():
            if isinstance(m, torch.nn.Module):
                m.eval()
                rows.append(colorize_tensor(m, batch, work_side))
            else:
                rows.append(colorize_tensor(None, batch, const_ab=None if isinstance(m, str) else m))
        rows.append(batch)
    return names, torch.stack(rows)


METRIC_COLUMNS = [("ab_rmse", "ab RMSE", 2), ("psnr", "PSNR (dB)", 2), ("auc", "AuC", 3),
                  ("colorfulness", "colourfulness", 1), ("colorfulness_gap", "gap to truth", 1)]


def results_table(results: dict[str, dict]) -> str:
    """A markdown table of `evaluate`'s output (one row per colorizer)."""
    head = "| | " + " | ".join(label for _, label, _ in METRIC_COLUMNS) + " |"
    lines = [head, "|---" * (len(METRIC_COLUMNS) + 1) + "|"]
    for name, r in results.items():
        lines.append(f"| {name} | " + " | ".join(f"{r[k]:.{d}f}" for k, _, d in METRIC_COLUMNS) + " |")
    return "\n".join(lines)


def sources_table(per_source: dict[str, dict]) -> str:
    """A markdown table of `against_gray`: one row per source."""
    lines = ["| source | images | ab RMSE gray | ab RMSE model | ratio | PSNR gray | PSNR model | worse than gray "
             "| mean RGB error model | gray |", "|---" * 10 + "|"]
    for source, r in per_source.items():
        lines.append(f"| {source} | {r['images']} | {r['ab_rmse_gray']:.2f} | {r['ab_rmse']:.2f} | {r['ratio']:.2f} "
                     f"| {r['psnr_gray']:.2f} | {r['psnr']:.2f} | {r['worse']} of {r['images']} "
                     f"| {' / '.join(f'{v:+.1f}' for v in r['rgb_shift'])} "
                     f"| {' / '.join(f'{v:+.1f}' for v in r['rgb_shift_gray'])} |")
    return "\n".join(lines)


def plot_rows(names: list[str], grid: torch.Tensor, title: str | None = None):
    """`comparison_grid` output as a figure: one row per name, one column per image."""
    import matplotlib.pyplot as plt

    rows, cols = grid.shape[:2]
    h, w = grid.shape[-2:]
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols * w / h, 1.35 * rows), squeeze=False)
    for r in range(rows):
        for c in range(cols):
            ax = axes[r, c]
            ax.imshow(to_uint8(grid[r, c]))
            ax.set_xticks([]), ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(names[r], rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_curves(runs: dict[str, Path], keys=("val/auc", "val/ab_rmse", "val/colorfulness"),
                truth: float | None = None):
    """Validation curves of several runs side by side; `truth`: the validation images' colourfulness."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.2))
    for name, run in runs.items():
        for ax, key in zip(axes, keys):
            steps, values = tb.read_scalars(run, key)
            if steps:
                ax.plot(steps, values, marker=".", label=name)
    for ax, key in zip(axes, keys):
        ax.set_title(key.split("/")[-1]), ax.set_xlabel("step"), ax.grid(alpha=0.3)
        if key.endswith("colorfulness") and truth is not None:
            ax.axhline(truth, color="k", ls="--", lw=1, label="ground truth")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig
