"""The notebook's figures of repair: the damages on one face, each method's output beside the ground
truth, and validation curves read back from TensorBoard."""
from __future__ import annotations

from pathlib import Path

import torch

from aeutils import metrics, tb
from aeutils.datasets import damage
from aeutils.images import to_uint8

BEST = "best baseline"  # an `example_figure` column: each damage's best classical method


def example_figure(results: dict, methods: list[str], path: Path | None = None, scale: float = 1.4):
    """Ground truth, damaged input and each method's output side by side, one row per damage
    (the first example image of each); PSNR of each panel against the ground truth in its title.
    `methods` may include BEST, which shows the damage's best classical baseline."""
    import matplotlib.pyplot as plt

    kinds = [k for k, ex in results["examples"].items() if ex]
    cols = ["clean", "damaged", *methods]
    fig, axes = plt.subplots(len(kinds), len(cols), figsize=(scale * len(cols), scale * 1.35 * len(kinds)),
                             squeeze=False)
    for r, kind in enumerate(kinds):
        ex = results["examples"][kind][0]
        for c, col in enumerate(cols):
            name = results["best_baseline"].get(kind) if col == BEST else col
            ax = axes[r, c]
            ax.axis("off")
            if name not in ex:
                continue
            ax.imshow(ex[name])
            if col == "clean":
                ax.set_title("ground truth", fontsize=7)
            else:
                label = {"damaged": kind, BEST: f"best classical: {name}"}.get(col, col)
                ax.set_title(f"{label}\n{metrics.psnr(ex[name], ex['clean']):.1f} dB", fontsize=7)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def damage_figure(x: torch.Tensor, seed: int = 0, path: Path | None = None):
    """One face under every damage kind (the seeded transforms of `aeutils.datasets.damage`)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(damage.KINDS) + 1, figsize=(1.5 * (len(damage.KINDS) + 1), 2.1))
    panels = [("clean", x)] + [(k, damage.apply(k, x, seed=seed).image) for k in damage.KINDS]
    for ax, (title, im) in zip(axes, panels):
        ax.imshow(to_uint8(im))
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def val_curves(runs: dict[str, Path], key: str = "val/psnr", path: Path | None = None):
    """Validation PSNR against step for each run, read back from its TensorBoard events."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    for label, run_dir in runs.items():
        steps, values = tb.read_scalars(run_dir, key)
        if steps:
            ax.plot(steps, values, marker=".", label=label)
    ax.set_xlabel("step")
    ax.set_ylabel(f"{key} (dB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
