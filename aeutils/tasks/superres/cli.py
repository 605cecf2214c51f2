"""`aeutils upscale`: a shipped generator applied tile by tile to the user's images (the command is
registered through `aeutils.options.COMMANDS`)."""
from __future__ import annotations

import functools
from pathlib import Path

from PIL import Image

from aeutils import batch, zoo
from aeutils.errors import UserError
from aeutils.images import check_pixels, jpeg_quality, open_image, save_image, to_rgb, to_tensor
from aeutils.models.sr import SRResNet
from aeutils.tasks.superres.generators import upscale_tiled
from aeutils.tasks.superres.hparams import NAME, VARIANTS

AUTO = "auto"
PHOTO_SCALES = (4,)  # the scales a photo-trained variant is shipped for


def variant_for(jpeg: bool, scale: int) -> str:
    """`--variant auto`: the photo-trained SRResNet for a JPEG input where one is shipped, else the
    aligned-CelebA SRResNet. Chosen on validation faces of three sources (docs/superres.md): the photo
    model is ahead on JPEG inputs of every source, the other ahead on lossless VoxCeleb2 frames."""
    return "photo" if jpeg and scale in PHOTO_SCALES else "srresnet"


def register(sub) -> None:
    p = batch.add_parser(sub, "upscale", ".png",
                         description="Super-resolve an image with a shipped model (trained on faces), "
                                     "tile by tile so that large images fit in bounded memory.")
    p.add_argument("--scale", type=int, choices=(4, 8), default=4)
    p.add_argument("--variant", choices=(AUTO, *VARIANTS), default=AUTO,
                   help="auto (default): at x4 a JPEG input goes to photo, the SRResNet trained on mostly-JPEG "
                   "inputs, any other to srresnet, closest to the original on lossless inputs; srgan: sharper, "
                   "invents texture, often further off")
    p.add_argument("--model", default=None, help="shipped model name or .pt file (default sr-xSCALE-VARIANT)")
    p.add_argument("--tile", type=int, default=128, help="tile side in input pixels (bounds memory)")
    p.set_defaults(func=run_upscale)


def run_upscale(args) -> int:
    if args.tile < 8:
        raise UserError(f"--tile must be at least 8 pixels, not {args.tile}")

    @functools.cache
    def load(name: str) -> SRResNet:
        model = zoo.load(name, task=NAME)
        if model.scale != args.scale:
            raise UserError(f"model {name} upscales x{model.scale}, not x{args.scale}")
        return model

    def model_for(jpeg: bool) -> str:
        variant = variant_for(jpeg, args.scale) if args.variant == AUTO else args.variant
        return args.model or f"sr-x{args.scale}-{variant}"

    def one(src: Path, dst: Path) -> str:
        raw = open_image(src)
        name = model_for(jpeg_quality(raw) is not None)
        im = to_rgb(raw)
        w, h = im.width * args.scale, im.height * args.scale
        check_pixels(w, h, f"the x{args.scale} output of {src}")  # the output is held whole to be written
        sr = upscale_tiled(load(name), to_tensor(im), args.tile, progress=batch.tile_progress(args))
        save_image(Image.fromarray(sr, "RGB"), dst, exclusive=not args.force)
        return f"{src} ({im.width}x{im.height}) -> {dst} ({w}x{h}, {name})"
    return batch.run(args, one, lambda: load(model_for(False)))
