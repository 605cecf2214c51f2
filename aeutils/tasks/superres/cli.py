"""`aeutils upscale`: a shipped generator applied tile by tile to the user's images (the command is
registered through `aeutils.options.COMMANDS`)."""
from __future__ import annotations

import functools
from pathlib import Path

from PIL import Image

from aeutils import batch, zoo
from aeutils.errors import UserError
from aeutils.images import check_pixels, load_rgb, save_image, to_tensor
from aeutils.models.sr import SRResNet
from aeutils.tasks.superres.generators import upscale_tiled
from aeutils.tasks.superres.hparams import NAME


def register(sub) -> None:
    p = batch.add_parser(sub, "upscale", ".png",
                         description="Super-resolve an image with a shipped model (trained on CelebA faces), "
                                     "tile by tile so that large images fit in bounded memory.")
    p.add_argument("--scale", type=int, choices=(4, 8), default=4)
    p.add_argument("--variant", choices=("srgan", "srresnet"), default="srresnet",
                   help="srresnet (default): closest to the original on faces from every source tried, "
                   "small JPEG inputs included; srgan: sharper, invents texture, often further off")
    p.add_argument("--model", default=None, help="shipped model name or .pt file (default sr-xSCALE-VARIANT)")
    p.add_argument("--tile", type=int, default=128, help="tile side in input pixels (bounds memory)")
    p.set_defaults(func=run_upscale)


def run_upscale(args) -> int:
    if args.tile < 8:
        raise UserError(f"--tile must be at least 8 pixels, not {args.tile}")

    @functools.cache
    def load() -> SRResNet:
        model = zoo.load(args.model or f"sr-x{args.scale}-{args.variant}", task=NAME)
        if model.scale != args.scale:
            raise UserError(f"model {args.model} upscales x{model.scale}, not x{args.scale}")
        return model

    def one(src: Path, dst: Path) -> str:
        im = load_rgb(src)
        w, h = im.width * args.scale, im.height * args.scale
        check_pixels(w, h, f"the x{args.scale} output of {src}")  # the output is held whole to be written
        sr = upscale_tiled(load(), to_tensor(im), args.tile, progress=batch.tile_progress(args))
        save_image(Image.fromarray(sr, "RGB"), dst, exclusive=not args.force)
        return f"{src} ({im.width}x{im.height}) -> {dst} ({w}x{h})"
    return batch.run(args, one, load)
