"""How fast one training step of the face codec runs on this machine, in images (and pixels) a second.

Times the step `aeutils train codec` takes (forward at random quality levels, rate-distortion loss,
backward, Adam) on random inputs, so that data loading does not count, over the settings that decide
it: threads, batch and crop size, `channels_last`, `torch.compile`. Prints a table and writes it as
JSON. A benchmark, not a test: run it on an otherwise idle machine.

    .venv/bin/python scripts/bench_codec_step.py --out resources/codecs/train_speed.json
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from aeutils.codec import train as codec_train
from aeutils.models.hyperprior import DEFAULT_LAMBDAS, rate_distortion_loss

# (batch, crop): the cpu profile's whole faces pad to 192x256 / 256x256; --photos trains on crops
SHAPES = ((2, 256), (8, 192), (16, 128))


def images_per_second(batch: int, crop: int, threads: int, channels_last: bool, compiled: bool,
                      seconds: float) -> float:
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    model = codec_train.build_model(codec_train.hparams("cpu")).train()
    lambdas = torch.tensor(DEFAULT_LAMBDAS)
    x = torch.rand(batch, 3, crop, crop)
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    forward = torch.compile(model) if compiled else model
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-5)

    def step():
        q = torch.randint(0, len(DEFAULT_LAMBDAS), (batch,))
        loss = rate_distortion_loss(forward(x, q), x, lambdas[q])["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):  # warm-up (and compilation)
        step()
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        step()
        steps += 1
    return steps * batch / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=8.0, help="timed seconds per setting")
    p.add_argument("--out", type=Path, default=Path("runs/train_speed.json"))
    args = p.parse_args()
    rows = []

    def run(batch, crop, threads, channels_last, compiled):
        rate = images_per_second(batch, crop, threads, channels_last, compiled, args.seconds)
        rows.append({"batch": batch, "crop": crop, "threads": threads, "channels_last": channels_last,
                     "compile": compiled, "images_per_s": rate, "megapixels_per_s": rate * crop * crop / 1e6})
        print(f"batch {batch:2d} crop {crop}  threads {threads}  channels_last {channels_last!s:5}  "
              f"compile {compiled!s:5}  {rate:6.2f} images/s  {rows[-1]['megapixels_per_s']:.3f} Mpx/s", flush=True)

    for batch, crop in SHAPES:
        for threads in (1, 2):
            for channels_last in (False, True):
                run(batch, crop, threads, channels_last, False)
    best = max(rows, key=lambda r: r["megapixels_per_s"])
    run(best["batch"], best["crop"], best["threads"], best["channels_last"], True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"model": "face-codec cpu profile (N 64, M 128, residual blocks, context)",
                                    "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
