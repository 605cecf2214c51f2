"""A generator's weights in and out of use: loaded from a run or checkpoint to start a phase (an x8
from an x4), the checkpoint each phase ships, the shipped file's loader of the task contract, and tiled
inference, which bounds memory on images of any size."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from aeutils import checkpoint
from aeutils.images import to_uint8
from aeutils.models.sr import SRResNet
from aeutils.tiles import tiled


def load_generator_weights(g: SRResNet, source: Path) -> str:
    """Initialise the generator from a run folder (its best.pt), a checkpoint or a shipped file; an
    x8 generator may start from an x4 one. Returns a line saying what was loaded."""
    path = source / "best.pt" if source.is_dir() else source
    ck = checkpoint.load(path)
    state = ck.get("state_dict") or ck["model"]
    state = {k.removeprefix("generator."): v.float() for k, v in state.items() if not k.startswith("discriminator.")}
    stages = sum(1 for k in state if k.startswith("up.") and k.endswith(".conv.weight"))
    if stages == len(g.up) - 1:
        new = g.load_from_smaller_scale(state)
        return f"initialised from {path} (x{g.scale // 2} model; new: {', '.join(new)})"
    g.load_state_dict(state)
    return f"initialised from {path}"


# The SRResNet is the checkpoint with the best validation PSNR. The SRGAN is the last one: any
# distortion-type validation score (PSNR, or the feature distance, which here behaves like one)
# picks the least adversarial checkpoint and so undoes the fine-tuning; its validation curves are logged.
FINAL_CHECKPOINT = {"srresnet": "best.pt", "srgan": "last.pt"}


def load(ck: dict) -> SRResNet:
    """A shipped generator from its file's dict (`zoo.load_shipped`), in eval mode, marked (`mark`)."""
    g = SRResNet(**ck["arch"])
    g.load_state_dict(ck["state_dict"])
    return mark(g, ck.get("phase")).eval()


def mark(g: SRResNet, phase: str | None) -> SRResNet:
    """Record on `g` whether it runs as a flip self-ensemble (`forward`): the SRResNet phase's generators do."""
    g.mirrored = phase == "srresnet"
    return g


def forward(model: SRResNet, lr: torch.Tensor) -> torch.Tensor:
    """The model's output for an LR batch (N, 3, h, w); for a `mirrored` model, the mean of it and of its
    output on the mirrored input, mirrored back (a flip self-ensemble: faces are symmetric enough and the
    models trained on flipped crops, so the two are estimates whose errors partly cancel). On validation
    faces of three sources (24 each, small input as PNG and JPEG q90 / q75 / q50) it was ahead in every cell:
    x4 SRResNet +0.04 to +0.32 dB, photo-trained +0.04 to +0.14, x8 SRResNet +0.02 to +0.07 (docs/superres.md).
    An SRGAN's invented texture would only be averaged away, so they run once."""
    out = model(lr)
    return (out + model(lr.flip(-1)).flip(-1)) / 2 if getattr(model, "mirrored", False) else out


@torch.no_grad()
def upscale_tiled(model: SRResNet, lr: torch.Tensor, tile: int = 128, overlap: int = 16,
                  progress: bool = False) -> np.ndarray:
    """Upscale an LR image (3, h, w) in [0, 1] tile by tile, so memory stays bounded by the tile
    size: each `tile` x `tile` LR tile is run with `overlap` pixels of context on every side and only
    its centre is kept. With `overlap` at least the network's receptive-field radius (about 24 LR
    pixels for 8 blocks) the result equals whole-image inference; 16 leaves differences far below
    one 8-bit level. Returns the 8-bit result (s*h, s*w, 3): the output is held as bytes, not floats."""
    s = model.scale

    def window(top: int, bottom: int, left: int, right: int) -> torch.Tensor:
        out = forward(model, lr[None, :, top:bottom, left:right])[0]
        return torch.from_numpy(to_uint8(out)).permute(2, 0, 1)[None]
    out = tiled(window, *lr.shape[1:], tile, overlap, scale=s, progress=progress)
    return np.ascontiguousarray(out[0].permute(1, 2, 0).numpy())
