"""The training loop every notebook shares.

One loop for all models: the model-specific part is a `step_fn(model, batch) -> {"loss": ..., ...}`
and an `evaluate(model) -> {"psnr": ..., ...}` on the validation split. The loop logs every key to
TensorBoard, checkpoints atomically (`last.pt` to resume, `best.pt` chosen on validation), stops at
a step count or a wall-clock budget, and resumes where it stopped when run again.

A resumed run starts from `last.pt`, which may be older than `best.pt` and than the TensorBoard
events (a run killed between checkpoints): it takes the best score from `best.pt` itself, and its
event writer purges the steps it will log again. Ctrl-C saves `last.pt` before stopping.
"""
from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import torch
from tqdm.auto import tqdm

from aeutils import checkpoint
from aeutils.errors import UserError
from aeutils.tb import Logger


@dataclass
class LoopConfig:
    """How long and how often: the part of an experiment's hparams that the loop itself uses."""

    max_steps: int
    lr: float = 1e-4
    lr_final: float | None = None  # cosine decay from lr to lr_final over max_steps; None = constant lr
    weight_decay: float = 0.0
    val_every: int = 500
    image_every: int = 1000
    ckpt_every: int = 200
    max_minutes: float | None = None  # wall-clock budget (cpu profile); None = until max_steps
    select_key: str = "psnr"  # validation metric that picks best.pt
    select_mode: str = "max"
    validate_start: bool = False  # a fine-tune: the weights it starts from compete for best.pt at step 0
    grad_clip: float | None = 1.0
    progress: bool = True
    hparams: dict = field(default_factory=dict)  # everything else, recorded with the run


def seed_all(value: int) -> None:
    """Seed both generators training data draws from: torch's (shuffles, photo crops, damage) and
    Python's (`FaceImages`' random crops and flips). Seeding torch's alone left notebook 10's 250-step
    runs different at every render (up to 3.3 ab units on Kodak, measured 2026-12-03)."""
    random.seed(value)
    torch.manual_seed(value)


def pick_device(name: str = "auto") -> torch.device:
    """`auto`: this process's GPU under torchrun (LOCAL_RANK), else the first GPU, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError("--device cuda asked for, but no CUDA GPU is available")
        if name == "cuda":
            name = f"cuda:{os.environ.get('LOCAL_RANK', 0)}"
    return torch.device(name)


def learning_rate(cfg: LoopConfig, step: int) -> float:
    """The learning rate of `step`: constant, or cosine-decayed to `lr_final` at `max_steps` (a
    function of the step alone, so a resumed run continues the same schedule)."""
    if cfg.lr_final is None:
        return cfg.lr
    t = min(step / max(cfg.max_steps, 1), 1.0)
    return cfg.lr_final + (cfg.lr - cfg.lr_final) * 0.5 * (1 + math.cos(math.pi * t))


def infinite(loader: Iterable):
    """Cycle a DataLoader forever (a new shuffle each pass); an empty one is an error, not a hang."""
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise UserError("the training data gives no batch: fewer images than --batch-size?")


def fit(
    model: torch.nn.Module,
    step_fn: Callable[[torch.nn.Module, object], dict],
    train_loader: Iterable,
    evaluate: Callable[[torch.nn.Module], dict],
    run_dir: str | Path,
    cfg: LoopConfig,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    images: Callable[[torch.nn.Module], dict[str, torch.Tensor]] | None = None,
    params: Iterable[torch.nn.Parameter] | None = None,
) -> dict:
    """Train `model` until `cfg.max_steps` (or `cfg.max_minutes`), resuming from `run_dir/last.pt`.

    Returns a summary: steps done, the best validation metrics and where best.pt is."""
    run_dir = make_run_dir(run_dir)
    for tmp in run_dir.glob(".*.pt.*.tmp"):  # what a run killed while saving a checkpoint left
        tmp.unlink()
    if optimizer is None:
        trainable = [p for p in (params if params is not None else model.parameters()) if p.requires_grad]
        optimizer = torch.optim.Adam(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sign = 1.0 if cfg.select_mode == "max" else -1.0
    state = {"step": 0, "best": -math.inf, "best_metrics": {}, "seconds": 0.0}
    last = run_dir / "last.pt"
    if last.exists():
        ck = checkpoint.load(last)
        load_weights(model, ck["model"], last)
        optimizer.load_state_dict(ck["optimizer"])
        for group in optimizer.param_groups:  # the learning rate asked for now wins (e.g. a final low-lr phase)
            group["lr"] = cfg.lr
        state = ck["state"]
        same_key = state.get("select_key", "psnr") == cfg.select_key
        if not same_key:  # best.pt was chosen on another metric: the next validation replaces it
            state["best"], state["best_metrics"] = -math.inf, {}
        torch.set_rng_state(ck["rng"])
        # what earlier sessions recorded (e.g. the weights they started from) stays unless set anew
        cfg.hparams = {**ck.get("hparams", {}), **{k: v for k, v in cfg.hparams.items() if v is not None}}
        best = run_dir / "best.pt"
        if best.exists() and same_key:  # it may have improved after last.pt was saved
            metrics = checkpoint.load(best)["metrics"]
            if cfg.select_key in metrics and sign * metrics[cfg.select_key] > state["best"]:
                state["best"], state["best_metrics"] = sign * metrics[cfg.select_key], metrics
    state["select_key"] = cfg.select_key
    state.setdefault("sessions", []).append({"from_step": state["step"], "lr": cfg.lr,
                                            "threads": torch.get_num_threads()})

    def save_last():
        checkpoint.save(
            {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "state": state,
             "rng": torch.get_rng_state(), "hparams": cfg.hparams},
            last,
        )

    def validate():
        model.eval()
        with torch.no_grad():
            metrics = evaluate(model)
        model.train()
        log.scalars({f"val/{k}": v for k, v in metrics.items()}, state["step"])
        score = sign * metrics[cfg.select_key]
        if score > state["best"]:
            state["best"], state["best_metrics"] = score, dict(metrics, step=state["step"])
            checkpoint.save({"model": model.state_dict(), "metrics": state["best_metrics"],
                             "hparams": cfg.hparams}, run_dir / "best.pt")
        return metrics

    # events after the resumed step were logged by a session that did not checkpoint them
    log = Logger(run_dir, purge_step=state["step"] + 1)
    model.train()
    batches = infinite(train_loader)
    if cfg.validate_start and state["step"] == 0:
        validate()
    start, session_start = state["seconds"], time.time()
    bar = tqdm(total=cfg.max_steps, initial=state["step"], disable=not cfg.progress, desc=run_dir.name)
    try:
        while state["step"] < cfg.max_steps:
            if cfg.max_minutes is not None and (time.time() - session_start) / 60 >= cfg.max_minutes:
                break
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(cfg, state["step"])
            out = step_fn(model, next(batches))
            optimizer.zero_grad(set_to_none=True)
            out["loss"].backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(
                    [p for g in optimizer.param_groups for p in g["params"]], cfg.grad_clip)
            optimizer.step()
            state["step"] += 1
            state["seconds"] = start + time.time() - session_start
            bar.update(1)
            if state["step"] % 20 == 0:
                log.scalars({**{f"train/{k}": float(v.detach() if torch.is_tensor(v) else v)
                                for k, v in out.items()}, "train/lr": optimizer.param_groups[0]["lr"]},
                            state["step"])
            if state["step"] % cfg.val_every == 0:
                validate()
            if images is not None and state["step"] % cfg.image_every == 0:
                model.eval()
                with torch.no_grad():
                    for tag, grid in images(model).items():
                        log.images(tag, grid, state["step"])
                model.train()
            if state["step"] % cfg.ckpt_every == 0:
                save_last()
        bar.close()
        if not state["best_metrics"] or state["best_metrics"].get("step") != state["step"]:
            validate()
        save_last()
    except KeyboardInterrupt:  # Ctrl-C: keep the steps done so far, then stop as asked
        bar.close()
        save_last()
        log.close()
        raise
    log.hparams(dict(cfg.hparams, max_steps=cfg.max_steps, lr=cfg.lr, lr_final=cfg.lr_final),
                {k: v for k, v in state["best_metrics"].items() if k != "step"})
    log.close()
    summary = {"steps": state["step"], "train_seconds": round(state["seconds"], 1),
               "best": state["best_metrics"], "best_checkpoint": str(run_dir / "best.pt"),
               "sessions": state["sessions"],
               "config": {k: v for k, v in asdict(cfg).items() if k != "hparams"}, "hparams": cfg.hparams}
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary


def trained_sessions(sessions: list[dict], steps: int) -> list[dict]:
    """The sessions of a run (`fit`'s summary) that trained at least one step, not those that only
    resumed to ship: each ends where the next one starts, the last at `steps`."""
    ends = [s["from_step"] for s in sessions[1:]] + [steps]
    return [s for s, end in zip(sessions, ends) if end > s["from_step"]]


def last_lr(summary: dict) -> float:
    """The learning rate of a run's (`fit`'s summary) last session that trained a step: a finished run
    resumed only to ship it records one more session, at whatever rate that command had."""
    sessions = trained_sessions(summary["sessions"], summary["steps"]) or summary["sessions"]
    return sessions[-1]["lr"]


def load_best(model: torch.nn.Module, run_dir: str | Path) -> dict:
    """Load the checkpoint chosen on validation into `model`; returns its validation metrics."""
    path = Path(run_dir) / "best.pt"
    ck = checkpoint.load(path)
    load_weights(model, ck["model"], path)
    return ck["metrics"]


def make_run_dir(run_dir: str | Path) -> Path:
    """Create a run folder (and its parents); a file in the way is a UserError."""
    run_dir = Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot use {run_dir} as a run folder ({e.strerror or e}); choose another --run-dir") from None
    return run_dir


def load_weights(model: torch.nn.Module, state_dict: dict, path: Path) -> None:
    """load_state_dict, with a one-line error when a run folder holds another architecture's run."""
    try:
        model.load_state_dict(state_dict)
    except RuntimeError:
        raise UserError(f"{path} was written for another model architecture or size; "
                        f"train into a new --run-dir (or remove that folder)") from None
