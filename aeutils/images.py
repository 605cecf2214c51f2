"""Reading and writing images the way users expect: EXIF orientation applied, any mode to RGB,
inputs above a pixel limit refused before they are decoded, outputs never overwritten unless asked,
files written atomically."""
from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from aeutils.errors import UserError

# The largest image the commands read or write (50 megapixels, e.g. 8660x5773): what keeps their
# memory bounded (README, "Command line"); below Pillow's decompression-bomb limit of 89 megapixels.
MAX_PIXELS = 50_000_000


def check_pixels(width: int, height: int, what: str) -> None:
    """A one-line error for an image above MAX_PIXELS (`what` names it)."""
    if width * height > MAX_PIXELS:
        raise UserError(f"{what} is too large: {width}x{height} is {width * height / 1e6:.1f} megapixels, "
                        f"the limit is {MAX_PIXELS / 1e6:g}")


def open_image(path: str | os.PathLike) -> Image.Image:
    """Decode an image file in its own mode, EXIF orientation applied; one above MAX_PIXELS is
    refused from its header, before any pixel is decoded (Pillow's decompression-bomb warning and
    error become the same one-line error)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no such file: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                check_pixels(im.width, im.height, str(path))
                im.load()
                return ImageOps.exif_transpose(im)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise UserError(f"{path} is too large: more than {Image.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels, "
                        f"the limit is {MAX_PIXELS / 1e6:g}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise UserError(f"not a readable image: {path} ({e.__class__.__name__})") from None


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """Open an image file as 8-bit RGB: EXIF orientation applied, alpha composited on white."""
    return to_rgb(open_image(path))


def to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode to RGB; transparent pixels become white rather than black."""
    if im.mode == "RGB":
        return im
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        background = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, im).convert("RGB")
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float64)
        arr = arr / 257.0 if arr.max() > 255 else arr
        im = Image.fromarray(np.clip(np.round(arr), 0, 255).astype(np.uint8), "L")
    return im.convert("RGB")


def to_tensor(im: Image.Image) -> torch.Tensor:
    """RGB image -> float tensor (3, H, W) in [0, 1]."""
    arr = np.asarray(to_rgb(im), dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255.0)


def to_uint8_tensor(im: Image.Image) -> torch.Tensor:
    """RGB image -> uint8 tensor (3, H, W): a quarter of `to_tensor`'s memory, for work done in tiles."""
    return torch.from_numpy(np.array(to_rgb(im))).permute(2, 0, 1)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Float tensor (3, H, W) or (H, W) in [0, 1] -> clamped, rounded uint8 array (H, W, 3) / (H, W)."""
    x = x.detach().float().cpu().clamp(0, 1).mul_(255.0).round_().to(torch.uint8)  # one float copy, not three
    if x.ndim == 3:
        x = x.permute(1, 2, 0)
    return x.numpy()


def to_image(x: torch.Tensor) -> Image.Image:
    """Float tensor (3, H, W) in [0, 1] -> 8-bit RGB image (clamped and rounded)."""
    return Image.fromarray(to_uint8(x), "RGB")


def check_output(path: str | os.PathLike, force: bool) -> Path:
    """Refuse to overwrite an existing output unless --force; make sure its folder exists."""
    path = Path(path)
    if path.exists() and not force:
        raise UserError(f"{path} exists; pass --force to overwrite it")
    if path.is_dir():
        raise UserError(f"{path} is a folder, not a file")
    if not path.parent.exists():
        raise UserError(f"no such folder: {path.parent}")
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write a file so that a crash leaves either the old file or the new one, never half of one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_image(im: Image.Image, path: str | os.PathLike, **params) -> None:
    """Save atomically; the format follows the file's extension (PNG if it has none Pillow knows)."""
    import io

    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower(), "PNG")
    buf = io.BytesIO()
    im.save(buf, format=fmt, **params)
    atomic_write_bytes(path, buf.getvalue())


def sample_faces() -> dict[str, Image.Image]:
    """Real face photographs that installed packages ship: the embedded default of the demo and tests."""
    import matplotlib.cbook
    from skimage import data as skdata

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        hopper = Image.open(f).convert("RGB")
    astronaut = Image.fromarray(skdata.astronaut())
    # Crop both to the face, as the aligned face datasets are.
    return {
        "astronaut": astronaut.crop((150, 20, 262, 157)),
        "grace_hopper": hopper.crop((130, 30, 400, 360)),
    }


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad (..., H, W) on the bottom and right, replicating the border, to multiples of `multiple`;
    crop back with `x[..., :H, :W]`."""
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if ph == 0 and pw == 0:
        return x
    squeeze = x.ndim == 3
    x = torch.nn.functional.pad(x[None] if squeeze else x, (0, pw, 0, ph), mode="replicate")
    return x[0] if squeeze else x
