"""Golden files: the `.aez` format and both decoders pinned by committed bytes and hashes.

tests/golden/face-q3.aez and cae-exp7.aez were written once (format version 1) by the shipped
face-codec at quality 3 and cae-exp7 from `golden_face()`. A failing test here means the file
format or a decoder changed, so files people already have would decode differently or not at all:
bump `bitstream.VERSION` (keeping a reader for the old version), do not just update the hash. Only
when a shipped model was replaced on purpose (a new tag: old files are refused by design) are the
golden files re-made, with `coder.load_codec(name).encode(golden_face(), quality)`.
Encoding runs the analysis transform in float; it gave the same bytes on 1, 2 and 4 threads here,
so it is pinned too. If only the encode test fails on another CPU while decoding passes, that CPU
rounded a latent across a boundary: look before changing anything.
"""
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from aeutils import zoo
from aeutils.codec import coder
from aeutils.images import sample_faces

GOLDEN = Path(__file__).parent / "golden"
# name: (quality, golden file, SHA-256 of that file, SHA-256 of the decoded RGB bytes (90, 70, 3))
CASES = {
    "face-codec": (3, "face-q3.aez", "3fe4ef10169a97348eb6775383e527f8cd8686b25b41709202f5a230fb1f110d",
                   "c51da74910f6641fa9c1d54311d58b25b4ef0ccf32d9a04599566d167df761c6"),
    "cae-exp7": (None, "cae-exp7.aez", "a5c68c5ca0f1efac22adc4466d591d26190b0ba1b011bfab17b7ac2f0daab958",
                 "8cc636cfb867166bd5fa46ff3583c1eb7413474c41ef4c57c017599ecd9a0f08"),
}
codecs = pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.skipif(
    n not in zoo.list_names(), reason=f"{n} not shipped")) for n in CASES])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def golden_face():
    """The fixed input: 70x90 of scikit-image's astronaut face (public domain), a multiple of
    neither codec's stride, so padding is pinned too."""
    return sample_faces()["astronaut"].crop((21, 24, 91, 114))


@codecs
def test_golden_file_decodes_to_the_pinned_pixels(name):
    _, file, file_hash, pixels_hash = CASES[name]
    data = (GOLDEN / file).read_bytes()
    assert sha256(data) == file_hash, "the committed golden file itself changed"
    c = coder.load_codec(name)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        pixels = np.asarray(c.decode(data))
        assert pixels.shape == (90, 70, 3) and sha256(pixels.tobytes()) == pixels_hash, threads


@codecs
def test_encoding_the_golden_face_writes_the_golden_file(name):
    quality, _, file_hash, _ = CASES[name]
    c = coder.load_codec(name)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        assert sha256(c.encode(golden_face(), quality)) == file_hash, threads
