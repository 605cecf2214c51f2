"""The file format of `aeutils compress`: every byte of it counts in the reported rate.

    magic "AEZ" | version u8 | kind u8 | name_len u8 | model name | model tag (4 bytes)
    | width u16 | height u16 | quality u8 | payload ... | CRC-32 of all preceding bytes (4 bytes)

`kind` says how the payload is coded: ENTROPY_CODED (the hyperprior's ANS stream: z, then y, in two
passes where the model has a checkerboard context; the model file says which) or
FIXED_LENGTH (the experiments' quantized autoencoder: float16 per-channel min/max, then the codes
packed at `num_bits` bits each). The model tag is derived from the model's weights, so a file
is never decoded by a different model that happens to share its name.

A file may declare at most MAX_PIXELS pixels (8192 x 8192): the header is checked against this
limit, and each codec checks it against the payload's length, before anything is allocated.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from aeutils.errors import UserError

MAGIC = b"AEZ"
VERSION = 1
ENTROPY_CODED, FIXED_LENGTH = 1, 2
_FIXED = struct.Struct(">3sBBB")
_SIZE = struct.Struct(">HHB")
MAX_PIXELS = 8192 * 8192


@dataclass
class Header:
    kind: int
    model: str
    tag: bytes  # 4 bytes identifying the exact weights
    width: int
    height: int
    quality: int


def pack(header: Header, payload: bytes) -> bytes:
    name = header.model.encode("ascii")
    if len(name) > 255 or len(header.tag) != 4:
        raise ValueError("model name too long or tag not 4 bytes")
    check_size(header.width, header.height)
    body = (_FIXED.pack(MAGIC, VERSION, header.kind, len(name)) + name + header.tag
            + _SIZE.pack(header.width, header.height, header.quality) + payload)
    return body + struct.pack(">I", zlib.crc32(body))


def unpack(data: bytes) -> tuple[Header, bytes]:
    """Parse and check a file; a foreign, truncated or corrupted one raises UserError."""
    if len(data) < _FIXED.size or data[:3] != MAGIC:
        raise UserError("not an aeutils compressed file (bad magic number)")
    _, version, kind, name_len = _FIXED.unpack_from(data)
    if version != VERSION:
        raise UserError(f"unsupported format version {version} (this aeutils reads version {VERSION})")
    start = _FIXED.size + name_len + 4 + _SIZE.size
    if len(data) < start + 4:
        raise UserError("truncated file")
    body, crc = data[:-4], struct.unpack(">I", data[-4:])[0]
    if zlib.crc32(body) != crc:
        raise UserError("corrupt or truncated file (checksum mismatch)")
    if kind not in (ENTROPY_CODED, FIXED_LENGTH):
        raise UserError(f"unknown payload kind {kind}")
    try:
        name = data[_FIXED.size:_FIXED.size + name_len].decode("ascii")
    except UnicodeDecodeError:
        raise UserError("corrupt file header (model name)") from None
    tag = data[_FIXED.size + name_len:_FIXED.size + name_len + 4]
    width, height, quality = _SIZE.unpack_from(data, _FIXED.size + name_len + 4)
    check_size(width, height)
    return Header(kind, name, tag, width, height, quality), body[start:]


def check_size(width: int, height: int) -> None:
    """Refuse an image size the format does not hold: sides 1..65535, at most MAX_PIXELS pixels."""
    if not (0 < width < 65536 and 0 < height < 65536) or width * height > MAX_PIXELS:
        raise UserError(f"image size {width}x{height} is outside the format's limits "
                        f"(sides 1..65535, at most {MAX_PIXELS:,} pixels, e.g. 8192x8192)")
