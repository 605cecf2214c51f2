"""Reading and writing images the way users expect: EXIF orientation applied, any mode and depth to
8-bit RGB, inputs above a pixel limit refused before they are decoded, outputs never overwritten unless
asked (and never anything but a regular file), files written atomically."""
from __future__ import annotations

import io
import os
import stat
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
_NOT_REGULAR = {stat.S_IFDIR: "a folder", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device",
                stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket"}


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
                ImageOps.exif_transpose(im, in_place=True)  # in place: keeps the file's tags (_full_scale)
                return im
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise UserError(f"{path} is too large: more than {Image.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels, "
                        f"the limit is {MAX_PIXELS / 1e6:g}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise UserError(f"not a readable image: {path} ({e.__class__.__name__})") from None


# The luminance quantization table of the JPEG standard (Annex K), which libjpeg scales by quality.
_LUMA_TABLE = np.array([16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57,
                        69, 56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64,
                        81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99])


def jpeg_quality(im: Image.Image) -> int | None:
    """The quality (1-100) a JPEG was saved at, read from its luminance quantization table: the
    libjpeg quality whose scaled standard table has the nearest sum (the sum does not depend on the
    table's order; a camera's own tables get the nearest equivalent). None for any other format."""
    tables = getattr(im, "quantization", None)
    if not tables or 0 not in tables:
        return None
    target = float(np.sum(tables[0]))
    best, best_gap = 100, np.inf
    for q in range(1, 101):
        gap = abs(luma_table(q).sum() - target)
        if gap < best_gap:
            best, best_gap = q, gap
    return best


def jpeg_luma_steps(im: Image.Image) -> np.ndarray | None:
    """A JPEG file's own luminance quantization steps (8, 8), in the natural order Pillow reads them in (a
    camera's tables need not be libjpeg's at any quality); None for any other format."""
    tables = getattr(im, "quantization", None)
    if not tables or 0 not in tables or len(tables[0]) != 64:
        return None
    return np.asarray(tables[0], np.float64).reshape(8, 8)


def luma_table(quality: int) -> np.ndarray:
    """The luminance quantization steps (8, 8) libjpeg writes at `quality` (1-100): the standard's table, scaled."""
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    return np.clip((_LUMA_TABLE * scale + 50) // 100, 1, 255).reshape(8, 8)


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """Open an image file as 8-bit RGB: EXIF orientation applied, alpha composited on white."""
    return to_rgb(open_image(path))


def to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode to RGB; transparent pixels become white rather than black. Deeper samples
    are scaled by their type's range, never by the image's content (a dark 16-bit image stays
    dark): 16-bit by 65535, float ('F') as [0, 1]."""
    if im.mode == "RGB":
        return im
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        background = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, im).convert("RGB")
    if im.mode == "F" or im.mode.startswith("I"):
        arr = np.asarray(im, dtype=np.float64) * (255.0 / _full_scale(im))
        im = Image.fromarray(np.clip(np.round(arr), 0, 255).astype(np.uint8), "L")
    return im.convert("RGB")


def _full_scale(im: Image.Image) -> float:
    """The sample value that means white: 1 for float images, 65535 for 16-bit ones; a 32-bit
    integer image ('I') by the bits per sample its TIFF file declares, else taken as 16-bit
    (Pillow opens 16-bit PGM files as 'I')."""
    if im.mode == "F":
        return 1.0
    tags = getattr(im, "tag_v2", {})
    if im.mode == "I" and 258 in tags:
        bits, sample_format = (int(np.ravel(tags.get(tag, 1))[0]) for tag in (258, 339))
        return 2.0 ** (bits - (sample_format == 2)) - 1  # TIFF BitsPerSample, SampleFormat (2: signed)
    return 65535.0


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


LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601, as JPEG's YCbCr


def luma(im: np.ndarray) -> np.ndarray:
    """The luma (LUMA_WEIGHTS) of an RGB array (..., 3), as float64 on its own scale."""
    return np.asarray(im, dtype=np.float64) @ LUMA_WEIGHTS


def central_window(im: np.ndarray, side: int) -> np.ndarray:
    """The central `side` x `side` window of an (H, W, ...) array (all of it along a shorter axis):
    what a photo-wide estimate reads, so its time and memory stay bounded on a large photo."""
    h, w = im.shape[:2]
    top, left = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return im[top:top + side, left:left + side]


def to_image(x: torch.Tensor) -> Image.Image:
    """Float tensor (3, H, W) in [0, 1] -> 8-bit RGB image (clamped and rounded)."""
    return Image.fromarray(to_uint8(x), "RGB")


def check_output(path: str | os.PathLike, force: bool, image: bool = False) -> Path:
    """Refuse, before any work, what writing the output would refuse: an existing file or a
    symlink without --force, anything that is not a regular file or a symlink even with it, a
    missing or unwritable folder, and (`image`) an extension whose format Pillow cannot write."""
    path = Path(path)
    _check_replaceable(path, force)
    folder = path.parent
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder" if folder.exists() else f"no such folder: {folder}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"cannot write into {folder} (permission denied)")
    if image:
        image_format(path)
    return path


def _check_replaceable(path: Path, force: bool) -> None:
    """With --force a regular file or a symlink (the link itself) may be replaced; nothing else,
    ever: the atomic rename would turn a device, a FIFO or a socket into a regular file."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:  # nothing there (or no such folder: check_output says so)
        return
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise UserError(f"{path} is {_NOT_REGULAR.get(stat.S_IFMT(mode), 'not a regular file')}; "
                        f"refusing to replace it, even with --force")
    if not force:
        what = "is a symbolic link" if stat.S_ISLNK(mode) else "exists"
        raise UserError(f"{path} {what}; pass --force to replace it")


def image_format(path: str | os.PathLike) -> str:
    """The Pillow format an output's extension names (PNG when it names none), after checking
    that Pillow can write an RGB image in it (.xpm, .psd, .cur are read-only, .xbm is 1-bit)."""
    suffix = Path(path).suffix.lower()
    fmt = Image.registered_extensions().get(suffix, "PNG")
    try:
        Image.new("RGB", (16, 16)).save(io.BytesIO(), format=fmt)
    except (KeyError, OSError, ValueError):
        raise UserError(f"cannot write RGB images as {suffix} ({fmt}); use .png, .jpg, .webp, .tif, ...") from None
    return fmt


def atomic_write_bytes(path: str | os.PathLike, data: bytes, exclusive: bool = False) -> None:
    """Write a file so that a crash leaves either the old file or the new one, never half of one.

    `exclusive`: the name must still be free when the file appears (it is hard-linked into place,
    which fails if anything took the name meanwhile), so of two writers one wins and the other
    gets a one-line error. Otherwise a regular file or a symlink (the link, never its target) is
    replaced, nothing else. OS errors become UserError."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise UserError(f"cannot write {path} ({e.strerror or e})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        if exclusive:
            _link_exclusive(tmp, path)
        else:
            _check_replaceable(path, force=True)
            os.replace(tmp, path)
    except FileExistsError:
        raise UserError(f"{path} exists; pass --force to replace it") from None
    except OSError as e:
        raise UserError(f"cannot write {path} ({e.strerror or e})") from None
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def _link_exclusive(tmp: str, path: Path) -> None:
    """Give the finished file `tmp` the name `path` only if that name is free (FileExistsError)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: claim the name, then rename over the claim
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        os.replace(tmp, path)


def save_image(im: Image.Image, path: str | os.PathLike, exclusive: bool = False, **params) -> None:
    """Save atomically (see atomic_write_bytes); the format follows the file's extension (PNG if
    it has none Pillow knows)."""
    path = Path(path)
    buf = io.BytesIO()
    im.save(buf, format=image_format(path), **params)
    atomic_write_bytes(path, buf.getvalue(), exclusive)


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
