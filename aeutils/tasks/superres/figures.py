"""The figures and tables of notebook 11, drawn from saved runs (their TensorBoard logs) and results."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from aeutils import tb


def plot_curves(runs: dict[str, Path], keys=("val/psnr", "val/grad_ratio", "train/pixel_l1")):
    """Validation / training curves of several runs side by side (one panel per key)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.2))
    for ax, key in zip(np.atleast_1d(axes), keys):
        for label, run_dir in runs.items():
            steps, values = tb.read_scalars(run_dir, key)
            if steps:
                ax.plot(steps, values, label=label, marker="o" if len(steps) < 20 else None)
        ax.set_title(key)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].legend()
    fig.tight_layout()
    return fig


def plot_samples_by_step(run_dir: Path, rows: int = 4, title: str = ""):
    """The logged validation samples (LR / SR / HR rows) at a few steps, stacked: training at a glance."""
    import matplotlib.pyplot as plt

    grids = tb.read_images(run_dir, "val/lr_sr_hr")
    if len(grids) > rows:
        grids = [grids[round(i * (len(grids) - 1) / (rows - 1))] for i in range(rows)]
    h = grids[-1][1].shape[0] // 3  # each grid: rows of input (nearest), output, ground truth
    strips = [(f"step {step}", grid[h:2 * h]) for step, grid in grids] + [("ground truth", grids[-1][1][2 * h:])]
    fig, axes = plt.subplots(len(strips), 1, figsize=(12, 1.6 * len(strips) + 0.5), squeeze=False)
    for ax, (label, strip) in zip(axes[:, 0], strips):
        ax.imshow(strip)
        ax.set_ylabel(label, rotation=0, ha="right", va="center")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title or f"{Path(run_dir).name}: validation samples by step")
    fig.tight_layout()
    return fig


def plot_comparison(examples: list[dict], scale: int, methods=("bicubic", "srresnet", "srgan"), crop: float = 0.5):
    """LR input / bicubic / SRResNet / SRGAN / ground truth side by side, one row per image; the
    right half of each row zooms into the central `crop` fraction, where detail differs."""
    import matplotlib.pyplot as plt

    cols = ["lr", *[m for m in methods if m in examples[0]], "hr"]
    names = {"lr": f"input ({examples[0]['lr'].shape[1]} px)", "hr": "ground truth", "srresnet": "SRResNet",
             "srgan": "SRGAN", "bicubic": "bicubic", "lanczos": "Lanczos"}
    fig, axes = plt.subplots(2 * len(examples), len(cols), figsize=(2.2 * len(cols), 4.4 * len(examples)),
                             squeeze=False)
    for r, ex in enumerate(examples):
        for c, key in enumerate(cols):
            im = ex[key]
            if key == "lr":
                im = np.asarray(Image.fromarray(im).resize((ex["hr"].shape[1], ex["hr"].shape[0]), Image.NEAREST))
            h, w = im.shape[:2]
            dh, dw = int(h * (1 - crop) / 2), int(w * (1 - crop) / 2)
            for k, shown in enumerate((im, im[dh:h - dh, dw:w - dw])):
                ax = axes[2 * r + k, c]
                ax.imshow(shown, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0 and k == 0:
                    ax.set_title(names.get(key, key))
    fig.suptitle(f"x{scale} super-resolution of CelebA test faces (second row of each: centre zoom)")
    fig.tight_layout()
    return fig


def results_table(results: dict) -> str:
    """The measured numbers of one scale as a markdown table."""
    src = results["feature_source"]
    lines = [f"x{results['scale']}, {results['images']} images ({results['data']}), {results['crop']} crops",
             "", f"| method | PSNR (dB) | SSIM | grad_ratio | feature_dist ({src}) |", "|---|---|---|---|---|"]
    for name, m in results["methods"].items():
        fd = f"{m['feature_dist']:.4f}" if "feature_dist" in m else "-"
        lines.append(f"| {name} | {m['psnr']:.2f} | {m['ssim']:.4f} | {m['grad_ratio']:.3f} | {fd} |")
    return "\n".join(lines)
