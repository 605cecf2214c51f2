"""A tiny VoxCeleb2-shaped tree of real H.264 clips, encoded at run time from the sample faces, so
the compiler's notebook and tests run where the real dataset is absent (smoke profile, CI).

Each clip pans slowly over one face and carries a time marker: the top-left 16x16 block is gray
level `4 * frame_index` (mod 256). The clips are lossless H.264 (crf 0), so after the RGB -> YUV ->
RGB round trip the level is within 1 of that, and a test can tell which frame the compiler kept.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from aeutils.datasets.sources import smoke_images

# partition -> identity -> video -> {utterance: seconds}; durations chosen so the 10 s rule keeps
# 1, 2 and 3 frames from different clips.
LAYOUT = {
    "dev": {
        "id90001": {"vidA0001": {"00001": 3.0, "00002": 12.0}},
        "id90002": {"vidB0001": {"00001": 4.0}, "vidB0002": {"00001": 3.0}},
        "id90003": {"vidC0001": {"00001": 3.0}},
    },
    "test": {
        "id90004": {"vidD0001": {"00001": 21.0, "00002": 3.0}},
    },
}
MARKER = 16  # side of the time-marker block, in pixels


def marker_level(frame_index: int) -> int:
    """The gray level of the time marker in frame `frame_index` (wraps every 64 frames)."""
    return (4 * frame_index) % 256


def encode_clip(path: str | Path, face, seconds: float, fps: int = 5, size: int = 64) -> None:
    """Write an H.264 mp4 of `seconds` at `fps`: a pan over `face` (PIL image) with the time marker."""
    src = np.asarray(face.resize((size + 16, size + 16)), dtype=np.uint8)
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "0", "preset": "ultrafast"}
        stream.codec_context.time_base = Fraction(1, fps)
        for i in range(round(seconds * fps)):
            shift = i % 16
            arr = src[shift:shift + size, shift:shift + size].copy()
            arr[:MARKER, :MARKER] = marker_level(i)
            frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def voxceleb2_tree(root: str | Path, mp4_level: bool = True, layout: dict | None = None,
                   fps: int = 5, size: int = 64) -> Path:
    """Build `root/{dev,test}/[mp4/]<identity>/<video>/<utterance>.mp4` from `layout` (default
    LAYOUT: 4 identities, 7 clips, well under a second to encode) and return `root`."""
    root = Path(root)
    layout = layout or LAYOUT
    identities = sorted(i for part in layout.values() for i in part)
    faces = smoke_images(n=len(identities), size=96, seed=7)
    for partition, by_identity in layout.items():
        base = root / partition / "mp4" if mp4_level else root / partition
        for identity, videos in by_identity.items():
            face = faces[identities.index(identity)]
            for video, utterances in videos.items():
                (base / identity / video).mkdir(parents=True, exist_ok=True)
                for utterance, seconds in utterances.items():
                    encode_clip(base / identity / video / f"{utterance}.mp4", face, seconds, fps, size)
    return root
