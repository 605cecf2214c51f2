"""Training throughput of each experiment's model: images per second of one optimizer step
(forward, backward, Adam) at 64x64 and 224x224, on the CPU (threads as given) or a GPU (bfloat16
autocast, as the trainer runs it). Prints a table and merges the numbers into
resources/experiments/throughput.json under this device's name.

    .venv/bin/python scripts/bench_training.py                      # paper-size models, this CPU
    .venv/bin/python scripts/bench_training.py --profile cpu        # the narrow cpu-profile models
    .venv/bin/python scripts/bench_training.py --device cuda --batch 32
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from aeutils.images import atomic_write_bytes
from aeutils.tasks import cae


def images_per_second(number: int, profile: str, size: int, batch: int, device: torch.device, repeats: int) -> float:
    """Median over `repeats` timed steps (after one warm-up step) of batch / step time."""
    hp = cae.hparams(number, profile)
    model = cae.build_model(hp).to(device)
    if hp.start_from:
        model.freeze_encoder()
    model.train()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=hp.lr)
    x = torch.rand(batch, 3, size, size, device=device)
    times = []
    for i in range(1 + repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            x_hat = model(x)["x_hat"]
        loss = F.mse_loss(x_hat.float(), x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 1:
            times.append(time.perf_counter() - t)
    return batch / statistics.median(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="paper", choices=("paper", "cpu"), help="whose model sizes (default paper)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--sizes", default="64,224")
    p.add_argument("--out", default=str(cae.RESULTS_DIR / "throughput.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = cae.pick_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"{os.cpu_count()}-core CPU, {args.threads} thread(s)"
    rows, measured = {}, {}
    for n in range(1, 8):
        hp = cae.hparams(n, args.profile)
        arch = (hp.hidden_state_num_channels, hp.width, hp.quantize, bool(hp.start_from))
        rows[f"experiment{n}"] = {"channels": hp.hidden_state_num_channels, "width": hp.width,
                                  "quantize": hp.quantize, "frozen_encoder": bool(hp.start_from)}
        for size in (int(s) for s in args.sizes.split(",")):
            # Experiments 6 and 7 train the same architectures as 4 and 5: measured once.
            if (arch, size) not in measured:
                measured[arch, size] = images_per_second(n, args.profile, size, args.batch, device, args.repeats)
            ips = measured[arch, size]
            rows[f"experiment{n}"][f"images_per_s_{size}"] = round(ips, 2)
            print(f"experiment{n} ({args.profile} width {hp.width}, C={hp.hidden_state_num_channels}"
                  f"{', quantized, encoder frozen' if hp.start_from else ''}) {size}x{size}: {ips:.2f} images/s",
                  flush=True)
    record = {"device": name, "profile_models": args.profile, "batch": args.batch, "threads": args.threads,
              "load_average_1min": round(os.getloadavg()[0], 2), "amp": "bfloat16" if device.type == "cuda" else None,
              "torch": torch.__version__, "models": rows}
    path = Path(args.out)
    data = json.loads(path.read_text()) if path.exists() else {}
    data[f"{name} / {args.profile} models"] = record
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps(data, indent=2).encode())
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
