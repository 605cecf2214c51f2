"""Command-line pieces that the command line and every trainer share, kept apart from `aeutils.cli`
so that library code can declare its options without importing the command line: the parser whose
usage errors are one line, the number types, and the options every `aeutils train TASK` takes.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

from aeutils import config
from aeutils.errors import UserError

# command -> (module that registers it, one-line help), in the order `aeutils --help` lists them
COMMANDS = {
    "compile-voxceleb2": ("aeutils.datasets.compile", "sample face frames from VoxCeleb2 clips into PNGs + manifest"),
    "compile-images": ("aeutils.datasets.compile", "re-encode a folder of face images (CelebA) into PNGs + manifest"),
    "train": ("aeutils.train_cli", "train a model (codec, cae, repair, colorize, superres)"),
    "compress": ("aeutils.codec.coder", "compress an image into a learned-codec file"),
    "decompress": ("aeutils.codec.coder", "decode a learned-codec file to an image"),
    "repair": ("aeutils.tasks.repair.cli", "repair a damaged face image (noise, holes, mosaic, blur, JPEG)"),
    "colorize": ("aeutils.tasks.colorize.cli", "colorize a (grayscale) face image"),
    "upscale": ("aeutils.tasks.superres.cli", "enlarge a face image x4 or x8 with a shipped SRResNet / SRGAN"),
    "compare-codecs": ("aeutils.benchmark.compare", "rate-distortion comparison of classical and learned codecs"),
    "demo": ("aeutils.demo.jobs", "run every shipped model on faces and write an HTML report"),
    "models": ("aeutils.codec.coder", "list the shipped models and what they reach"),
}


def add_command(sub, name: str, **kwargs) -> argparse.ArgumentParser:
    """A command's parser, with the one-line help that `aeutils --help` lists (COMMANDS): written once."""
    return sub.add_parser(name, help=COMMANDS[name][1], **kwargs)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1 (--threads)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return value


def int_between(low: int, high: int):
    """An argparse type: a whole number from `low` to `high` (--refine)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be a whole number from {low} to {high}, not {text!r}")
        return value
    return parse


def positive_float(text: str) -> float:
    """An argparse type: a finite number above 0 (--minutes, --lr)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, not {text!r}")
    return value


def profile_name(text: str) -> str:
    """An argparse type: one of the profiles (smoke, cpu, paper)."""
    try:
        return config.get_profile(text)
    except UserError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_training_options(p: argparse.ArgumentParser, run_dir: str, minutes_note: str = "") -> None:
    """The options every trainer takes, declared once so that `aeutils train TASK --help` lists the same
    ones for every task: --profile, --run-dir (`run_dir` says the task's default folder), --steps,
    --minutes, --threads and --no-progress."""
    p.add_argument("--profile", type=profile_name, default=None,
                   help="smoke / cpu / paper (default: $AEUTILS_PROFILE or cpu)")
    p.add_argument("--run-dir", type=Path, default=None, help=f"checkpoints and TensorBoard logs (default {run_dir})")
    p.add_argument("--steps", type=int_between(0, 10**9), default=None,
                   help="total optimizer steps (default: the profile's; 0: none, only validate the weights it "
                        "starts from, e.g. to ship a fine-tune's --init with its settings chosen again)")
    p.add_argument("--minutes", type=positive_float, default=None,
                   help="wall-clock budget of this session (default: the profile's)" + minutes_note)
    p.add_argument("--threads", type=positive_int, default=1, help="CPU threads (default 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
