"""Measuring a model: reconstructions, PSNR/SSIM on 8-bit RGB, the bpp of the latent with its side
information, JPEG 2000 at the same rate, the one test evaluation of a final model, and the TensorBoard
image grids of validation."""
from __future__ import annotations

import numpy as np
import torch

from aeutils import metrics
from aeutils.benchmark.classical import classical_codecs
from aeutils.images import to_image, to_uint8
from aeutils.models.cae import CompressiveAutoencoder
from aeutils.tasks.cae.data import test_sets
from aeutils.tasks.cae.hparams import Hparams

SIDE_INFO_BITS = 16  # each per-channel min and max is stored as float16


@torch.no_grad()
def reconstruct(model: CompressiveAutoencoder, images: list[torch.Tensor], device: str | torch.device = "cpu",
                batch: int = 8) -> list[torch.Tensor]:
    """Reconstructions (3, H, W) on the CPU of a list of images (same-size runs are batched)."""
    model.eval()
    out = []
    for i in range(0, len(images), batch):
        chunk = images[i:i + batch]
        if len({tuple(x.shape) for x in chunk}) > 1:
            out += [model(x[None].to(device))["x_hat"][0].float().cpu() for x in chunk]
        else:
            out += list(model(torch.stack(chunk).to(device))["x_hat"].float().cpu())
    return out


def quality(originals: list[torch.Tensor], recons: list[torch.Tensor], with_ssim: bool = True) -> dict:
    """Mean PSNR (and SSIM) over images, each on clamped, rounded 8-bit RGB."""
    p, s = [], []
    for x, y in zip(originals, recons):
        a, b = to_uint8(x), to_uint8(y)
        p.append(metrics.psnr(a, b))
        if with_ssim:
            s.append(metrics.ssim(a, b))
    out = {"psnr": float(np.mean(p))}
    if with_ssim:
        out["ssim"] = float(np.mean(s))
    return out


def latent_bpp(hp: Hparams, height: int, width: int, header_bits: int = 0) -> tuple[float, str]:
    """Bits per pixel of the latent with its side information, and what was counted.

    Quantized: C*h*w*num_bits code bits + 2*C float16 min/max (+ header). Unquantized models
    have no codes: their latent is counted as float16 values, what storing it would take."""
    c, pixels = hp.hidden_state_num_channels, height * width
    h, w = height // 8, width // 8
    if hp.quantize:
        return (c * h * w * hp.num_bits + 2 * c * SIDE_INFO_BITS + header_bits) / pixels, \
            f"{hp.num_bits}-bit codes + per-channel float16 min/max (header not counted)"
    return c * h * w * 16 / pixels, "unquantized latent stored as float16"


def jpeg2000_at(images: list[torch.Tensor], bpp: float) -> dict:
    """JPEG 2000 (aeutils.benchmark.classical: OpenJPEG, mct=1) at a target rate on the same images:
    mean PSNR, SSIM and the measured bpp of the whole codestreams."""
    codec = next(c for c in classical_codecs() if c.name == "jpeg2000")
    p, s, rates = [], [], []
    for x in images:
        im = to_image(x)
        blob = codec.encode(im, bpp)
        rec = np.array(codec.decode(blob))
        a = to_uint8(x)
        p.append(metrics.psnr(a, rec))
        s.append(metrics.ssim(a, rec))
        rates.append(metrics.bpp(len(blob), im.width, im.height))
    return {"target_bpp": bpp, "bpp": float(np.mean(rates)), "psnr": float(np.mean(p)), "ssim": float(np.mean(s))}


def evaluate_test(model: CompressiveAutoencoder, hp: Hparams, profile: str, device="cpu",
                  jpeg2000: bool = True) -> dict:
    """The final model on each test set, once: PSNR, SSIM, bpp (side information counted),
    compression ratio, and (unless `jpeg2000` is False) JPEG 2000 at the same bpp on the same images."""
    out = {}
    for name, images in test_sets(hp, profile).items():
        recons = reconstruct(model, images, device)
        h, w = images[0].shape[-2:]
        bpp, counted = latent_bpp(hp, h, w)
        out[name] = {"images": len(images), "size": f"{w}x{h}", **quality(images, recons),
                     "bpp": bpp, "bpp_counts": counted, "ratio": metrics.compression_ratio(bpp)}
        if jpeg2000:
            out[name]["jpeg2000"] = jpeg2000_at(images, min(bpp, 24.0))
    return out


def image_grids(model: CompressiveAutoencoder, images: list[torch.Tensor], device) -> dict[str, torch.Tensor]:
    """TensorBoard grids: originals above reconstructions, and error maps (|x - x_hat| x 5)."""
    x = torch.stack(images)
    x_hat = torch.stack(reconstruct(model, images, device)).clamp(0, 1)
    return {"val/reconstructions": torch.cat([x, x_hat]), "val/error_maps": ((x - x_hat).abs() * 5).clamp(0, 1)}
