"""Hole models for JPEG files (`aeutils train repair --strengths wide --jpeg`, `repair-KIND-jpeg`):
trained on crops saved as JPEGs and Telea-filled, chosen against Telea's fill, and picked by the
command for a JPEG file's holes while a lossless file keeps `repair-KIND`."""
import numpy as np
import torch
from PIL import Image

from aeutils import cli, config, zoo
from aeutils.benchmark import robustness
from aeutils.datasets import damage, photos
from aeutils.datasets.sources import FaceImages, smoke_images
from aeutils.images import to_tensor
from aeutils.tasks import repair
from aeutils.tasks.repair import cli as repair_cli


def test_jpeg_hole_pairs_are_saved_as_jpegs_and_filled_by_telea():
    crops = photos.PhotoCrops([FaceImages(smoke_images(n=2, size=64, seed=0))], 32)
    torch.manual_seed(1)
    clean, inp = repair.WidePairs(crops, "squares", (30, 30))[0]
    mask = inp[3] > 0.5
    assert inp.shape == (4, 32, 32) and mask.any() and (inp[:3, mask] > 0).any()
    known = (inp[:3, ~mask] - clean[:, ~mask]).abs()
    assert known.max() > 2 / 255  # the known pixels are a quality-30 JPEG's, not the clean crop's


def test_a_hole_model_for_jpeg_files_is_chosen_against_telea_and_says_so_in_its_card(tmp_path):
    model, summary = repair.train_wide("grid", "smoke", tmp_path / "run", steps=1, progress=False, jpeg=True)
    assert summary["hparams"]["saved_as"] == "{}-{}".format(*repair.JPEG_TRAIN)
    ship = tmp_path / "repair-grid-jpeg.pt"
    zoo.save_shipped(ship, "repair", repair.MODELS["unet"]["smoke"], model, {"val": summary["best"]},
                     damage="grid", profile="smoke", steps=1, train_seconds=1.0, init=None, lr=1e-3,
                     sessions=summary["sessions"], loss="MSE", strengths="wide",
                     saved_as=summary["hparams"]["saved_as"])
    faces = {"lfw": [to_tensor(smoke_images(1, size=48, seed=4)[0])]}
    results = robustness.sweep("grid", {"model": model}, faces, repair.run_told, saved_as=75)
    record = {"results": results, "images_per_source": {"lfw": 1}, "saved_as": 75,
              "summary": {"model": robustness.summary(results, "model", robustness.reference("grid", 75))}}
    card = repair.wide_model_card(ship, record)
    assert "**JPEG files**" in card and "saved as a JPEG of quality 30-95" in card
    assert f"saved as JPEGs of quality {repair.JPEG_VAL}" in card and "saved as JPEGs of quality 75" in card
    assert "the telea fill it refines" in card


def test_training_a_model_for_jpeg_files_needs_a_wide_hole_damage(capsys):
    for args in (["--damage", "noise", "--strengths", "wide"], ["--damage", "grid"]):
        assert cli.main(["train", "repair", "--profile", "smoke", "--jpeg", *args]) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_a_jpeg_file_s_holes_get_the_jpeg_model_where_shipped(tmp_path, monkeypatch):
    weights = tmp_path / "weights"
    weights.mkdir()
    monkeypatch.setattr(config, "WEIGHTS_DIR", weights)
    (weights / "repair-grid.pt").touch()
    assert repair.model_for("grid", jpeg=True) == "repair-grid"  # no model for JPEG files: the one model
    (weights / "repair-grid-jpeg.pt").touch()
    (weights / "repair-noise.pt").touch()
    assert repair.model_for("grid", jpeg=True) == "repair-grid-jpeg" and repair.model_for("grid") == "repair-grid"
    assert repair.model_for("noise", jpeg=True) == "repair-noise" and repair.model_for("squares") == "repair-blind"

    loaded = []

    class Identity(torch.nn.Module):
        told = None

        def forward(self, x):
            return x[:, :3]

    monkeypatch.setattr(repair_cli, "load_model", lambda name: (loaded.append(name), (Identity(), {}))[1])
    photo = smoke_images(1, size=64, seed=2)[0]
    face = np.asarray(photo)
    d = damage.sweep_damage("grid", to_tensor(photo), 16, seed=1)
    Image.fromarray((d.mask[0].numpy() * 255).astype(np.uint8)).save(tmp_path / "mask.png")
    Image.fromarray(face).save(tmp_path / "face.png")
    Image.fromarray(face).save(tmp_path / "face.jpg", quality=90)
    for name in ("face.png", "face.jpg"):
        assert cli.main(["repair", str(tmp_path / name), str(tmp_path / f"out-{name}.png"), "--damage", "grid",
                         "--mask", str(tmp_path / "mask.png"), "--no-progress"]) == 0
    assert loaded == ["repair-grid", "repair-grid-jpeg"]
