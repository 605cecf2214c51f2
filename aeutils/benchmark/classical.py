"""The classical image codecs the project compares itself with, behind one small codec protocol.

A codec here is anything with `name`, `description`, `qualities` (its sweep points, in increasing
rate order), `encode(im, quality) -> bytes` (the WHOLE file, headers included) and
`decode(bytes) -> PIL RGB image`. The learned codecs (`aeutils.codec.coder.learned_codecs`) follow the
same protocol, so `aeutils.benchmark.compare` sweeps both the same way.

Every coder runs on one thread: AVIF and JPEG XL are told so (`max_threads=1`, `numthreads=1`),
HEVC (`aeutils.benchmark.hevc`) runs x265 without its thread pool; Pillow's JPEG, JPEG 2000 (OpenJPEG)
and WebP coders are single-threaded as Pillow calls them.

A codec whose library is missing is left out of `classical_codecs()` and named, with the reason, by
`unavailable_codecs()` (`aeutils compare-codecs --list` prints both).
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Callable, Protocol, runtime_checkable

import numpy as np
from PIL import AvifImagePlugin, Image

from aeutils.benchmark import hevc
from aeutils.images import to_rgb


@runtime_checkable
class Codec(Protocol):
    """What `aeutils.benchmark.compare` needs of a codec (classical or learned)."""

    name: str
    description: str
    qualities: list

    def encode(self, im: Image.Image, quality) -> bytes: ...

    def decode(self, data: bytes) -> Image.Image: ...


@dataclass
class ClassicalCodec:
    """A codec made of two functions. `search` is a dense list of knob values (increasing rate)
    used to hit a given file size (the equal-size face grid); `qualities` is the sweep."""

    name: str
    description: str
    qualities: list
    encode: Callable[[Image.Image, object], bytes]
    decode: Callable[[bytes], Image.Image]
    search: list = field(default_factory=list)
    kind: str = "classical"


def _pillow_encode(im: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    to_rgb(im).save(buf, format=fmt, **params)
    return buf.getvalue()


def _pillow_decode(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return to_rgb(im)


def _avif_decode(data: bytes) -> Image.Image:
    # Pillow reads the decoder's thread count from this module default when the file is opened.
    saved, AvifImagePlugin.DEFAULT_MAX_THREADS = AvifImagePlugin.DEFAULT_MAX_THREADS, 1
    try:
        return _pillow_decode(data)
    finally:
        AvifImagePlugin.DEFAULT_MAX_THREADS = saved


def _jpeg(subsampling: int) -> Callable:
    return lambda im, q: _pillow_encode(im, "JPEG", quality=int(q), subsampling=subsampling, optimize=True)


def _jpeg2000(im: Image.Image, target_bpp: float) -> bytes:
    # "rates" layers are compression ratios against the raw 24-bit image; mct=1 turns on the
    # colour transform (without it OpenJPEG codes R, G, B separately, 3-5 dB worse).
    return _pillow_encode(im, "JPEG2000", quality_mode="rates", quality_layers=[24.0 / float(target_bpp)],
                          irreversible=True, mct=1, no_jp2=True)


def _webp(im: Image.Image, q) -> bytes:
    return _pillow_encode(im, "WEBP", quality=int(q), method=6)


def _avif(speed: int) -> Callable:
    return lambda im, q: _pillow_encode(im, "AVIF", quality=int(q), subsampling="4:4:4", speed=speed,
                                        max_threads=1)


# AVIF at its slowest useful speed. Measured on 5 faces (3 VoxCeleb2 test frames, 2 CelebA test
# images; 2026-12-02, this 2-core CPU, one thread, qualities 20-85), BD-rate against speed 6 at equal
# PSNR / MS-SSIM: speed 2 -8.7% / -9.9% at 0.47-1.1 s of CPU per face, speed 1 -9.4% / -10.5% at
# 0.54-1.3 s, speed 6 itself 37-47 ms. Speed 0 (two faces, equal quality setting only) wrote files
# 0.3-0.7% smaller than speed 1 in 1.9 times its CPU time: not worth it, so speed 1.
AVIF_SLOW_SPEED = 1
# Quality 0 is libavif's coarsest (about 0.13 bpp on a 224x224 face).
_AVIF_Q = [0, 15, 30, 45, 60, 70, 80, 90]
# Fewer points (each encode takes about a second), reaching higher: quality 96 gives about 2 bpp
# on the VoxCeleb2 test frames.
_AVIF_SLOW_Q = [0, 20, 40, 60, 75, 88, 96]


def _jpegxl_encode(im: Image.Image, distance: float) -> bytes:
    import imagecodecs

    return bytes(imagecodecs.jpegxl_encode(np.asarray(to_rgb(im)), distance=float(distance), numthreads=1))


def _jpegxl_decode(data: bytes) -> Image.Image:
    import imagecodecs

    return Image.fromarray(np.asarray(imagecodecs.jpegxl_decode(data, numthreads=1), dtype=np.uint8), "RGB")


# Sweeps of 8-9 points from about 0.1-0.2 bpp to 2-3 bpp on faces (the dense `search` lists serve
# the equal-size face grid).
_JPEG_Q = [5, 10, 20, 35, 50, 65, 80, 90, 95]
_JXL_DISTANCES = [12, 7, 4.5, 3, 2, 1.3, 0.8, 0.5, 0.3]


# Codecs that cannot run here and why (checked when asked, so a test can take a library away).
VVC_REASON = ("no VVC encoder: PyAV's FFmpeg has a VVC decoder only (no libvvenc), and neither "
              "Debian nor PyPI packages vvenc")


def unavailable_codecs() -> dict[str, str]:
    """{name: reason} for the anchors left out of `classical_codecs()` on this machine."""
    missing = {"vvc-intra": VVC_REASON}
    if hevc.unavailable():
        missing["hevc444"] = hevc.unavailable()
    return missing


def _hevc_codecs() -> list[ClassicalCodec]:
    if hevc.unavailable():
        return []
    return [ClassicalCodec("hevc444", "HEVC intra 4:4:4 10-bit (x265 via PyAV, preset veryslow, tune psnr, "
                                      "one thread; as BPG codes stills); quality = QP",
                           hevc.QPS, hevc.encode, hevc.decode, search=list(range(51, -1, -1)))]


def classical_codecs() -> list[ClassicalCodec]:
    """JPEG 4:2:0 and 4:4:4, JPEG 2000, WebP, AVIF 4:4:4 (speed 6 and its slow best), JPEG XL and,
    where PyAV has libx265, HEVC intra 4:4:4, each with its sweep."""
    return [
        ClassicalCodec("jpeg420", "JPEG 4:2:0 (Pillow/libjpeg, optimised Huffman tables)", _JPEG_Q,
                       _jpeg(2), _pillow_decode, search=list(range(1, 101))),
        ClassicalCodec("jpeg444", "JPEG 4:4:4 (Pillow/libjpeg, optimised Huffman tables)", _JPEG_Q,
                       _jpeg(0), _pillow_decode, search=list(range(1, 101))),
        ClassicalCodec("jpeg2000", "JPEG 2000 (Pillow/OpenJPEG, 9/7 wavelet, colour transform on, "
                                   "J2K codestream); quality = target bpp",
                       [0.1, 0.15, 0.25, 0.4, 0.6, 1.0, 1.5, 2.25, 3.0], _jpeg2000, _pillow_decode,
                       search=[round(0.05 * 1.05 ** i, 4) for i in range(85)]),
        ClassicalCodec("webp", "WebP lossy (Pillow/libwebp, method 6)", [0, 15, 30, 45, 60, 75, 85, 95],
                       _webp, _pillow_decode, search=list(range(0, 101))),
        ClassicalCodec("avif444", "AVIF 4:4:4 (Pillow/libavif, speed 6, one thread)",
                       _AVIF_Q, _avif(6), _avif_decode, search=list(range(0, 101))),
        ClassicalCodec("avif444-slow", f"AVIF 4:4:4 (Pillow/libavif, speed {AVIF_SLOW_SPEED}, its best "
                                       "rate-distortion at a usable speed, one thread)",
                       _AVIF_SLOW_Q, _avif(AVIF_SLOW_SPEED), _avif_decode, search=list(range(0, 101, 4))),
        ClassicalCodec("jpegxl", "JPEG XL (imagecodecs/libjxl, effort 7, one thread); quality = distance",
                       _JXL_DISTANCES, _jpegxl_encode, _jpegxl_decode,
                       search=[round(25 * 0.93 ** i, 3) for i in range(75)]),
    ] + _hevc_codecs()
