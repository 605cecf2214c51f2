"""TensorBoard shared by all notebooks: logging scalars, image grids and hparams; reading them back
for the figures; and an embedded TensorBoard that never blocks a cell (skipped in the smoke profile
and in a rendering run)."""
from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torchvision.utils as vutils
from torch.utils.tensorboard import SummaryWriter

from aeutils import config


class Logger:
    """A SummaryWriter for one named run (`runs/<name>`), with the project's conventions."""

    def __init__(self, run_dir: str | Path, purge_step: int | None = None):
        """`purge_step`: TensorBoard drops earlier events at this step and later (a resumed run)."""
        self.run_dir = Path(run_dir)
        self.writer = SummaryWriter(str(self.run_dir), purge_step=purge_step)

    def scalars(self, values: dict[str, float], step: int) -> None:
        for key, value in values.items():
            self.writer.add_scalar(key, float(value), step)

    def images(self, tag: str, batch: torch.Tensor, step: int, nrow: int = 8) -> None:
        """Log a batch (N, 3, H, W) in [0, 1] as one grid image."""
        grid = vutils.make_grid(batch.detach().float().cpu().clamp(0, 1), nrow=nrow, padding=2)
        self.writer.add_image(tag, grid, step)

    def hparams(self, hparams: dict, metrics: dict[str, float]) -> None:
        """Record the run's hyperparameters beside its final metrics (TensorBoard's HPARAMS tab)."""
        flat = {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in hparams.items()}
        self.writer.add_hparams(flat, {f"hparam/{k}": float(v) for k, v in metrics.items()}, run_name=".")

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def _accumulators(run_dir: str | Path, kind: str):
    """One loaded EventAccumulator per event file of a run, oldest first (a resumed run has several)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    for ev in sorted(Path(run_dir).glob("events.out.tfevents.*")):
        acc = EventAccumulator(str(ev), size_guidance={kind: 0})
        acc.Reload()
        yield acc


def read_scalars(run_dir: str | Path, tag: str) -> tuple[list[int], list[float]]:
    """One scalar curve of a run (steps, values) in step order, over all its sessions; a step logged
    again by a later session (after a resume) takes the later value."""
    points = {}
    for acc in _accumulators(run_dir, "scalars"):
        if tag in acc.Tags()["scalars"]:
            points.update({e.step: e.value for e in acc.Scalars(tag)})
    steps = sorted(points)
    return steps, [points[s] for s in steps]


def read_images(run_dir: str | Path, tag: str) -> list[tuple[int, np.ndarray]]:
    """The image grids a run logged under `tag`, as (step, uint8 (H, W, 3)) in step order."""
    from PIL import Image

    grids = {}
    for acc in _accumulators(run_dir, "images"):
        if tag in acc.Tags()["images"]:
            for e in acc.Images(tag):
                grids[e.step] = np.asarray(Image.open(io.BytesIO(e.encoded_image_string)).convert("RGB"))
    return sorted(grids.items())


def embed_tensorboard(logdir: str | Path, port: int, profile: str, bind_all: bool = False) -> str:
    """Start TensorBoard inside the notebook on the experiment's port, without blocking the cell.

    Uses the `%tensorboard` machinery (which returns at once); skipped in the smoke profile and
    outside IPython, returning a line that says what happened. It listens on localhost only: on a
    cloud VM, reach it through an SSH tunnel (`ssh -L PORT:localhost:PORT vm`); `bind_all=True`
    publishes the training logs on every network interface instead.

    `make notebooks` sets AEUTILS_TENSORBOARD=0: a rendered notebook is read without its kernel, so it
    starts no server and stores the command instead (its folder relative to the project)."""
    if profile == "smoke":
        return f"TensorBoard skipped in the smoke profile (logdir {logdir})"
    if os.environ.get("AEUTILS_TENSORBOARD") == "0":
        shown = Path(os.path.abspath(logdir))  # not resolve(): a symlinked runs/ folder stays inside the project
        if shown.is_relative_to(config.REPO_ROOT):
            shown = shown.relative_to(config.REPO_ROOT)
        return f"TensorBoard not started (AEUTILS_TENSORBOARD=0): run `tensorboard --logdir {shown} --port {port}`"
    try:
        from IPython import get_ipython
    except ImportError:
        get_ipython = None
    ip = get_ipython() if get_ipython else None
    if ip is None:
        return f"not in a notebook: run `tensorboard --logdir {logdir} --port {port}`"
    # the notebook's kernel may run from a virtualenv whose bin/ is not on PATH
    binary = Path(sys.executable).with_name("tensorboard")
    if binary.exists():
        os.environ.setdefault("TENSORBOARD_BINARY", str(binary))
    ip.run_line_magic("load_ext", "tensorboard")
    host = "--bind_all" if bind_all else "--host localhost"
    ip.run_line_magic("tensorboard", f"--logdir {logdir} --port {port} {host}")
    return f"TensorBoard on port {port} (logdir {logdir})"
