"""HEVC intra (x265 through PyAV), coded the way BPG codes a still image: YCbCr 4:4:4, BT.601 full
range (JFIF), one intra frame, fixed QP; 10 bits per sample (BPG's `-b 10`; see BIT_DEPTH).

The file is the raw HEVC Annex-B stream (VPS, SPS, PPS, one slice): it carries the picture size
(with a conformance window where x265 pads to its 8-pixel coding grid) and, in its VUI, the colour
matrix and range, so nothing needs adding to make it decodable; the padding's bits are inside it and
counted. x265's version SEI (`info`) is turned off, as BPG strips it: it is about 2 KB of text.
One thread (`pools=none`, `frame-threads=1`, no wavefronts), so the bytes are the same on any machine.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
from PIL import Image

from aeutils.images import to_rgb

ENCODER = "libx265"
# 10 bits: the 8-bit YCbCr round trip alone caps PSNR at about 52 dB, and measured on five faces
# 10-bit coding reached 0.1-1.1 dB more than 8-bit at the same rate (more at higher rates).
BIT_DEPTH = 10
PIX_FMT = "yuv444p10le"
# JFIF / BT.601 full-range RGB -> YCbCr (rows Y, Cb, Cr; Cb and Cr centred on 0 here).
RGB_TO_YCC = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
# preset "veryslow" and tune "psnr" (no psycho-visual tuning, what a PSNR comparison wants);
# `qp` is added per call. BPG's default is QP 29 in the same 0-51 scale.
X265_PARAMS = ("keyint=1:min-keyint=1:pools=none:frame-threads=1:wpp=0:lookahead-slices=0:info=0:"
               "range=full:colormatrix=smpte170m:log-level=none")
# Decreasing QP = increasing rate: about 0.05 to 2.5 bpp on faces.
QPS = [51, 46, 42, 38, 34, 30, 26, 22, 18, 14, 10]


def unavailable() -> str | None:
    """Why the HEVC anchor cannot run here (None when it can): PyAV or its libx265 encoder missing."""
    try:
        import av

        av.codec.Codec(ENCODER, "w")
    except ImportError:
        return "PyAV (`av`) is not installed"
    except Exception:  # PyAV raises its own error class for an unknown codec
        return f"this PyAV build has no {ENCODER} encoder"
    return None


def encode(im: Image.Image, qp) -> bytes:
    """One image as an HEVC intra frame at quantiser `qp` (0-51): the raw Annex-B stream."""
    import av

    im = to_rgb(im)
    ctx = av.CodecContext.create(ENCODER, "w")
    ctx.width, ctx.height, ctx.pix_fmt = im.width, im.height, PIX_FMT
    ctx.time_base = Fraction(1, 25)
    ctx.thread_count = 1
    ctx.options = {"preset": "veryslow", "tune": "psnr", "x265-params": f"{X265_PARAMS}:qp={int(qp)}"}
    frame = _frame(to_ycc(np.asarray(im)))
    return b"".join(bytes(p) for p in ctx.encode(frame) + ctx.encode(None))


def decode(data: bytes) -> Image.Image:
    """The stream back to an RGB image (PyAV's HEVC decoder, one thread; then `to_rgb_array`)."""
    import av

    ctx = av.CodecContext.create("hevc", "r")
    ctx.thread_count = 1
    frames = [f for p in ctx.parse(data) + ctx.parse(None) for f in ctx.decode(p)] + ctx.decode(None)
    if len(frames) != 1:
        raise ValueError(f"expected one HEVC picture, got {len(frames)}")
    return Image.fromarray(to_rgb_array(_planes(frames[0])), "RGB")


def to_ycc(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) 8-bit RGB -> (3, H, W) full-range YCbCr of BIT_DEPTH bits, rounded."""
    top = 2 ** BIT_DEPTH - 1
    ycc = np.einsum("ij,hwj->ihw", RGB_TO_YCC, rgb.astype(np.float64) / 255) * top
    ycc[1:] += 2 ** (BIT_DEPTH - 1)
    return np.clip(np.round(ycc), 0, top).astype(np.uint16)


def to_rgb_array(ycc: np.ndarray) -> np.ndarray:
    """The inverse of `to_ycc`, rounded and clamped to 8-bit RGB (H, W, 3)."""
    top = 2 ** BIT_DEPTH - 1
    x = ycc.astype(np.float64)
    x[1:] -= 2 ** (BIT_DEPTH - 1)
    rgb = np.einsum("ij,jhw->hwi", np.linalg.inv(RGB_TO_YCC), x / top) * 255
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def _frame(ycc: np.ndarray):
    """A PyAV frame holding (3, H, W) planes (PyAV has no ndarray conversion for 10-bit 4:4:4)."""
    import av

    frame = av.VideoFrame(ycc.shape[2], ycc.shape[1], PIX_FMT)
    for plane, values in zip(frame.planes, ycc):
        padded = np.zeros((values.shape[0], plane.line_size // values.itemsize), np.uint16)
        padded[:, :values.shape[1]] = values
        plane.update(padded.tobytes())
    return frame


def _planes(frame) -> np.ndarray:
    """(3, H, W) planes of a decoded frame, whatever the rows' padding."""
    return np.stack([np.frombuffer(p, np.uint16).reshape(p.height, -1)[:, :p.width] for p in frame.planes])
