"""Encode / decode time of the shipped face codec on 224x224 faces, median of runs, per thread count.

Prints a table and writes resources/codecs/face_codec_timing.json. Usage:
    .venv/bin/python scripts/bench_codec.py [--model face-codec] [--runs 7]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from aeutils import codec, compare, config


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=codec.DEFAULT_CODEC)
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--images", type=int, default=5)
    args = p.parse_args()
    c = codec.load_codec(args.model)
    faces = [im for _, im in compare.dataset_images("voxceleb2", limit=args.images)]
    rows = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for q in (1, 4, 8):
            enc, dec = [], []
            for im in faces:
                data = c.encode(im, q)  # warm-up (first call builds kernels for the shape)
                c.decode(data)
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    data = c.encode(im, q)
                    t1 = time.perf_counter()
                    c.decode(data)
                    t2 = time.perf_counter()
                    enc.append(1000 * (t1 - t0))
                    dec.append(1000 * (t2 - t1))
            rows.append({"threads": threads, "quality": q, "encode_ms": statistics.median(enc),
                         "decode_ms": statistics.median(dec)})
            print(f"threads {threads} q{q}: encode {rows[-1]['encode_ms']:.1f} ms, decode {rows[-1]['decode_ms']:.1f} ms")
    out = {"model": c.name, "images": f"{len(faces)} VoxCeleb2 test frames, 224x224", "runs": args.runs,
           "machine": compare.machine(), "note": "decode synthesis always runs on one thread (determinism)",
           "results": rows}
    path = config.RESOURCES_DIR / "codecs" / "face_codec_timing.json"
    path.write_text(json.dumps(out, indent=1))
    print("wrote", path)


if __name__ == "__main__":
    main()
