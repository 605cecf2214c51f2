"""The colorizer itself: built from its architecture dict (an approach's, a checkpoint's or a shipped
file's), loaded from a run or a shipped file, and applied to images of any size (the ab predicted on a
downscaled copy and recombined with the full-resolution L)."""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from aeutils.color import combine, rgb_to_lab
from aeutils.errors import UserError
from aeutils.images import to_uint8, to_uint8_tensor
from aeutils.models.colorize import Colorizer, predict_ab
from aeutils.models.features import pretrained_encoder
from aeutils.tasks.colorize.hparams import hparams
from aeutils.tiles import tiled
from aeutils.train import load_best

NAME = "colorize"  # the task's name, which its shipped files record (`aeutils.task`)
DEFAULT_MODEL = "colorize-faces"

# name -> (encoder, head). "pretrained" is VGG16 ImageNet when the user has its weights, else the
# project's face-codec encoder (aeutils.models.features.pretrained_encoder).
APPROACHES = {
    "scratch": ("scratch", "regression"),
    "pretrained": ("pretrained", "regression"),
    "scratch-classify": ("scratch", "classification"),
    "pretrained-classify": ("pretrained", "classification"),
}
WORK_SIDE = 64  # `colorize_image` predicts ab on a copy whose shorter side is this (the training scale)
MODEL_PIXELS = 1_000_000  # the largest copy the model sees (its features take about 650 bytes a pixel)
TILE = 512  # `colorize_image` converts colours in tiles of this side, so a large photo needs little memory


def build(arch: dict) -> Colorizer:
    """A Colorizer from its architecture dict (what a checkpoint or shipped file records)."""
    encoder = arch["encoder"]
    if encoder != "scratch":
        source = {"vgg16-imagenet": "vgg16", "face-codec-encoder": "face"}.get(encoder, encoder)
        encoder = pretrained_encoder(source=source)
    return Colorizer(encoder, arch["head"], tuple(arch["enc_channels"]), tuple(arch["widths"]), arch.get("chroma", 1.0),
                     arch.get("tint", 1.0), arch.get("hue"))


def make_arch(approach: str, profile: str, encoder_source: str = "auto") -> dict:
    """The architecture dict of an approach; a pretrained encoder is resolved to its actual source
    (e.g. "face-codec-encoder" when VGG16 ImageNet weights are not in $TORCH_HOME)."""
    if approach not in APPROACHES:
        raise UserError(f"unknown approach {approach!r}; choose from {', '.join(APPROACHES)}")
    encoder, head = APPROACHES[approach]
    if encoder == "pretrained":
        encoder = pretrained_encoder(source=encoder_source).source
    hp = hparams(profile)
    return {"encoder": encoder, "head": head, "enc_channels": list(hp.enc_channels), "widths": list(hp.widths)}


def load_run(run_dir: str | Path) -> Colorizer:
    """The checkpoint of a run chosen on validation, in eval mode."""
    run_dir = Path(run_dir)
    info = json.loads((run_dir / "arch.json").read_text())
    model = build(info["arch"])
    load_best(model, run_dir)
    return model.eval()


def load(ck: dict) -> Colorizer:
    """A shipped colorizer from its file's dict (`zoo.load_shipped`), in eval mode."""
    model = build(ck["arch"])
    model.load_state_dict(ck["state_dict"])
    return model.eval()


def colorize_tensor(model: Colorizer | None, rgb: torch.Tensor, work_side: int | None = WORK_SIDE,
                    const_ab: torch.Tensor | None = None) -> torch.Tensor:
    """RGB (N, 3, H, W) in [0, 1] (colour or gray) -> colorized RGB (N, 3, H, W) with the same L.

    The ab are predicted on a copy whose shorter side is `work_side` (never enlarged; None = full
    size), then upsampled bilinearly and recombined with the full-resolution L. `model=None` gives
    the constant-chroma baselines: `const_ab` (2,) everywhere, or gray when that is None too."""
    L = rgb_to_lab(rgb)[:, :1]
    h, w = L.shape[-2:]
    if model is None:
        ab = (torch.zeros(L.shape[0], 2, h, w) if const_ab is None
              else const_ab.view(1, 2, 1, 1).expand(L.shape[0], 2, h, w))
    else:
        ab = predict_chroma(model, L, work_side)
    return combine(L, ab)


def predict_chroma(model: Colorizer, L: torch.Tensor, work_side: int | None = WORK_SIDE) -> torch.Tensor:
    """L (N, 1, H, W) -> ab (N, 2, H, W), predicted on a copy whose shorter side is `work_side` (never
    enlarged; None = full size) and upsampled bilinearly. The copy is refused above MODEL_PIXELS."""
    h, w = L.shape[-2:]
    scale = 1.0 if not work_side else min(1.0, work_side / min(h, w))
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    if size[0] * size[1] > MODEL_PIXELS:
        raise UserError(f"the model would see {size[1]}x{size[0]} pixels, more than its limit of "
                        f"{MODEL_PIXELS / 1e6:g} megapixels: use a smaller --work-side")
    small = L if scale == 1.0 else F.interpolate(L, size=size, mode="bilinear", antialias=True, align_corners=False)
    ab = predict_ab(model, small)
    if ab.shape[-2:] != (h, w):
        ab = F.interpolate(ab, size=(h, w), mode="bilinear", align_corners=False)
    return ab


@torch.no_grad()
def colorize_image(model: Colorizer, im: Image.Image, work_side: int | None = WORK_SIDE,
                   tile: int = TILE) -> Image.Image:
    """Colorize one image (colour input uses only its lightness); same size, same L.

    `colorize_tensor` on the whole image, with the colour conversions in `tile`-sided tiles: they are
    per pixel, so the result is the same while memory stays near 20 bytes a pixel (8-bit in and out,
    L and the upsampled ab), where the whole-image conversions took about 200."""
    rgb = to_uint8_tensor(im)[None]
    h, w = rgb.shape[-2:]
    L = tiled(lambda t, b, l, r: rgb_to_lab(rgb[..., t:b, l:r].float().div_(255))[:, :1], h, w, tile)
    ab = predict_chroma(model, L, work_side)
    out = tiled(lambda t, b, l, r: torch.from_numpy(to_uint8(combine(L[..., t:b, l:r], ab[..., t:b, l:r])[0]))
                .permute(2, 0, 1)[None], h, w, tile)
    return Image.fromarray(out[0].permute(1, 2, 0).numpy(), "RGB")
