"""The paper profile at full size, on the CPU: one or two optimizer steps of each trainable task
through `aeutils train` (batch, crops, widths and DataLoader workers as on a GPU; only the device
differs), so that the GPU wiring is known to hold before a GPU is paid for. The compressive
autoencoder also runs its bfloat16 autocast path, and scripts/gpu_run.py rehearses its whole GPU run.

Minutes and gigabytes each (see the README's "Training on a GPU"), so opt-in: `make test-slow`
(or AEUTILS_SLOW=1). Needs ../shared/data."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aeutils import config
from conftest import needs_celeba, needs_voxceleb2

REPO = Path(__file__).resolve().parents[1]
SUBSET = REPO / "data" / "gpu-subset"

pytestmark = [pytest.mark.slow, needs_celeba,
              pytest.mark.skipif(not os.environ.get("AEUTILS_SLOW"), reason="paper-size runs: set AEUTILS_SLOW=1 "
                                                                            "(make test-slow)")]


def run(args, tmp_path, env=None, timeout=1800):
    env = dict(os.environ, AEUTILS_RUNS=str(tmp_path / "runs"), AEUTILS_PROFILE="paper", PYTHONUNBUFFERED="1",
               **(env or {}))
    r = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO)
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-3000:])
    return r


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


@pytest.mark.parametrize("task, argv", [
    ("repair", ["--arch", "unet", "--damage", "blind"]),
    ("colorize", []),
    ("codec", []),
])
def test_paper_steps(task, argv, tmp_path):
    run(["-m", "aeutils", "train", task, "--profile", "paper", "--steps", "2", "--run-dir", str(tmp_path / task),
         "--no-progress", *argv], tmp_path)
    assert summary(tmp_path / task)["steps"] == 2


def test_paper_superres_both_phases(tmp_path):
    """SRResNet, then SRGAN (perceptual and adversarial losses) starting from it."""
    first, second = tmp_path / "srresnet", tmp_path / "srgan"
    run(["-m", "aeutils", "train", "superres", "--profile", "paper", "--phase", "srresnet", "--steps", "2",
         "--init", "none", "--run-dir", str(first), "--no-progress"], tmp_path)
    run(["-m", "aeutils", "train", "superres", "--profile", "paper", "--phase", "srgan", "--steps", "1",
         "--init", str(first), "--run-dir", str(second), "--no-progress"], tmp_path)
    assert summary(first)["steps"] == 2 and summary(second)["steps"] == 1


@pytest.fixture(scope="module")
def subset(tmp_path_factory) -> Path:
    """The data a GPU run carries: data/gpu-subset when prepared, else one prepared here."""
    if (SUBSET / "subset.json").is_file():
        return SUBSET
    if not config.voxceleb2_dir().is_dir():
        pytest.skip("no data/gpu-subset and no VoxCeleb2 clips to prepare one from")
    out = tmp_path_factory.mktemp("gpu-subset")
    run([str(REPO / "scripts" / "gpu_run.py"), "--prepare", "--subset", str(out), "--train-frames", "60"],
        tmp_path_factory.mktemp("prepare"))
    return out


@needs_voxceleb2
def test_paper_cae_original_schedule_bf16(subset, tmp_path):
    """Experiment 6 as the original ran it (batch 40 of 224x224, width 128, 4 workers capped by the
    cores), in bfloat16 autocast as on CUDA, on the carried data subset."""
    run_dir = tmp_path / "experiment6"
    run(["-m", "aeutils", "train", "cae", "--experiment", "6", "--profile", "paper", "--steps", "2",
         "--precision", "bf16", "--device", "cpu", "--no-test", "--run-dir", str(run_dir), "--no-progress"], tmp_path,
        env={"AEUTILS_DATA": str(subset), "AEUTILS_VOXCELEB2_FRAMES": str(subset / "voxceleb2-frames")})
    s = summary(run_dir)
    assert s["steps"] == 2 and s["hparams"]["autocast_bf16"] is True
    assert (s["hparams"]["batch_size"], s["hparams"]["block_size"], s["hparams"]["width"]) == (40, 224, 128)


@needs_voxceleb2
def test_gpu_run_rehearsal_on_cpu(subset, tmp_path):
    """scripts/gpu_run.py end to end on the CPU with a tiny budget: both stages, the test
    evaluation, shipped weights and the files a GPU run brings back."""
    out = tmp_path / "out"
    run([str(REPO / "scripts" / "gpu_run.py"), "--minutes", "0.3", "--device", "cpu", "--subset", str(subset),
         "--out", str(out)], tmp_path)
    assert sorted(p.name for p in out.iterdir()) == ["experiment6.pt", "experiment7.json", "experiment7.pt", "log.txt",
                                                    "summary.json", "tensorboard.tar.gz"]
    s = json.loads((out / "summary.json").read_text())
    assert s["stages"]["7"]["steps"] >= 1 and "voxceleb2-test" in s["stages"]["7"]["test"]
    res = json.loads((out / "experiment7.json").read_text())
    assert res["hparams"]["schedule"] == "gpu" and res["test"]["voxceleb2-test"]["images"] == 66
