"""`aeutils colorize IN OUT`: one image or a folder through a shipped colorizer (`aeutils.batch`)."""
from __future__ import annotations

import functools
from pathlib import Path

import torch

from aeutils import batch, zoo
from aeutils.errors import UserError
from aeutils.images import load_rgb, save_image
from aeutils.tasks.colorize.model import DEFAULT_MODEL, MODEL_PIXELS, NAME, WORK_SIDE, colorize_image


def register(sub) -> None:
    p = batch.add_parser(sub, "colorize", ".png",
                         description="Colorize an image with a shipped model: the output keeps the input's "
                                     "lightness (CIE Lab L) and gets predicted chroma (ab). A colour input is "
                                     "accepted; only its lightness is used. Large images get their ab from a "
                                     "copy downscaled to the training scale, upsampled and recombined with the "
                                     "full-resolution L.")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"shipped model name or .pt path (default {DEFAULT_MODEL})")
    p.add_argument("--work-side", type=int, default=WORK_SIDE,
                   help=f"shorter side of the copy the ab are predicted on (default {WORK_SIDE}, the training "
                        f"scale; 0 = full size, up to {MODEL_PIXELS / 1e6:g} megapixels)")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.work_side < 0:
        raise UserError("--work-side must be 0 or positive")

    model = functools.cache(lambda: zoo.load(args.model, task=NAME))
    torch.set_num_threads(1)

    def one(src: Path, dst: Path) -> str:
        im = load_rgb(src)
        save_image(colorize_image(model(), im, args.work_side or None), dst, exclusive=not args.force)
        return f"wrote {dst} ({im.width}x{im.height}, model {args.model})"
    return batch.run(args, one, model)
