"""Where an experiment's run and results JSON live, and a trained experiment read back: its best
model, its results, and the shipped weights file written from them with the zoo's loader for it."""
from __future__ import annotations

import json
from pathlib import Path

from aeutils import config, zoo
from aeutils.errors import UserError
from aeutils.models.cae import CompressiveAutoencoder
from aeutils.tasks.cae.hparams import Hparams, build_model, hparams
from aeutils.train import load_best

RESULTS_DIR = config.RESOURCES_DIR / "experiments"


def run_dir_for(hp: Hparams, profile: str) -> Path:
    """runs/<profile>/<experiment name> (runs/paper-gpu/... for the gpu schedule): profiles and
    schedules never share checkpoints."""
    return config.RUNS_DIR / (profile if hp.schedule == "original" else f"{profile}-{hp.schedule}") / hp.name


def results_path(hp: Hparams, profile: str, run_dir: Path) -> Path:
    """resources/experiments/<name>.json for cpu/paper; the smoke profile and the untested gpu
    schedule write only under runs/ (a gpu result is committed by hand once checked)."""
    folder = run_dir if hp.schedule != "original" else config.results_dir("experiments", profile, smoke=run_dir)
    return Path(folder) / f"{hp.name}.json"


def load_experiment(number: int, profile: str | None = None, upsample: str = "subpixel",
                    schedule: str = "original") -> CompressiveAutoencoder:
    """The best (validation-chosen) model of a trained experiment, in eval mode on the CPU."""
    profile = config.get_profile(profile)
    hp = hparams(number, profile, upsample, schedule)
    model = build_model(hp)
    run_dir = run_dir_for(hp, profile)
    if not (run_dir / "best.pt").exists():
        raise UserError(f"experiment {hp.name} has not been trained at profile {profile} ({run_dir})")
    load_best(model, run_dir)
    return model.eval()


def load_results(number: int, profile: str | None = None, upsample: str = "subpixel",
                 schedule: str = "original") -> dict:
    profile = config.get_profile(profile)
    hp = hparams(number, profile, upsample, schedule)
    path = results_path(hp, profile, run_dir_for(hp, profile))
    if not path.exists():
        raise UserError(f"no results for {hp.name} at profile {profile} ({path}); train it first")
    return json.loads(path.read_text())


def ship_experiment(number: int, path: str | Path, profile: str | None = None, schedule: str = "original") -> Path:
    """Write an experiment's final model as a shipped weights file (task "cae", float16), with its
    measured test numbers; load it with `zoo.load` (or `CompressiveAutoencoder.from_shipped`)."""
    profile = config.get_profile(profile)
    res = load_results(number, profile, schedule=schedule)
    model = load_experiment(number, profile, schedule=schedule)
    zoo.save_shipped(path, "cae", model.arch, model, metrics=res["test"], profile=profile,
                     experiment=number, steps=res["steps"], train_seconds=res["train_seconds"],
                     device=res["device"], hparams=res["hparams"])
    return Path(path)


def load(ck: dict) -> CompressiveAutoencoder:
    """A shipped experiment from its file's dict (`zoo.load_shipped`), in eval mode on the CPU."""
    model = CompressiveAutoencoder(**ck["arch"])
    model.load_state_dict(ck["state_dict"])
    return model.eval()
