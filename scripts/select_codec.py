"""Choose between face-codec candidates on validation images, from real files.

Each candidate (a run folder's best.pt / last.pt, or a shipped .pt) is exported as the coder ships it
and swept over its quality levels on validation images only, of the three sources the trainer validates
on (`photos.validation_faces`: CelebA identities 160-169, the VoxCeleb2 validation identity's frames,
the even-numbered lfw-val images), beside JPEG 2000 and AVIF on the same images; it prints the BD-rate
of each against both and writes the sweeps to a JSON file. The test split is never read.

    python scripts/select_codec.py runs/codec-res/best.pt weights/face-codec.pt --out runs/select.json
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import torch

from aeutils import checkpoint, zoo
from aeutils.benchmark import compare
from aeutils.benchmark.classical import classical_codecs
from aeutils.codec import train as codec_train
from aeutils.codec.coder import FaceCodec
from aeutils.datasets import photos
from aeutils.images import to_image

ANCHORS = ("jpeg2000", "avif444")


def validation_images(per_source: int) -> dict[str, list]:
    """{source-val: [(id, image)]}: up to `per_source` whole validation images of each source."""
    faces = photos.validation_faces("cpu", per_source)
    return {f"{name}-val": [(f"{name}-{i}", to_image(x)) for i, x in enumerate(images)]
            for name, images in faces.items()}


def candidate_codec(path: Path, folder: Path) -> FaceCodec:
    """A run checkpoint or shipped file, exported exactly as `aeutils compress` would use it, under the
    shipped name: a file's header carries the model's name, so candidates named otherwise would differ
    by a few bytes a file (0.3-0.5% of BD-rate on validation faces for 7 more bytes)."""
    out = folder / f"{len(list(folder.iterdir()))}" / "face-codec.pt"
    out.parent.mkdir()
    if "task" in checkpoint.load(path):  # already a shipped file
        shutil.copy(path, out)
    else:
        codec_train.export_checkpoint(path, out)
    return zoo.load(str(out), task="codec")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("candidates", nargs="+", type=Path)
    p.add_argument("--per-source", type=int, default=24, help="validation images of each source")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("runs/select-codec.json"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    sets = validation_images(args.per_source)
    anchors = [c for c in classical_codecs() if c.name in ANCHORS]
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        codecs = [candidate_codec(c, Path(tmp)) for c in args.candidates]
        for key, images in sets.items():
            base = {a.name: compare.sweep(a, images, key) for a in anchors}
            report[key] = {"anchors": base, "candidates": {}}
            for path, codec in zip(args.candidates, codecs):
                r = compare.sweep(codec, images, key)
                bd = {a: compare.bd_rate_of(base[a], r) for a in ANCHORS}
                report[key]["candidates"][str(path)] = {"bd_rate": bd, "sweep": r}
                print(f"{key:14s} {str(path):40s} " + "  ".join(
                    f"vs {a}: {v:+.1f}%" if v is not None else f"vs {a}: n/a" for a, v in bd.items()),
                    flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
