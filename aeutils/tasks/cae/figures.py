"""The notebooks' figures and tables: test reconstructions beside JPEG 2000, the checkerboard comparison
of experiment 1's two upsamplers, an experiment's hyperparameters per profile and the test results."""
from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from aeutils import config, metrics
from aeutils.benchmark.classical import classical_codecs
from aeutils.images import to_image, to_tensor, to_uint8
from aeutils.tasks.cae.data import test_sets
from aeutils.tasks.cae.evaluate import latent_bpp, quality, reconstruct
from aeutils.tasks.cae.hparams import ORIGINAL, Hparams, hparams
from aeutils.tasks.cae.runs import load_experiment, load_results


def figure_path(name: str, profile: str) -> Path:
    """resources/experiments/<name>.png for cpu/paper; runs/<profile>/figures/ in smoke."""
    folder = config.results_dir("experiments", profile, smoke=config.RUNS_DIR / profile / "figures")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.png"


def _first_test_set(hp: Hparams, profile: str) -> tuple[str, list[torch.Tensor]]:
    sets = test_sets(replace(hp, test_dataset_size=8 if profile != "smoke" else hp.test_dataset_size), profile)
    name = "voxceleb2-test" if "voxceleb2-test" in sets else next(iter(sets))
    return name, sets[name]


def reconstruction_figure(number: int, profile: str | None = None, n: int = 4):
    """Test images, the experiment's reconstructions, their error maps (|x - x_hat| x 5) and
    JPEG 2000 at the same bpp, written to figure_path(experimentN). Returns the figure."""
    import matplotlib.pyplot as plt

    profile = config.get_profile(profile)
    hp = hparams(number, profile)
    model = load_experiment(number, profile)
    set_name, images = _first_test_set(hp, profile)
    images = images[:n]
    recons = reconstruct(model, images)
    bpp = latent_bpp(hp, *images[0].shape[-2:])[0]
    j2k = next(c for c in classical_codecs() if c.name == "jpeg2000")
    rows = [("original", images), (f"{hp.name} ({bpp:.2f} bpp)", recons),
            ("|error| x 5", [((x - y).abs() * 5) for x, y in zip(images, recons)]),
            (f"JPEG 2000 at {min(bpp, 24):.2f} bpp", [to_tensor(j2k.decode(j2k.encode(to_image(x), min(bpp, 24.0))))
                                                      for x in images])]
    fig, axes = plt.subplots(len(rows), len(images), figsize=(2.2 * len(images), 2.3 * len(rows)), squeeze=False)
    for r, (label, ims) in enumerate(rows):
        for c, im in enumerate(ims):
            ax = axes[r][c]
            ax.imshow(to_uint8(im))
            ax.set_xticks([]), ax.set_yticks([])
            if r > 0 and r != 2:
                ax.set_xlabel(f"{metrics.psnr(to_uint8(images[c]), to_uint8(im)):.1f} dB", fontsize=8)
        axes[r][0].set_ylabel(label, fontsize=8)
    fig.suptitle(f"{hp.name}, {profile} profile: {set_name}", fontsize=10)
    fig.tight_layout()
    fig.savefig(figure_path(hp.name, profile), dpi=100)
    return fig


def stride_periodicity(original: torch.Tensor, recon: torch.Tensor, stride: int = 8) -> float:
    """How periodic the reconstruction error is on the decoder's stride grid: the mean error power
    at the spatial frequencies that repeat every `stride` pixels (multiples of 1/stride cycles,
    DC excluded) over the mean error power at all frequencies. About 1 for noise-like error; well
    above 1 when the upsamplers leave a checkerboard or grid pattern."""
    err = (recon.clamp(0, 1) - original).mean(0).double()
    power = torch.fft.fft2(err - err.mean()).abs() ** 2
    h, w = err.shape
    grid = torch.zeros_like(power, dtype=torch.bool)
    grid[:: h // stride if h % stride == 0 else h, :] = True
    grid[:, :: w // stride if w % stride == 0 else w] = True
    grid[0, 0] = False
    return float(power[grid].mean() / power.mean())


def checkerboard_figure(profile: str | None = None, n: int = 3, zoom: int = 56):
    """Experiment 1's claim, checked: the same model with a sub-pixel and with a transposed-
    convolution decoder, side by side on zoomed test crops, with their error maps and the
    stride-periodicity of the error (see `stride_periodicity`). Returns (figure, numbers)."""
    import matplotlib.pyplot as plt

    profile = config.get_profile(profile)
    hp = hparams(1, profile)
    models = {u: load_experiment(1, profile, upsample=u) for u in ("subpixel", "transposed")}
    set_name, images = _first_test_set(hp, profile)
    numbers = {}
    recons = {u: reconstruct(m, images) for u, m in models.items()}
    for u in models:
        numbers[u] = {"psnr": quality(images, recons[u], with_ssim=False)["psnr"],
                      "stride_periodicity": float(np.mean([stride_periodicity(x, y)
                                                           for x, y in zip(images, recons[u])]))}
    images, z = images[:n], min(zoom, *images[0].shape[-2:])
    cols = [("original", images)] + [(f"{u} decoder", recons[u][:n]) for u in models] + \
           [(f"{u} |error| x 8", [(x - y).abs() * 8 for x, y in zip(images, recons[u])]) for u in models]
    fig, axes = plt.subplots(len(images), len(cols), figsize=(2.3 * len(cols), 2.3 * len(images)), squeeze=False)
    for c, (label, ims) in enumerate(cols):
        for r, im in enumerate(ims):
            h, w = im.shape[-2:]
            top, left = (h - z) // 2, (w - z) // 2  # the middle of the face: eyes, nose
            ax = axes[r][c]
            ax.imshow(to_uint8(im[:, top:top + z, left:left + z]), interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
        axes[0][c].set_title(label, fontsize=9)
    fig.suptitle(f"Sub-pixel vs transposed-convolution decoder (experiment 1, {profile} profile, {set_name}); "
                 + ", ".join(f"{u}: {v['psnr']:.2f} dB, periodicity {v['stride_periodicity']:.2f}"
                             for u, v in numbers.items()), fontsize=8)
    fig.tight_layout()
    path = figure_path("checkerboard", profile)
    fig.savefig(path, dpi=100)
    path.with_suffix(".json").write_text(json.dumps({"test_set": set_name, "images": len(recons["subpixel"]),
                                                     "numbers": numbers}, indent=2))
    return fig, numbers


def hparams_table(number: int) -> str:
    """A markdown table of experiment `number`'s hyperparameters in every profile (`paper`: the original's
    table), then what the original published for it: the same text whatever the active profile."""
    columns = {p: asdict(hparams(number, p)) for p in ("paper", "cpu", "smoke")}

    def shown(key: str, value) -> str:
        if value is None and key == "train_dataset_size":
            return "all"
        if isinstance(value, tuple):
            return "+".join(value)
        return f"{value:g}" if isinstance(value, float) else str(value)

    lines = ["| hparam | paper (the original's table) | cpu | smoke |", "|---|---|---|---|"]
    lines += [f"| {key} | " + " | ".join(f"`{shown(key, columns[p][key])}`" for p in columns) + " |"
              for key in columns["paper"] if key != "number"]
    return "\n".join(lines) + f"\n\nThe original published: {ORIGINAL[number]['text']}."


def results_table(numbers: list[int], profile: str | None = None) -> str:
    """A markdown table of the experiments' test results beside JPEG 2000 and the original's number."""
    profile = config.get_profile(profile)
    lines = ["| experiment | test set | steps | PSNR (dB) | SSIM | bpp | ratio "
             "| JPEG 2000 at that bpp: PSNR / SSIM | original |",
             "|---|---|---|---|---|---|---|---|---|"]
    for n in numbers:
        res = load_results(n, profile)
        for set_name, t in res["test"].items():
            j = t["jpeg2000"]
            lines.append(f"| {n} | {set_name} ({t['images']} x {t['size']}) | {res['steps']} | {t['psnr']:.2f} | "
                         f"{t['ssim']:.4f} | {t['bpp']:.3f} | {t['ratio']:.2f} | {j['psnr']:.2f} / {j['ssim']:.4f} "
                         f"({j['bpp']:.3f} bpp) | {res['original']['text']} |")
    return "\n".join(lines)
