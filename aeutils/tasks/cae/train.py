"""Training one experiment (`train_experiment`) and `main(argv)` behind `aeutils train cae --experiment N`:

    hparams(n, profile) -> build_model -> fit (aeutils.train) -> best.pt chosen on CelebA validation
                        -> evaluate_test (once, final model) -> results JSON + figure

Multi-GPU: run under `torchrun --nproc_per_node K -m aeutils train cae ...`; the processes train one
DistributedDataParallel model (NCCL on GPUs, gloo on CPU), rank 0 validates, checkpoints and
writes the results. On CUDA the forward pass runs in bfloat16 autocast (mixed precision);
`--precision bf16` asks for the same on the CPU, so that path can be checked without a GPU.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from aeutils import config
from aeutils.datasets import sources
from aeutils.errors import UserError
from aeutils.models.cae import CompressiveAutoencoder
from aeutils.options import OneLineParser, add_training_options, positive_float
from aeutils.tasks.cae.data import train_dataset, validation_images
from aeutils.tasks.cae.evaluate import evaluate_test, image_grids, quality, reconstruct
from aeutils.tasks.cae.hparams import ORIGINAL, PURPOSE, SCHEDULES, Hparams, build_model, hparams
from aeutils.tasks.cae.runs import results_path, run_dir_for
from aeutils.train import LoopConfig, fit, load_best, make_run_dir, pick_device, seed_all


def _distributed(device: torch.device) -> tuple[int, int]:
    """Join the torchrun process group when there is one: (rank, world size)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), world


def _start_second_stage(model: CompressiveAutoencoder, hp: Hparams, profile: str, progress: bool) -> None:
    """Load the earlier experiment's best weights (training it first if it has not been run), then
    freeze the encoder and switch the quantizer on."""
    first = hparams(hp.start_from, profile, hp.upsample, hp.schedule)
    first_dir = run_dir_for(first, profile)
    if not (first_dir / "best.pt").exists():
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise UserError(f"experiment {hp.number} starts from experiment {hp.start_from}: train that first")
        print(f"experiment {hp.number} starts from experiment {hp.start_from}, which has no run yet: training it")
        train_experiment(hp.start_from, profile, device=hp.device, precision=hp.precision, schedule=hp.schedule,
                         progress=progress)
    load_best(model, first_dir)


def train_experiment(number: int, profile: str | None = None, *, run_dir: str | Path | None = None,
                     steps: int | None = None, minutes: float | None = None, lr: float | None = None,
                     device: str = "auto", upsample: str = "subpixel", progress: bool = True, test: bool = True,
                     train: bool = True, precision: str = "auto", schedule: str = "original",
                     jpeg2000: bool = True) -> dict:
    """Train experiment `number` at a profile (resuming its run), then evaluate the final model on
    the test sets once and write its results JSON. Returns the results (on rank 0; {} elsewhere).
    `train=False` only (re-)evaluates the run's best checkpoint; `jpeg2000=False` leaves JPEG 2000
    out of the test results (it needs imagecodecs, which a GPU machine may lack)."""
    profile = config.get_profile(profile)
    hp = hparams(number, profile, upsample, schedule)
    if lr and hp.lr_final is not None:  # the schedule keeps its shape at another starting rate
        hp = replace(hp, lr_final=hp.lr_final * lr / hp.lr)
    hp = replace(hp, steps=hp.steps if steps is None else steps, minutes=minutes if minutes is not None else hp.minutes,
                 lr=lr or hp.lr, device=device, precision=precision)
    run_dir = Path(run_dir) if run_dir else run_dir_for(hp, profile)
    if not train and not (run_dir / "summary.json").exists():
        raise UserError(f"{run_dir} holds no finished run to evaluate")
    dev = pick_device(device)
    rank, world = _distributed(dev)
    seed = 1000 * number + rank
    seed_all(seed)

    model = build_model(hp, quantize=False).to(dev)
    notes = {}
    own_dir = run_dir if rank == 0 else run_dir / f".rank{rank}"
    if hp.start_from:
        fresh = not (run_dir / "last.pt").exists()
        if fresh:
            _start_second_stage(model, hp, profile, progress and rank == 0)
        model.freeze_encoder()
        model.quantize = True
        start_file = run_dir / "stage2_start.json"
        if fresh and rank == 0:
            make_run_dir(run_dir)
            val = validation_images(hp, profile)
            start = quality(val, reconstruct(model, val, dev), with_ssim=False)
            start_file.write_text(json.dumps({"val_psnr_quantized_before_stage2": start["psnr"]}))
        if start_file.exists():
            notes.update(json.loads(start_file.read_text()))
    if world > 1:
        # Every rank resumes from rank 0's last checkpoint, so all take the same steps.
        own_dir.mkdir(parents=True, exist_ok=True)
        if rank != 0 and (run_dir / "last.pt").exists():
            shutil.copyfile(run_dir / "last.pt", own_dir / "last.pt")
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    else:
        net = model

    train_set, used = train_dataset(hp, profile)
    worker_options = sources.worker_options(hp.num_workers)
    loader = DataLoader(train_set, batch_size=hp.batch_size, shuffle=True, drop_last=len(train_set) >= hp.batch_size,
                        pin_memory=dev.type == "cuda", generator=torch.Generator().manual_seed(seed), **worker_options)
    amp = hp.precision == "bf16" or (hp.precision == "auto" and dev.type == "cuda")
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop and batch sizes: let cuDNN pick its fastest kernels

    def step_fn(_model, batch):
        x = batch.to(dev, non_blocking=True)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            x_hat = net(x)["x_hat"]
        mse = F.mse_loss(x_hat.float(), x)
        return {"loss": mse, "psnr_float": -10 * torch.log10(mse.detach().clamp_min(1e-10))}

    val = validation_images(hp, profile) if rank == 0 else []
    grid_images = [x[:, :96, :96] for x in val[:8]]

    def evaluate(m):
        if rank != 0:
            return {"psnr": 0.0}  # only rank 0 chooses checkpoints
        return quality(val, reconstruct(m, val, dev), with_ssim=False)

    cfg = LoopConfig(max_steps=hp.steps, lr=hp.lr, lr_final=hp.lr_final, val_every=hp.inference_freq,
                     image_every=hp.inference_freq,
                     ckpt_every=hp.checkpointing_freq, max_minutes=hp.minutes if world == 1 else None,
                     progress=progress and rank == 0, validate_start=bool(hp.start_from),
                     hparams={**{k: v for k, v in asdict(hp).items() if k != "sources"},
                              "sources": "+".join(hp.sources), "profile": profile, "world_size": world,
                              "device_type": dev.type, "autocast_bf16": amp})
    if train:
        summary = fit(model, step_fn, loader, evaluate, own_dir, cfg,
                      images=(lambda m: image_grids(m, grid_images, dev)) if rank == 0 else None)
    else:
        summary = json.loads((run_dir / "summary.json").read_text())
    if world > 1:
        torch.distributed.barrier()
    if rank != 0 or not test:
        return {}
    load_best(model, run_dir)
    threads = training_threads(summary)
    results = {
        "experiment": number, "name": hp.name, "purpose": PURPOSE[number], "profile": profile,
        "hparams": {**asdict(hp), "sources": list(hp.sources)},
        "training_data": used, "model_parameters": sum(p.numel() for p in model.parameters()),
        "device": describe_device(dev, world, threads), "threads": threads,
        "steps": summary["steps"], "train_seconds": summary["train_seconds"],
        "stopped_by": "steps" if summary["steps"] >= hp.steps else "wall-clock budget",
        "best_validation": summary["best"], **notes,
        "test": evaluate_test(model, hp, profile, dev, jpeg2000),
        "original": ORIGINAL[number],
        "measured": "PSNR/SSIM per image on clamped 8-bit RGB, averaged; checkpoint chosen on CelebA "
                    "validation identities; test sets evaluated once for this final model; bpp from "
                    "the formula in aeutils.tasks.cae.latent_bpp (file sizes: `aeutils compress`)",
    }
    out = results_path(hp, profile, run_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    return results


def describe_device(dev: torch.device, world: int = 1, threads: int | None = None) -> str:
    if dev.type == "cuda":
        return f"{world} x {torch.cuda.get_device_name(dev)}"
    threads = threads or torch.get_num_threads()
    return f"{world} process(es) on a {os.cpu_count()}-core CPU (no GPU), {threads} thread(s) each"


def training_threads(summary: dict) -> int:
    """The thread count of the last session that trained (a finished run evaluated again, e.g. by
    `make notebooks`, keeps the count it trained with); this process's for runs that predate the record."""
    trained = [s for s in summary.get("sessions", []) if s["from_step"] < summary["steps"] and "threads" in s]
    return trained[-1]["threads"] if trained else torch.get_num_threads()


def main(argv: list[str] | None = None) -> int:
    """`aeutils train cae --experiment N`: train one of the seven experiments (see --help)."""
    p = OneLineParser(prog="aeutils train cae",
                      description="The seven compression experiments of the original report (seed-report.md), as "
                                  "data and one training function shared by notebooks 01-07 and `aeutils train cae "
                                  "--experiment N`.")
    p.add_argument("--experiment", type=int, required=True, choices=range(1, 8), metavar="N",
                   help="experiment number 1-7 (seed-report.md)")
    add_training_options(p, run_dir="runs/<profile>/experimentN",
                         minutes_note="; ignored under torchrun, where every process must stop at the same step")
    p.add_argument("--lr", type=positive_float, default=None, help="Adam learning rate (default: the profile's)")
    p.add_argument("--device", default="auto", help="auto (a GPU if there is one), cpu, cuda or cuda:K")
    p.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                   help="forward pass in bfloat16 autocast (auto: on CUDA only) or float32")
    p.add_argument("--schedule", choices=SCHEDULES, default="original",
                   help="paper profile: the original's learning rates and epochs, or gpu (GPU_SCHEDULE: "
                        "meant for hours on one GPU, untested so far; runs in runs/paper-gpu/)")
    p.add_argument("--upsample", choices=("subpixel", "transposed"), default="subpixel",
                   help="decoder upsampler (transposed: the checkerboard comparison of experiment 1)")
    p.add_argument("--no-test", action="store_true", help="skip the final test evaluation")
    p.add_argument("--no-jpeg2000", action="store_true",
                   help="leave JPEG 2000 out of the test evaluation (it needs imagecodecs)")
    p.add_argument("--no-train", action="store_true",
                   help="only evaluate the run's best checkpoint on the test sets (rewrites its results JSON)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.time()
    try:
        res = train_experiment(args.experiment, args.profile, run_dir=args.run_dir, steps=args.steps,
                               minutes=args.minutes, lr=args.lr, device=args.device, upsample=args.upsample,
                               progress=not args.no_progress, test=not args.no_test, train=not args.no_train,
                               precision=args.precision, schedule=args.schedule, jpeg2000=not args.no_jpeg2000)
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    for name, r in res.get("test", {}).items():
        j = r.get("jpeg2000")
        print(f"{res['name']} {name}: PSNR {r['psnr']:.2f} dB, SSIM {r['ssim']:.4f}, {r['bpp']:.3f} bpp "
              f"(ratio {r['ratio']:.2f})" + (f"; JPEG 2000 at {j['bpp']:.3f} bpp: {j['psnr']:.2f} dB" if j else ""))
    if res:
        print(f"done in {time.time() - start:.0f} s")
    return 0
