"""Profiles (smoke / cpu / paper), the data root, and the project's folders.

A profile picks the scale of every experiment: `smoke` runs in seconds for CI, `cpu` gives real
results on a 2-core CPU in about an hour per model, `paper` reproduces the original tables on a GPU.
"""
from __future__ import annotations

import os
from pathlib import Path

from aeutils.errors import UserError

PROFILES = ("smoke", "cpu", "paper")
DEFAULT_PROFILE = "cpu"

REPO_ROOT = Path(__file__).resolve().parents[1]
WEIGHTS_DIR = REPO_ROOT / "weights"
RESOURCES_DIR = REPO_ROOT / "resources"
RUNS_DIR = Path(os.environ.get("AEUTILS_RUNS", REPO_ROOT / "runs"))


def get_profile(override: str | None = None) -> str:
    """The active profile: `override` (a notebook's parameters cell), else $AEUTILS_PROFILE, else cpu."""
    name = override or os.environ.get("AEUTILS_PROFILE") or DEFAULT_PROFILE
    if name not in PROFILES:
        source = "" if override else " (from $AEUTILS_PROFILE)" if os.environ.get("AEUTILS_PROFILE") else ""
        raise UserError(f"unknown profile {name!r}{source}; expected one of {', '.join(PROFILES)}")
    return name


def data_root() -> Path:
    """Where raw data lives: $AEUTILS_DATA, else ../shared/data beside the project, else data/."""
    env = os.environ.get("AEUTILS_DATA")
    if env:
        return Path(env)
    shared = REPO_ROOT.parent / "shared" / "data"
    if shared.is_dir():
        return shared
    return REPO_ROOT / "data"


def celeba_dir() -> Path:
    """The CelebA folder under the data root: `img_align_celeba/` and `identity.csv`."""
    return data_root() / "celeba"


def voxceleb2_dir() -> Path:
    return data_root() / "voxceleb2"


def kodak_dir() -> Path:
    return data_root() / "kodak"


def results_dir(name: str, profile: str, smoke: Path) -> Path:
    """Where a profile's results and figures go: resources/<name> (committed) for cpu and paper, the
    scratch folder `smoke` (under runs/) for the smoke profile, so a CI run never overwrites a result."""
    return smoke if profile == "smoke" else RESOURCES_DIR / name


def select(profile: str, table: dict):
    """Pick a profile's entry from a {profile: value} table (the way notebooks state their hparams)."""
    return table[get_profile(profile)]
