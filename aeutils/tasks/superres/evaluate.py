"""Measuring upscalers on the same images: PSNR, SSIM and two sharpness stand-ins, for validation
during training and for the test table beside bicubic and Lanczos (`evaluate_test`).

LPIPS needs downloaded weights, so the sharpness of the results is measured here by two labelled
stand-ins (see `sharpness_metrics`).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
from tqdm.auto import tqdm

from aeutils import checkpoint, config, metrics, tb
from aeutils.datasets import sources
from aeutils.images import luma, to_uint8
from aeutils.models.sr import SRResNet
from aeutils.tasks.superres.data import downscale, eval_images
from aeutils.tasks.superres.generators import FINAL_CHECKPOINT, forward, load_generator_weights, mark, upscale_tiled
from aeutils.tasks.superres.hparams import DEVICE_NOTE, LR_NOTE, NAME, VARIANTS, SRConfig
from aeutils.tasks.superres.losses import feature_distance, feature_encoder


def gradient_magnitude(im_u8: np.ndarray) -> float:
    """Mean gradient magnitude (forward differences) of the luma of an 8-bit RGB image."""
    y = luma(im_u8)
    gx, gy = np.diff(y, axis=1)[:-1, :], np.diff(y, axis=0)[:, :-1]
    return float(np.sqrt(gx ** 2 + gy ** 2).mean())


def sharpness_metrics(out_u8: np.ndarray, ref_u8: np.ndarray, encoder: nn.Module | None) -> dict:
    """The two labelled stand-ins for LPIPS (which needs downloaded weights):
    - grad_ratio: mean luma gradient magnitude of the output / that of the ground truth (1 = as much
      edge energy as the original; below 1 blurrier; above 1 more edges than the original: noise or
      invented texture). It says nothing about whether the edges are the right ones.
    - feature_dist: `feature_distance` in the space of the perceptual encoder (lower is closer).
      When the encoder is the SRGAN's own training loss network this favours the SRGAN by design."""
    m = {"grad_ratio": gradient_magnitude(out_u8) / max(gradient_magnitude(ref_u8), 1e-8)}
    if encoder is not None:
        a = torch.from_numpy(np.array(out_u8)).permute(2, 0, 1)[None].float() / 255
        b = torch.from_numpy(np.array(ref_u8)).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            m["feature_dist"] = float(feature_distance(encoder, a, b))
    return m


def measure(methods: dict[str, Callable[[torch.Tensor], torch.Tensor]], hrs: list[torch.Tensor], scale: int,
            encoder: nn.Module | None = None, keep: int = 0, progress: bool = False) -> tuple[dict, list]:
    """Mean PSNR, SSIM (8-bit RGB, per image then averaged) and the sharpness stand-ins of each
    upscaling method on the same images. A method maps an LR tensor (3, h, w) to (3, s*h, s*w).

    Returns ({method: {metric: mean}}, examples): examples holds, for the first `keep` images,
    {"lr", "hr", <method>: uint8 arrays} for figures."""
    sums: dict[str, dict[str, float]] = {name: {} for name in methods}
    examples = []
    for i, hr in enumerate(tqdm(hrs, desc=f"x{scale}", disable=not progress)):
        lr = downscale(hr, scale)
        ref = to_uint8(hr)
        ex = {"lr": to_uint8(lr), "hr": ref}
        for name, fn in methods.items():
            with torch.no_grad():
                out = to_uint8(fn(lr))
            m = {"psnr": metrics.psnr(ref, out), "ssim": metrics.ssim(ref, out), **sharpness_metrics(out, ref, encoder)}
            for k, v in m.items():
                sums[name][k] = sums[name].get(k, 0.0) + v
            ex[name] = out
        if i < keep:
            examples.append(ex)
    return {name: {k: v / len(hrs) for k, v in s.items()} for name, s in sums.items()}, examples


def classical_methods(scale: int) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """Bicubic and Lanczos upscaling (aeutils.benchmark.baselines) as `measure` methods."""
    from aeutils.benchmark import baselines  # deferred: OpenCV loads only when the classical methods run

    def wrap(fn):  # they resample 8-bit arrays (H, W, 3) with Pillow
        return lambda lr: torch.from_numpy(np.array(fn(to_uint8(lr), scale))).permute(2, 0, 1).float() / 255

    return {"bicubic": wrap(baselines.upscale_bicubic), "lanczos": wrap(baselines.upscale_lanczos)}


def photo_scores(g: SRResNet, val: dict[str, list[torch.Tensor]]) -> dict[str, float]:
    """The validation of `--data photos`: `robustness.upscale_sweep` of `g` on whole faces of each
    source ({source: [(3, H, W)]}, `photos.validation_faces`), the small input saved as PNG and as
    JPEG q90 / q75 / q50. Returns the mean PSNR over those cells (`psnr`, what picks best.pt), over
    the PNG and the JPEG cells, the mean gain over the better of bicubic and Lanczos per cell, and
    each cell's PSNR ("lfw_q75")."""
    from aeutils.benchmark import robustness  # deferred: OpenCV loads only when the sweep runs

    sweep = robustness.upscale_sweep({"model": g}, val, g.scale, upscale_tiled)
    cells = {f"{src}_{q}": c for src, per in sweep.items() for q, c in per.items()}
    png = [c["model"] for k, c in cells.items() if k.endswith("_png")]
    jpeg = [c["model"] for k, c in cells.items() if not k.endswith("_png")]
    return {"psnr": float(np.mean(png + jpeg)), "png": float(np.mean(png)), "jpeg": float(np.mean(jpeg)),
            "gain": float(np.mean([c["model"] - max(c["bicubic"], c["lanczos"]) for c in cells.values()])),
            **{k: c["model"] for k, c in cells.items()}}


def model_method(model: SRResNet) -> Callable[[torch.Tensor], torch.Tensor]:
    """A generator as `measure` runs it: whole image, as `forward` (mirrored where the model is marked so)."""
    model.eval()
    return lambda lr: forward(model, lr[None])[0]


def evaluate_test(scale: int, profile: str, out_dir: Path, run_root: Path | None = None, limit: int = 100,
                  keep: int = 6, progress: bool = False) -> tuple[dict, list]:
    """Measure each trained variant of `scale` (VARIANTS: the SRResNet, the SRGAN and the photo-trained
    SRResNet, each as chosen on validation) and bicubic / Lanczos on the same `limit` test-identity
    images; write `results_x{scale}.json` to out_dir."""
    run_root = run_root or config.RUNS_DIR / "superres"
    methods = classical_methods(scale)
    hp, models = {}, {}
    for variant, phase in VARIANTS.items():
        run_dir = run_root / f"{profile}-x{scale}-{variant}"
        if not (run_dir / "best.pt").exists():
            continue
        ck = checkpoint.load(run_dir / "best.pt")
        cfg = SRConfig(**{k: v for k, v in ck["hparams"].items() if k in SRConfig.__dataclass_fields__})
        g = SRResNet(cfg.scale, cfg.channels, cfg.blocks)
        load_generator_weights(g, run_dir / FINAL_CHECKPOINT[phase])
        mark(g, phase)  # measured as the command runs it
        summary = json.loads((run_dir / "summary.json").read_text()) if (run_dir / "summary.json").exists() else {}
        val = ck["metrics"] if phase == "srresnet" else \
            {k.removeprefix("val/"): tb.read_scalars(run_dir, k)[1][-1] for k in ("val/psnr", "val/grad_ratio")}
        models[variant], hp[variant] = g, {"hparams": ck["hparams"], "val": val, "checkpoint": FINAL_CHECKPOINT[phase],
                                           "steps": summary.get("steps"), "train_seconds": summary.get("train_seconds")}
        methods[variant] = model_method(g)
    encoder_source = next((h["hparams"].get("perceptual_source") for h in hp.values()), "auto")
    encoder = feature_encoder("auto" if encoder_source in (None, "none") else _source_arg(encoder_source))
    n = limit if profile != "smoke" else min(limit, 3)
    hrs = eval_images("test", profile, n)
    means, examples = measure(methods, hrs, scale, encoder, keep=keep, progress=progress)
    results = {
        "task": NAME, "scale": scale, "profile": profile, "split": "test",
        "data": "CelebA test identities 170-199" if profile != "smoke" and sources.have_celeba() else "smoke fixtures",
        "images": len(hrs), "crop": f"centre {hrs[0].shape[-1]}x{hrs[0].shape[-1]}", "lr_input": LR_NOTE,
        "psnr_ssim": "8-bit RGB, whole image, per image then averaged",
        "feature_source": getattr(encoder, "source", "none"),
        "sharpness_labels": {
            "grad_ratio": "mean luma gradient magnitude / ground truth's (1 = as much edge energy as the original)",
            "feature_dist": f"relative feature distance in the {getattr(encoder, 'source', 'none')} space "
                            "(not LPIPS; lower = closer)"},
        "methods": means, "runs": hp, "device": DEVICE_NOTE,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"results_x{scale}.json").write_text(json.dumps(results, indent=2, default=str))
    return results, examples


def _source_arg(source: str) -> str:
    return {"vgg16-imagenet": "vgg16", "face-codec-encoder": "face"}.get(source, "auto")
