"""Train and evaluate the final compressive autoencoder (experiment 7) on one GPU in a fixed time.

The GPU machine gets only the working tree (64 MiB in all), not ../shared/data, so the data travels
as a small copy, made here first:

    .venv/bin/python scripts/gpu_run.py --prepare              # writes data/gpu-subset/ (git-ignored)
    .venv/bin/python scripts/gpu_run.py --minutes 12 --out gpu-run   # on the GPU machine

The subset: VoxCeleb2 frames of the dev identities (training, lossless WebP), the first frame of
each of the 66 test-identity clips (the original's test domain), and the CelebA validation and test
images the gpu schedule uses (100 and the cpu profile's 150). The run trains experiment 6 (stage
one) for 80% of the training time and experiment 7 (stage two: frozen encoder, 6-bit quantizer)
for the rest, both at the paper profile's full size with its gpu schedule (`aeutils train cae
--profile paper --schedule gpu`), through the `aeutils` command line, each evaluated on the test
images. Training takes 85% of --minutes; the rest is left for loading, validation and the test
evaluations (JPEG 2000 beside them only where imagecodecs is installed). OUT receives:

    experiment6.pt, experiment7.pt   shipped weights (float16; `CompressiveAutoencoder.from_shipped`)
    experiment7.json                 the final model's full results JSON (as resources/experiments/)
    summary.json                     steps, seconds, validation and test numbers of both stages
    log.txt                          everything the trainers printed
    tensorboard.tar.gz               both runs' TensorBoard events

UNTESTED on a GPU so far: only its CPU rehearsal (tests/test_gpu_run.py) has run.
"""
from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SUBSET = REPO / "data" / "gpu-subset"
TRAIN_SHARE, STAGE_ONE_SHARE = 0.85, 0.8  # of --minutes; of the training time


def prepare(out: Path, frames: Path | None, train_frames: int, max_mib: float) -> dict:
    """Write the subset to `out`: VoxCeleb2 frames (from the compiled folder `frames`, or compiled
    here from the data root) and the CelebA images the gpu schedule reads. Returns what it holds."""
    from PIL import Image

    from aeutils import config
    from aeutils.datasets import sources
    from aeutils.datasets.sources import voxceleb2_test_frames
    from aeutils.tasks import cae
    from aeutils.tasks.cae.data import _spaced

    if out.exists() and any(out.iterdir()):
        if not (out / "subset.json").is_file():
            raise SystemExit(f"{out} is not empty and holds no earlier subset: choose another --subset")
        shutil.rmtree(out)  # an earlier subset: write it anew, so that no old frames stay behind
    with tempfile.TemporaryDirectory() as tmp:
        if frames is None:
            frames = Path(tmp) / "frames"
            # one frame every 2 s of every utterance: more than the subset keeps, spread over every clip
            subprocess.run([sys.executable, "-m", "aeutils", "compile-voxceleb2", str(config.voxceleb2_dir()),
                            str(frames), "--interval", "2", "--no-progress"], check=True)
        vox = out / "voxceleb2-frames"
        rows = _spaced(sources.read_manifest(frames, "train"), train_frames)
        test_paths = set(map(str, voxceleb2_test_frames(frames)))
        rows += [r for r in sources.read_manifest(frames, "test") if str(frames / r["path"]) in test_paths]
        kept = []
        for r in rows:  # lossless WebP: the same pixels in about 55% of the PNG's bytes
            path = Path(r["path"]).with_suffix(".webp")
            (vox / path).parent.mkdir(parents=True, exist_ok=True)
            with Image.open(frames / r["path"]) as im:
                im.convert("RGB").save(vox / path, "WEBP", lossless=True, quality=100, method=4)
            kept.append({**r, "path": path.as_posix()})
    with open(vox / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=sources.MANIFEST_FIELDS)
        w.writeheader()
        w.writerows(kept)

    # CelebA: the validation and test images a gpu-schedule run picks from the full set, byte for byte
    hp = cae.hparams(7, "paper", schedule="gpu")
    celeba = out / "celeba"
    n_test = cae.hparams(7, "cpu").test_dataset_size  # the cpu results' CelebA test images: comparable
    chosen = _spaced(sources.celeba_files("val"), hp.val_size) + _spaced(sources.celeba_files("test"), n_test)
    (celeba / "img_align_celeba").mkdir(parents=True, exist_ok=True)
    for p in chosen:
        (celeba / "img_align_celeba" / p.name).write_bytes(p.read_bytes())
    names = {p.name for p in chosen}
    with open(config.celeba_dir() / "identity.csv", newline="") as f:
        reader = csv.DictReader(f)
        keep = [r for r in reader if r["image"] in names]
        fields = reader.fieldnames
    with open(celeba / "identity.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(keep)

    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    held = {"voxceleb2_train_frames": len(kept) - len(test_paths), "voxceleb2_test_frames": len(test_paths),
            "celeba_val": hp.val_size, "celeba_test": n_test, "mib": round(size / 2**20, 2)}
    (out / "subset.json").write_text(json.dumps(held, indent=2))
    if size > max_mib * 2**20:
        raise SystemExit(f"{out} holds {size / 2**20:.1f} MiB, over --max-mib {max_mib}: use fewer --train-frames")
    return held


def run(out: Path, minutes: float, device: str, subset: Path, runs_root: Path | None = None,
        profile: str = "paper") -> dict:
    """Train experiments 6 and 7 with the gpu schedule in `minutes`, evaluate, and fill `out`.
    Called in a fresh process: aeutils reads the data and run folders from the environment on import.
    The run folders (full checkpoints, too big to bring back) go to `runs_root`, else a temporary
    folder removed at the end. `profile="smoke"`: the same steps on fixture data at tiny size."""
    schedule = "gpu" if profile == "paper" else "original"
    if profile == "paper" and not (subset / "voxceleb2-frames" / "manifest.csv").is_file():
        raise SystemExit(f"no data subset at {subset}: run `scripts/gpu_run.py --prepare` (with ../shared/data)")
    out.mkdir(parents=True, exist_ok=True)
    work = runs_root or Path(tempfile.mkdtemp(prefix="gpu-run-"))
    env = dict(os.environ, AEUTILS_DATA=str(subset), AEUTILS_VOXCELEB2_FRAMES=str(subset / "voxceleb2-frames"),
               AEUTILS_RUNS=str(work), PYTHONUNBUFFERED="1")
    os.environ.update({k: env[k] for k in ("AEUTILS_DATA", "AEUTILS_VOXCELEB2_FRAMES", "AEUTILS_RUNS")})
    train_minutes = minutes * TRAIN_SHARE
    stages = {6: train_minutes * STAGE_ONE_SHARE, 7: train_minutes * (1 - STAGE_ONE_SHARE)}
    # the JPEG 2000 comparison needs imagecodecs (not on every GPU machine); it is the same on any machine
    jpeg2000 = importlib.util.find_spec("imagecodecs") is not None
    start = time.time()
    with open(out / "log.txt", "w") as log:
        for number, stage_minutes in stages.items():
            cmd = [sys.executable, "-m", "aeutils", "train", "cae", "--experiment", str(number), "--profile", profile,
                   "--schedule", schedule, "--minutes", f"{max(stage_minutes, 0.001):.3f}", "--device", device,
                   "--no-progress"]
            cmd += [] if jpeg2000 else ["--no-jpeg2000"]
            log.write(f"$ {' '.join(cmd)}\n")
            log.flush()
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    cwd=REPO)
            for line in proc.stdout:
                sys.stdout.write(line)
                log.write(line)
            if proc.wait():
                raise SystemExit(f"experiment {number} failed (exit {proc.returncode}); see {out / 'log.txt'}")

    from aeutils.tasks import cae

    runs = {n: cae.run_dir_for(cae.hparams(n, profile, schedule=schedule), profile) for n in stages}
    results = {n: cae.load_results(n, profile, schedule=schedule) for n in stages}
    for n in stages:
        cae.ship_experiment(n, out / f"experiment{n}.pt", profile, schedule=schedule)
    (out / "experiment7.json").write_text(json.dumps(results[7], indent=2))
    summary = {"profile": profile, "schedule": schedule, "minutes_asked": minutes,
               "wall_seconds": round(time.time() - start, 1), "minutes_per_stage": stages,
               "device": results[7]["device"], "data_subset": _subset_note(subset), "jpeg2000_compared": jpeg2000,
               "stages": {n: {"steps": r["steps"], "train_seconds": r["train_seconds"],
                              "best_validation": r["best_validation"],
                              "test": {name: {k: t[k] for k in ("psnr", "ssim", "bpp")}
                                       for name, t in r["test"].items()},
                              "original": r["original"]} for n, r in results.items()}}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    with tarfile.open(out / "tensorboard.tar.gz", "w:gz") as tar:
        for n, d in runs.items():
            for p in sorted(d.iterdir()):
                if p.name.startswith("events.") or p.suffix == ".json":
                    tar.add(p, arcname=f"experiment{n}/{p.name}")
    if runs_root is None:
        shutil.rmtree(work)
    return summary


def _subset_note(subset: Path) -> dict:
    note = subset / "subset.json"
    return json.loads(note.read_text()) if note.is_file() else {}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--prepare", action="store_true", help="write the data subset (needs ../shared/data) and stop")
    p.add_argument("--subset", type=Path, default=SUBSET, help=f"the data subset (default {SUBSET.relative_to(REPO)})")
    p.add_argument("--frames", type=Path, default=None,
                   help="--prepare: a compiled VoxCeleb2 frame folder to take frames from (default: compile one)")
    p.add_argument("--train-frames", type=int, default=480, help="--prepare: VoxCeleb2 training frames to keep")
    p.add_argument("--max-mib", type=float, default=20.0,
                   help="--prepare: refuse a subset larger than this (the tree that travels is limited to 64 MiB)")
    p.add_argument("--minutes", type=float, default=12.0, help="wall-clock budget of the whole run (default 12)")
    p.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or REPO / "gpu-run"),
                   help="where results go (default $OUT, else gpu-run/)")
    p.add_argument("--device", default="auto", help="auto, cuda, cuda:K or cpu (a CPU rehearsal)")
    p.add_argument("--profile", choices=("paper", "smoke"), default="paper",
                   help="paper (its gpu schedule, the real run) or smoke (tiny sizes on fixture data: a "
                        "seconds-long rehearsal of this script)")
    p.add_argument("--runs", type=Path, default=None,
                   help="keep the run folders (checkpoints to resume from) here (default: a temporary folder)")
    a = p.parse_args(argv)
    sys.path.insert(0, str(REPO))
    if a.prepare:
        print(json.dumps(prepare(a.subset, a.frames, a.train_frames, a.max_mib), indent=2))
        return 0
    summary = run(a.out, a.minutes, a.device, a.subset, a.runs, a.profile)
    print(json.dumps({k: summary[k] for k in ("wall_seconds", "device", "stages")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
