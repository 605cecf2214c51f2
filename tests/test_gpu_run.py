"""scripts/gpu_run.py, the prepared GPU run of experiment 7: its orchestration end to end at the smoke
profile (both stages through `aeutils train cae`, shipping, the files a GPU run brings back), and
--prepare on a few compiled VoxCeleb2 frames (the data subset that travels to the GPU machine).
The paper-size rehearsal is in test_paper_wiring.py (opt-in)."""
import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aeutils.models.cae import CompressiveAutoencoder
from conftest import needs_celeba, needs_voxceleb2

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "gpu_run.py"
BROUGHT_BACK = ["experiment6.pt", "experiment7.json", "experiment7.pt", "log.txt", "summary.json", "tensorboard.tar.gz"]


def run(args, tmp_path, timeout=600):
    env = dict(os.environ, AEUTILS_RUNS=str(tmp_path / "runs"))
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO)


@pytest.mark.slow
def test_smoke_rehearsal(tmp_path):
    out = tmp_path / "out"
    r = run([str(SCRIPT), "--profile", "smoke", "--minutes", "0.5", "--device", "cpu", "--out", str(out)], tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == BROUGHT_BACK  # at most 8 files, none in folders
    s = json.loads((out / "summary.json").read_text())
    assert s["profile"] == "smoke" and set(s["stages"]) == {"6", "7"}
    assert s["stages"]["7"]["steps"] >= 1 and "fixtures" in s["stages"]["7"]["test"]
    log = (out / "log.txt").read_text()
    assert "--experiment 6" in log and "--experiment 7" in log
    model = CompressiveAutoencoder.from_shipped(str(out / "experiment7.pt"))
    assert model.quantize and model.arch["num_bits"] == 6


@pytest.mark.slow
@needs_celeba
@needs_voxceleb2
def test_prepare_writes_a_lossless_subset(tmp_path):
    from aeutils import config

    frames = tmp_path / "frames"
    r = run(["-m", "aeutils", "compile-voxceleb2", str(config.voxceleb2_dir()), str(frames), "--train", "3",
             "--val", "1", "--test", "2", "--interval", "5", "--workers", "1", "--no-progress"], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    subset = tmp_path / "subset"
    r = run([str(SCRIPT), "--prepare", "--frames", str(frames), "--subset", str(subset), "--train-frames", "4"],
            tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    held = json.loads((subset / "subset.json").read_text())
    assert held["voxceleb2_train_frames"] == 4 and held["voxceleb2_test_frames"] == 2
    assert (held["celeba_val"], held["celeba_test"]) == (100, 150) and held["mib"] < 20
    with open(subset / "voxceleb2-frames" / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6 and all(row["path"].endswith(".webp") for row in rows)
    first = rows[0]["path"]
    png = np.array(Image.open(frames / Path(first).with_suffix(".png")).convert("RGB"))
    assert np.array_equal(np.array(Image.open(subset / "voxceleb2-frames" / first)), png)  # lossless
    assert len(list((subset / "celeba" / "img_align_celeba").iterdir())) == 250


CODEC_SCRIPT = REPO / "scripts" / "gpu_codec.py"


@pytest.mark.slow
def test_codec_rehearsal_brings_back_a_shipped_codec(tmp_path):
    """scripts/gpu_codec.py's run at the smoke profile on the CPU: the candidate trains through
    `aeutils train codec --photos`, and its best checkpoint comes back as a codec that writes files."""
    r = run([str(CODEC_SCRIPT), "--profile", "smoke", "--candidates", "wide", "--device", "cpu",
             "--minutes", "1", "--out", str(tmp_path / "out")], tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["wide.json", "wide.log", "wide.pt"]
    from aeutils import zoo
    from aeutils.images import sample_faces
    codec = zoo.load(str(tmp_path / "out" / "wide.pt"), task="codec")
    assert codec.model.N == 96 and codec.model.M == 192
    assert codec.decode(codec.encode(sample_faces()["astronaut"], 5)).size == sample_faces()["astronaut"].size
    hp = json.loads((tmp_path / "out" / "wide.json").read_text())["hparams"]
    assert hp["photos"] is True and hp["crop"] == 192 and hp["device"] == "cpu"


@needs_celeba
def test_codec_prepare_copies_no_test_image(tmp_path):
    """The data copy holds CelebA training and validation identities, lfw-val, and VoxCeleb2 dev and
    validation frames re-saved as JPEG: nothing of a test split."""
    dense = tmp_path / "dense"
    rows = []
    for split, ident in (("train", "id1"), ("val", "id2"), ("test", "id3")):
        for i in range(3):
            path = f"{ident}/v/{i}.png"
            (dense / path).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((32, 32, 3), 40 * i, np.uint8)).save(dense / path)
            rows.append({"split": split, "identity": ident, "video": "v", "utterance": "u", "time_s": str(i),
                         "path": path})
    with open(dense / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    out = tmp_path / "subset"
    r = subprocess.run([sys.executable, str(CODEC_SCRIPT), "--prepare", "--subset", str(out), "--per-identity", "1",
                        "--vox-every", "2"], capture_output=True, text=True, cwd=REPO, timeout=300,
                       env=dict(os.environ, AEUTILS_VOXCELEB2_DENSE=str(dense)))
    assert r.returncode == 0, r.stderr
    with open(out / "celeba" / "identity.csv", newline="") as f:
        identities = [int(row["identity"]) for row in csv.DictReader(f)]
    assert max(identities) == 169 and identities.count(0) == 1 and identities.count(165) == 30
    assert len(list((out / "celeba" / "img_align_celeba").iterdir())) == len(identities)
    with open(out / "voxceleb2-dense" / "manifest.csv", newline="") as f:
        frames = list(csv.DictReader(f))
    assert {row["split"] for row in frames} == {"train", "val"} and sum(row["split"] == "val" for row in frames) == 3
    assert all((out / "voxceleb2-dense" / row["path"]).suffix == ".jpg" for row in frames)
    from aeutils.datasets import photos
    assert json.loads((out / "subset.json").read_text())["lfw"] == len(list(photos.lfw_dir().iterdir()))


def test_device_tree_moves_what_a_gpu_run_does_not_read_aside_and_back(tmp_path):
    """scripts/device_tree.py: `aside` leaves the code and the kept weights, `size` counts what would
    travel (tracked and unignored files plus the carry), `back` restores every file and never
    overwrites one that has reappeared."""
    spec = importlib.util.spec_from_file_location("device_tree", REPO / "scripts" / "device_tree.py")
    device_tree = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(device_tree)

    repo = tmp_path / "repo"
    files = {"aeutils/a.py": 10, "weights/codec.pt": 1000, "weights/other.pt": 3000, "notebooks/n.ipynb": 500,
             "resources/r/f.png": 200, "data/copy/x.jpg": 4000}
    for name, size in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_bytes(bytes(size))
    (repo / ".gitignore").write_text("data/\n/.device-aside/\n")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    whole = device_tree.travelling_bytes(repo, [])
    assert whole == sum(files.values()) - 4000 + len("data/\n/.device-aside/\n")
    moved = device_tree.aside(repo, ["weights/codec.pt"])
    assert sorted(map(str, moved)) == ["notebooks/n.ipynb", "resources/r/f.png", "weights/other.pt"]
    assert device_tree.travelling_bytes(repo, ["data/copy"]) == whole - 3700 + 4000
    with pytest.raises(SystemExit):
        device_tree.aside(repo, [])  # an aside not yet moved back
    (repo / "weights/other.pt").write_bytes(b"new")
    assert list(map(str, device_tree.back(repo))) == ["weights/other.pt"]
    assert (repo / "weights/other.pt").read_bytes() == b"new" and (repo / ".device-aside/weights/other.pt").exists()
    (repo / "weights/other.pt").unlink()
    assert device_tree.back(repo) == [] and not (repo / ".device-aside").exists()
    assert all((repo / name).stat().st_size == size for name, size in files.items())
