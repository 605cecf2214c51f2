"""Super-resolution: the SRResNet / discriminator shapes, the x8-from-x4 start, tiled inference,
the losses and sharpness measures, the training phases end to end (smoke), and `aeutils upscale`."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image, ImageFilter

from aeutils import config, metrics, zoo
from aeutils.datasets import damage, photos, sources
from aeutils.errors import UserError
from aeutils.images import to_tensor, to_uint8
from aeutils.models.sr import Discriminator, SRResNet, SubPixelUpsample
from aeutils.tasks import superres
from aeutils.tasks.superres.cli import variant_for
from conftest import needs_celeba


def cli(*args):
    return subprocess.run([sys.executable, "-m", "aeutils", *map(str, args)], capture_output=True, text=True)


@pytest.mark.parametrize("scale", [4, 8])
def test_generator_enlarges_by_its_scale(scale):
    g = SRResNet(scale, channels=16, blocks=2)
    assert g(torch.rand(2, 3, 11, 13)).shape == (2, 3, 11 * scale, 13 * scale)


def test_untrained_generator_starts_near_bicubic():
    """The global residual over bicubic: with a zeroed tail the output IS the bicubic upscale."""
    g = SRResNet(4, channels=8, blocks=1)
    nn.init.zeros_(g.tail.weight)
    nn.init.zeros_(g.tail.bias)
    lr = torch.rand(1, 3, 8, 8)
    bic = torch.nn.functional.interpolate(lr, scale_factor=4, mode="bicubic", align_corners=False)
    assert torch.allclose(g(lr), bic)


def test_nearest_stage_is_exact_nearest_upsampling():
    up = SubPixelUpsample(5)
    up.reset_to_nearest()
    x = torch.randn(2, 5, 6, 7)
    assert torch.allclose(up(x), x.repeat_interleave(2, -2).repeat_interleave(2, -1))


def test_x8_generator_starts_from_x4_weights():
    x4, x8 = SRResNet(4, channels=32, blocks=2), SRResNet(8, channels=32, blocks=2)
    new = x8.load_from_smaller_scale(x4.state_dict())
    assert new == ["up.2.act.weight", "up.2.conv.bias", "up.2.conv.weight"]
    assert torch.equal(x8.body[0].body[0].weight, x4.body[0].body[0].weight)
    assert torch.equal(x8.tail.weight, x4.tail.weight)


def test_discriminator_judges_any_crop_size():
    d = Discriminator(8)
    assert d(torch.rand(3, 3, 64, 64)).shape == (3,)
    assert d(torch.rand(2, 3, 96, 96)).shape == (2,)


def test_downscale_is_8bit_and_antialiased():
    hr = torch.rand(2, 3, 32, 48)
    lr = superres.downscale(hr, 4)
    assert lr.shape == (2, 3, 8, 12)
    assert torch.equal(lr, (lr * 255).round() / 255)
    # A pixel-wide checkerboard averages to grey with antialiasing (plain bicubic would alias it).
    board = (torch.arange(64)[:, None] + torch.arange(64)[None]) % 2
    lr = superres.downscale(board.float().expand(3, 64, 64), 4)
    assert (lr[:, 2:-2, 2:-2] - 0.5).abs().max() < 0.02


def test_tiled_upscaling_matches_whole_image():
    torch.manual_seed(0)
    g = SRResNet(4, channels=8, blocks=1).eval()
    lr = torch.rand(3, 37, 50)
    whole = to_uint8(g(lr[None])[0])
    tiled = superres.upscale_tiled(g, lr, tile=16, overlap=16)
    assert tiled.shape == whole.shape == (148, 200, 3)
    assert np.abs(tiled.astype(int) - whole.astype(int)).max() <= 1
    # Without context the tile seams show: the overlap is what makes tiling invisible.
    seams = superres.upscale_tiled(g, lr, tile=16, overlap=0)
    assert np.abs(seams.astype(int) - whole.astype(int)).max() > 1


def test_psnr_oriented_generators_run_as_a_flip_self_ensemble():
    """An SRResNet's output for a mirrored photo is its output mirrored (the mean of the two passes); the
    network alone is not flip-equivariant, and an SRGAN runs once."""
    torch.manual_seed(0)
    g = SRResNet(4, channels=8, blocks=1).eval()
    lr = torch.rand(1, 3, 12, 15)
    with torch.no_grad():
        once = [superres.forward(superres.mark(g, "srgan"), x) for x in (lr, lr.flip(-1))]
        mirrored = [superres.forward(superres.mark(g, "srresnet"), x) for x in (lr, lr.flip(-1))]
    assert torch.equal(once[0], g(lr))
    assert (once[1].flip(-1) - once[0]).abs().max() > 1e-3
    assert torch.allclose(mirrored[1].flip(-1), mirrored[0], atol=1e-6)
    assert torch.allclose(mirrored[0], (g(lr) + g(lr.flip(-1)).flip(-1)) / 2, atol=1e-6)
    shipped = {name: zoo.load(name, task=superres.NAME).mirrored for name in ("sr-x4-srresnet", "sr-x4-srgan")}
    assert shipped == {"sr-x4-srresnet": True, "sr-x4-srgan": False}


def test_adversarial_losses_at_chance():
    zero = torch.zeros(4)
    assert superres.discriminator_loss(zero, zero).item() == pytest.approx(2 * np.log(2))
    assert superres.generator_adversarial_loss(zero).item() == pytest.approx(np.log(2))
    assert superres.discriminator_loss(torch.full((4,), 9.0), torch.full((4,), -9.0)).item() < 1e-3


class TinyEncoder(nn.Module):
    """Stands in for aeutils.models.features' encoder: 4 maps at strides 2, 4, 8, 16."""

    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(c, 4, 3, 2, 1) for c in (3, 4, 4, 4))

    def forward(self, x):
        out = []
        for conv in self.convs:
            x = torch.relu(conv(x))
            out.append(x)
        return out


def test_sharpness_measures_rank_blur_below_the_original():
    torch.manual_seed(0)
    face = sources.smoke_images(1, size=96)[0]
    ref = np.asarray(face)
    blurred = np.asarray(face.filter(ImageFilter.GaussianBlur(2)))
    enc = TinyEncoder().eval()
    same = superres.sharpness_metrics(ref, ref, enc)
    blur = superres.sharpness_metrics(blurred, ref, enc)
    assert same["grad_ratio"] == pytest.approx(1.0) and same["feature_dist"] == pytest.approx(0.0)
    assert blur["grad_ratio"] < 0.7 and blur["feature_dist"] > 0.0


def test_measure_compares_methods_on_the_same_images():
    hrs = [superres.center_crop(to_tensor(im), 64) for im in sources.smoke_images(3, size=80)]

    def nearest(lr):
        return torch.nn.functional.interpolate(lr[None], scale_factor=4, mode="nearest")[0]

    remaining = iter(hrs)

    def perfect(lr):
        return next(remaining)

    means, examples = superres.measure({"nearest": nearest, "oracle": perfect}, hrs, 4, keep=2)
    assert means["oracle"]["psnr"] == float("inf") and means["oracle"]["ssim"] == pytest.approx(1.0)
    assert 15 < means["nearest"]["psnr"] < 40 and means["nearest"]["grad_ratio"] < 1.0
    assert len(examples) == 2 and examples[0]["lr"].shape == (16, 16, 3)


def test_baselines_upscale_to_the_right_size():
    methods = superres.classical_methods(4)
    lr = torch.rand(3, 10, 12)
    for fn in methods.values():
        assert fn(lr).shape == (3, 40, 48)


def test_training_phases_and_evaluation_end_to_end(tmp_path):
    """smoke profile: SRResNet, SRGAN from it, then test evaluation with shipping into a tmp folder."""
    args = ["--profile", "smoke", "--no-progress"]
    assert superres.main(args + ["--run-dir", str(tmp_path / "smoke-x4-srresnet")]) == 0
    assert superres.main(args + ["--phase", "srgan", "--run-dir", str(tmp_path / "smoke-x4-srgan"),
                                 "--init", str(tmp_path / "smoke-x4-srresnet")]) == 0
    for phase in ("srresnet", "srgan"):
        summary = json.loads((tmp_path / f"smoke-x4-{phase}" / "summary.json").read_text())
        assert summary["steps"] == superres.hparams("smoke", 4, phase).steps
        assert (tmp_path / f"smoke-x4-{phase}" / "best.pt").is_file()
    results, examples = superres.evaluate_test(4, "smoke", tmp_path / "out", run_root=tmp_path, keep=2)
    saved = json.loads((tmp_path / "out" / "results_x4.json").read_text())
    assert set(saved["methods"]) == {"bicubic", "lanczos", "srresnet", "srgan"}
    for m in saved["methods"].values():
        assert 10 < m["psnr"] < 50 and 0 < m["ssim"] <= 1 and m["grad_ratio"] > 0
    assert saved["feature_source"] in ("vgg16-imagenet", "face-codec-encoder")
    assert set(examples[0]) == {"lr", "hr", "bicubic", "lanczos", "srresnet", "srgan"}
    written = superres.ship(4, "smoke", results, run_root=tmp_path, weights_dir=tmp_path)
    assert [p.name for p in written] == ["sr-x4-srresnet.pt", "sr-x4-srgan.pt"]
    card = (tmp_path / "sr-x4-srgan.md").read_text()
    assert "non-commercial" in card and "| bicubic |" in card and saved["feature_source"] in card
    g = zoo.load(str(written[1]))
    assert g.scale == 4


def test_photo_pairs_are_downscales_then_mostly_jpegs():
    """--data photos: photo-like HR crops; the LR input is `downscale` of the crop, then a real JPEG."""
    crops = photos.PhotoCrops(photos.training_faces("smoke"), 32, jpeg=0)
    torch.manual_seed(0)
    hr, lr = superres.PhotoPairs(crops, 4, jpeg=0.0)[0]
    assert hr.shape == (3, 32, 32) and torch.equal(lr, superres.downscale(hr, 4))
    torch.manual_seed(0)
    hr2, jpeg = superres.PhotoPairs(crops, 4, jpeg=1.0, quality=(30, 30))[0]
    assert torch.equal(hr2, hr) and jpeg.shape == (3, 8, 8)
    assert torch.equal(jpeg, damage.jpeg_roundtrip(lr, 30)) and not torch.equal(jpeg, lr)
    torch.manual_seed(1)
    pairs = superres.PhotoPairs(crops, 4)
    saved = sum(not torch.equal(lr, superres.downscale(hr, 4)) for hr, lr in (pairs[i] for i in range(40)))
    assert 15 <= saved <= 40  # about PHOTO_JPEG of them are JPEGs


def test_cli_trains_on_photos_and_ships_a_card_that_says_so(tmp_path):
    """`aeutils train superres --data photos` (smoke): PhotoPairs, chosen on the PNG / JPEG sweep of
    the validation sources; the default data stays the aligned CelebA crops."""
    run = tmp_path / "smoke-x4-photo"  # the variant's folder (the default is runs/superres/smoke-x4-photo)
    r = cli("train", "superres", "--profile", "smoke", "--data", "photos", "--run-dir", run, "--no-progress")
    assert r.returncode == 0, r.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == superres.hparams("smoke", 4, "srresnet").steps
    assert summary["hparams"]["data"] == "photos" and "JPEG" in summary["hparams"]["lr_input"]
    assert {"psnr", "png", "jpeg", "gain", "smoke_q50"} <= set(summary["best"])
    assert superres.hparams("smoke", 4, "srresnet").data == "celeba"
    results, _ = superres.evaluate_test(4, "smoke", tmp_path / "out", run_root=tmp_path, keep=0)
    assert [p.name for p in superres.ship(4, "smoke", results, run_root=tmp_path, weights_dir=tmp_path)] == \
        ["sr-x4-photo.pt"]
    assert zoo.load_shipped(str(tmp_path / "sr-x4-photo.pt"))["variant"] == "photo"
    card = (tmp_path / "sr-x4-photo.md").read_text()
    assert "default of `aeutils upscale` for JPEG" in card and "photo-like" in card
    assert "JPEG q90 / q75 / q50" in card and "never lfw-val" in card
    r = cli("train", "superres", "--profile", "smoke", "--data", "photos", "--phase", "srgan",
            "--init", run, "--run-dir", tmp_path / "gan", "--no-progress")
    assert r.returncode == 2 and "SRResNet phase only" in r.stderr and "Traceback" not in r.stderr


def test_srgan_phase_needs_a_pretrained_srresnet(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "RUNS_DIR", tmp_path)
    with pytest.raises(UserError, match="SRResNet"):
        superres.train(superres.hparams("smoke", 4, "srgan"), "smoke", tmp_path / "gan", progress=False)


@pytest.fixture
def tiny_model(tmp_path):
    g = SRResNet(4, channels=8, blocks=1)
    path = tmp_path / "tiny-x4.pt"
    zoo.save_shipped(path, "superres", g.arch(), g)
    return path


@pytest.mark.slow
def test_cli_upscale_writes_a_4x_image_and_refuses_to_overwrite(tmp_path, tiny_model):
    src = tmp_path / "face.png"
    sources.smoke_images(1, size=40)[0].save(src)
    out = tmp_path / "big.png"
    r = cli("upscale", src, out, "--model", tiny_model, "--tile", 16, "--no-progress")
    assert r.returncode == 0, r.stderr
    assert Image.open(out).size == (160, 160)
    r = cli("upscale", src, out, "--model", tiny_model, "--no-progress")
    assert r.returncode == 2 and "--force" in r.stderr and "Traceback" not in r.stderr
    assert cli("upscale", src, out, "--model", tiny_model, "--force", "--no-progress").returncode == 0


@pytest.mark.parametrize("case", ["missing", "not_image", "unknown_model", "wrong_scale"])
def test_cli_upscale_bad_input_is_one_line(tmp_path, tiny_model, case):
    src = tmp_path / "face.png"
    sources.smoke_images(1, size=24)[0].save(src)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    args = {"missing": [tmp_path / "nope.png", tmp_path / "o.png", "--model", tiny_model],
            "not_image": [junk, tmp_path / "o.png", "--model", tiny_model],
            "unknown_model": [src, tmp_path / "o.png", "--model", "no-such-model"],
            "wrong_scale": [src, tmp_path / "o.png", "--model", tiny_model, "--scale", 8]}[case]
    r = cli("upscale", *args)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not (tmp_path / "o.png").exists()


def test_auto_variant_is_the_photo_model_for_jpeg_inputs_at_x4_only():
    assert variant_for(jpeg=True, scale=4) == "photo"
    assert variant_for(jpeg=False, scale=4) == variant_for(jpeg=True, scale=8) == "srresnet"


@pytest.mark.skipif(not all((config.WEIGHTS_DIR / f"sr-x4-{v}.pt").is_file() for v in ("srresnet", "photo")),
                    reason="sr-x4-srresnet / sr-x4-photo not shipped")
def test_cli_upscale_runs_the_photo_model_on_a_jpeg_and_the_srresnet_on_a_png(tmp_path):
    face = sources.smoke_images(1, size=24)[0]
    for suffix, model in ((".jpg", "sr-x4-photo"), (".png", "sr-x4-srresnet")):
        src = tmp_path / f"face{suffix}"
        face.save(src, quality=75) if suffix == ".jpg" else face.save(src)
        r = cli("upscale", src, tmp_path / f"out{suffix}.png", "--no-progress")
        assert r.returncode == 0 and r.stdout.strip().endswith(f"(96x96, {model})"), r.stdout + r.stderr


@pytest.mark.skipif(not (config.WEIGHTS_DIR / "sr-x4-srresnet.pt").is_file(), reason="sr-x4-srresnet not shipped")
def test_shipped_srresnet_beats_bicubic_on_faces_it_never_saw():
    g = zoo.load("sr-x4-srresnet")
    hrs = [superres.center_crop(to_tensor(im), 96) for im in sources.smoke_images(4, size=96, seed=5)]
    means, _ = superres.measure({"srresnet": superres.model_method(g), **superres.classical_methods(4)}, hrs, 4)
    assert means["srresnet"]["psnr"] > means["bicubic"]["psnr"]


@needs_celeba
def test_celeba_evaluation_crops_divide_both_scales():
    hrs = superres.eval_images("test", "cpu", 3)
    assert len(hrs) == 3 and all(h.shape == (3, 176, 176) for h in hrs)
    assert metrics.psnr(to_uint8(hrs[0]), to_uint8(hrs[0])) == float("inf")
