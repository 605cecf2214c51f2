"""Damage repair: damage transforms, the four architectures, classical baselines, tiled inference,
evaluation, the trainer and the `aeutils repair` command."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from aeutils import cli, metrics
from aeutils.benchmark import baselines
from aeutils.datasets import damage
from aeutils.datasets.sources import smoke_images
from aeutils.errors import UserError
from aeutils.images import to_tensor, to_uint8
from aeutils.models.repair import FCDenseNet, UNet, build
from aeutils.tasks import repair


@pytest.fixture(scope="module")
def face():
    return to_tensor(smoke_images(1, size=96, seed=5)[0])


@pytest.mark.parametrize("kind", list(damage.KINDS))
def test_damage_is_reproducible_and_on_the_8bit_grid(face, kind):
    a, b = damage.apply(kind, face, seed=7), damage.apply(kind, face, seed=7)
    c = damage.apply(kind, face, seed=8)
    assert a.kind == kind and a.image.shape == face.shape
    assert torch.equal(a.image, b.image)
    assert not torch.equal(a.image, c.image) or a.params != c.params
    assert torch.allclose(a.image * 255, (a.image * 255).round(), atol=1e-4)
    assert metrics.psnr(to_uint8(a.image), to_uint8(face)) < 40  # it really damages
    if kind in damage.HOLE_KINDS:
        assert a.mask.shape == (1, 96, 96) and 0 < a.mask.mean() < 0.6
        assert torch.all(a.image[:, a.mask[0] > 0] == damage.HOLE_FILL)
        assert torch.equal(a.image[:, a.mask[0] == 0], (face * 255).round()[:, a.mask[0] == 0] / 255)
    else:
        assert a.mask is None


def test_pixelate_is_constant_in_blocks(face):
    d = damage.apply("pixelate", face, seed=0)
    f = d.params["factor"]
    block = d.image[:, :f, :f]
    assert torch.all(block == block[:, :1, :1])


def test_blind_draws_every_kind_and_unknown_kind_fails(face):
    kinds = {damage.apply("blind", face, seed=s).kind for s in range(60)}
    assert kinds == set(damage.KINDS)
    with pytest.raises(ValueError):
        damage.apply("scratches", face, seed=0)


def test_model_input_adds_mask_channel(face):
    assert damage.model_input(face, None)[3].abs().sum() == 0
    d = damage.apply("blocks", face, seed=1)
    assert torch.equal(damage.model_input(d.image, d.mask)[3:], d.mask)


@pytest.mark.parametrize("profile", ["smoke", "cpu"])
@pytest.mark.parametrize("name", list(repair.MODELS))
def test_architectures_take_any_size(name, profile):
    model = build(repair.MODELS[name][profile]).eval()
    with torch.no_grad():
        y = model(torch.rand(1, 4, 37, 50))
    assert y.shape == (1, 3, 37, 50)


def test_pyramidal_models_start_as_identity():
    x = torch.rand(2, 4, 32, 32)
    for model in (UNet(widths=(8, 16)), FCDenseNet(first=8, down_blocks=(2,), bottleneck=2, growth=4)):
        with torch.no_grad():
            assert torch.allclose(model.eval()(x), x[:, :3], atol=1e-6)


def test_fcdensenet_paper_configuration_has_103_layers_and_swappable_transitions():
    assert FCDenseNet.count_layers((4, 5, 7, 10, 12), 15) == 103
    assert repair.MODELS["fcdensenet"]["paper"]["down_blocks"] == (4, 5, 7, 10, 12)
    kinds = set()
    for down in ("max", "avg"):
        for up in ("transposed", "pixelshuffle"):
            m = FCDenseNet(first=8, down_blocks=(2, 2), bottleneck=2, growth=4, down=down, up=up)
            kinds.add((type(m.tds[0][-1]).__name__, type(m.tus[0]).__name__))
            assert m(torch.rand(1, 4, 16, 16)).shape == (1, 3, 16, 16)
    assert len(kinds) == 4
    with pytest.raises(ValueError):
        FCDenseNet(down="strided")


def test_baselines_beat_the_damaged_input(face):
    gt = to_uint8(face)
    for kind, method in [("blocks", "telea"), ("grid", "biharmonic"), ("noise", "nlm"), ("pixelate", "bicubic"),
                         ("blur", "unsharp")]:
        d = damage.apply(kind, face, seed=3)
        im = to_uint8(d.image)
        mask = None if d.mask is None else d.mask[0].numpy() > 0.5
        out = baselines.restore(method, kind, im, mask, d.params)
        assert out.shape == im.shape and out.dtype == np.uint8
        assert metrics.psnr(out, gt) > metrics.psnr(im, gt) + 0.3, (kind, method)


def test_upscale_keeps_type_and_scales():
    im = Image.new("RGB", (20, 10), (100, 50, 0))
    assert baselines.upscale_bicubic(im, 4).size == (80, 40)
    arr = baselines.upscale_lanczos(np.asarray(im), 2)
    assert isinstance(arr, np.ndarray) and arr.shape == (20, 40, 3)


def _random_unet():
    torch.manual_seed(0)
    model = UNet(widths=(8, 16)).eval()
    torch.nn.init.normal_(model.head.weight, std=0.1)
    return model


def test_tiled_repair_matches_whole_image_and_keeps_known_pixels():
    model = _random_unet()
    rng = np.random.default_rng(0)
    im = (rng.random((150, 170, 3)) * 255).astype(np.uint8)
    whole = repair.repair_array(model, im, None, tile=256)
    tiled = repair.repair_array(model, im, None, tile=64, overlap=16)
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1
    mask = np.zeros((150, 170), bool)
    mask[40:80, 60:100] = True
    for tile in (256, 64):  # holes are prefilled window by window, so only the contract is the same
        out = repair.repair_array(model, im, mask, tile=tile, overlap=16)
        assert np.array_equal(out[~mask], im[~mask])
        assert not np.array_equal(out[mask], im[mask])


def test_holes_start_from_the_biharmonic_fill():
    yy, xx = np.mgrid[0:64, 0:80]
    clean = np.stack([yy * 3, xx * 3, (yy + xx) * 1.5], -1).astype(np.uint8)  # smooth ramps
    mask = np.zeros((64, 80), bool)
    mask[20:40, 30:50] = True
    damaged = np.where(mask[..., None], 0, clean).astype(np.uint8)
    assert np.abs(repair.prefill(damaged, mask).astype(int) - clean).max() <= 2


def test_holes_of_a_jpeg_file_start_from_telea_s_fill():
    """A JPEG smears a hole's black into the pixels around it; biharmonic carries that dark edge's slope
    into the hole, Telea's fill averages it away. What a file is (its quality, told) picks the fill."""
    yy, xx = np.mgrid[0:64, 80:160]
    clean = np.stack([yy * 3, xx, (yy + xx) * 0.8], -1).astype(np.uint8)  # smooth ramps
    mask = np.zeros((64, 80), bool)
    mask[16:48, 24:56] = True
    holed = Image.fromarray(np.where(mask[..., None], 0, clean).astype(np.uint8))
    damaged = to_uint8(damage.jpeg_roundtrip(to_tensor(holed), 75))
    telea, smooth = repair.prefill(damaged, mask, jpeg=True), repair.prefill(damaged, mask)
    assert np.array_equal(telea, baselines.inpaint_telea(damaged, mask, repair.JPEG_FILL_RADIUS["holes"]))
    lines = np.zeros_like(mask)
    lines[::16], lines[:, 1::16] = True, True
    assert np.array_equal(repair.prefill(damaged, lines, jpeg=True),
                          baselines.inpaint_telea(damaged, lines, repair.JPEG_FILL_RADIUS["lines"]))
    assert metrics.psnr(telea, clean) > metrics.psnr(smooth, clean) + 1
    model = _random_unet()
    told = repair.repair_known(model, damaged, {"quality": 75}, mask)
    assert np.array_equal(told, repair.repair_array(model, damaged, mask, jpeg=True))
    assert not np.array_equal(told, repair.repair_known(model, damaged, {}, mask))


def test_prefill_with_nothing_known_returns_the_image(face):
    """A hole over the whole crop (a training crop inside a large block, or an all-white user mask)
    leaves no pixel to fill from: the image comes back unchanged instead of an error."""
    im = to_uint8(face)
    assert np.array_equal(repair.prefill(im, np.ones(im.shape[:2], bool)), im)


def test_evaluate_reports_models_baselines_and_hole_psnr():
    res = repair.evaluate({"unet": _random_unet()}, list(damage.KINDS), "test", "smoke", n=1, examples=1)
    assert set(res["table"]) == set(damage.KINDS)
    for kind, row in res["table"].items():
        assert "unet" in row and "input" in row and res["best_baseline"][kind] in baselines.FOR_DAMAGE[kind]
        assert ("psnr_hole" in row["unet"]) == (kind in damage.HOLE_KINDS)
        assert 5 < row["unet"]["psnr"] < 60 and 0 < row["input"]["ssim"] <= 1
    assert "bm3d" not in res["table"]["noise"]  # slow baselines only when asked
    assert "| noise |" in repair.markdown_table(res, ["unet"])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Four smoke steps of the real trainer, shipped to a .pt file the CLI can load."""
    tmp = tmp_path_factory.mktemp("repair")
    ship = tmp / "repair-test.pt"
    assert repair.main(["--profile", "smoke", "--steps", "4", "--run-dir", str(tmp / "run"), "--ship", str(ship),
                        "--no-progress"]) == 0
    return tmp, ship


def test_trainer_writes_checkpoints_and_a_loadable_model(trained):
    tmp, ship = trained
    assert (tmp / "run" / "best.pt").is_file() and (tmp / "run" / "summary.json").is_file()
    model, ck = repair.load_model(str(ship))
    assert ck["task"] == "repair" and ck["damage"] == "blind"
    assert model(torch.rand(1, 4, 20, 20)).shape == (1, 3, 20, 20)


def test_model_card_states_data_terms_and_test_numbers(trained):
    tmp, ship = trained
    results = {"images": 3, "best_baseline": {"grid": "biharmonic"},
               "table": {"grid": {"blind": {"psnr": 30.0, "ssim": 0.9, "psnr_hole": 20.0},
                                  "biharmonic": {"psnr": 31.5, "ssim": 0.95, "psnr_hole": 22.0}}}}
    card = repair.model_card(ship, results, "blind")
    assert repair.TASK.card(ship, results, "blind") == card  # the task's card: a study model's
    assert "non-commercial" in card and "2-core CPU (no GPU)" in card
    assert "| grid | 30.00 | 31.50 (biharmonic) | -1.50 |" in card


def test_specialist_starts_from_a_shipped_model_and_gets_its_own_card(trained):
    tmp, ship = trained
    spec = tmp / "repair-grid-test.pt"
    assert repair.main(["--profile", "smoke", "--damage", "grid", "--init", str(ship), "--steps", "1",
                        "--run-dir", str(tmp / "run-grid"), "--ship", str(spec), "--no-progress"]) == 0
    model, ck = repair.load_model(str(spec))
    assert ck["damage"] == "grid" and ck["init"] == str(ship)
    start, _ = repair.load_model(str(ship))
    weights = [(a, b) for (k, a), b in zip(model.state_dict().items(), start.state_dict().values())
               if k.endswith("weight")]
    assert any(not torch.equal(a, b) for a, b in weights)  # trained one step ...
    assert max(float((a - b).abs().max()) for a, b in weights) < 0.01  # ... from the shipped weights
    results = {"images": 3, "best_baseline": {"grid": "biharmonic", "noise": "nlm"},
               "table": {"grid": {"spec": {"psnr": 32.0, "ssim": 0.9, "psnr_hole": 24.0},
                                  "biharmonic": {"psnr": 31.5, "ssim": 0.95, "psnr_hole": 22.0}},
                         "noise": {"spec": {"psnr": 20.0, "ssim": 0.5}, "nlm": {"psnr": 21.0, "ssim": 0.6}}}}
    card = repair.model_card(spec, results, "spec")
    assert "specialised on **grid**" in card and "| grid | 32.00 | 31.50 (biharmonic) | +0.50 |" in card
    assert "| noise |" not in card


def test_a_run_resumed_only_to_ship_records_the_rate_it_trained_at(trained, tmp_path):
    tmp, ship = trained
    args = ["--profile", "smoke", "--damage", "grid", "--init", str(ship), "--steps", "1",
            "--run-dir", str(tmp_path / "run"), "--no-progress"]
    assert repair.main([*args, "--lr", "3e-5"]) == 0
    assert repair.main([*args, "--ship", str(tmp_path / "shipped.pt")]) == 0  # nothing left to train
    _, ck = repair.load_model(str(tmp_path / "shipped.pt"))
    assert ck["lr"] == pytest.approx(3e-5) and [s["lr"] for s in ck["sessions"]][0] == pytest.approx(3e-5)


def test_init_with_another_architecture_is_a_one_line_error(trained, tmp_path):
    tmp, ship = trained
    with pytest.raises(UserError, match="architecture"):
        repair.main(["--profile", "smoke", "--arch", "shallow", "--init", str(ship), "--steps", "1",
                     "--run-dir", str(tmp_path / "r"), "--no-progress"])


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "aeutils", "repair", *map(str, args)], capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
def test_cli_repairs_with_mask_and_refuses_to_overwrite(trained, face):
    tmp, ship = trained
    d = damage.apply("blocks", face, seed=2)
    src, mask, out = tmp / "in.png", tmp / "mask.png", tmp / "out.png"
    Image.fromarray(to_uint8(d.image)).save(src)
    Image.fromarray((d.mask[0].numpy() * 255).astype(np.uint8)).save(mask)
    r = _cli(src, out, "--damage", "blocks", "--mask", mask, "--model", ship, "--no-progress")
    assert r.returncode == 0, r.stderr
    result = np.asarray(Image.open(out))
    keep = d.mask[0].numpy() == 0
    assert result.shape == (96, 96, 3) and np.array_equal(result[keep], to_uint8(d.image)[keep])
    r = _cli(src, out, "--model", ship)
    assert r.returncode == 2 and "--force" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_blind_damage_is_the_safe_default_and_a_study_model_says_so(trained, face):
    """`--damage blind` (damage of unknown kind) runs the default repair, not the blind study model, which
    made photos outside its ranges up to 20 dB worse; a study model named with --model runs, with a note."""
    tmp, ship = trained
    src = tmp / "photo.png"
    Image.fromarray(to_uint8(face)).save(src)
    outs = {}
    for name, extra in [("default", []), ("blind", ["--damage", "blind"]), ("study", ["--model", ship])]:
        r = _cli(src, tmp / f"{name}.png", *extra, "--no-progress")
        assert r.returncode == 0, r.stderr
        assert ("study model" in r.stderr) == (name == "study"), r.stderr
        outs[name] = np.asarray(Image.open(tmp / f"{name}.png"))
    assert np.array_equal(outs["blind"], outs["default"])
    assert cli.main(["repair", str(src), str(tmp / "m.png"), "--damage", "blind", "--mask", str(src)]) == 2


def test_cli_bad_input_is_one_line_exit_2(trained, capsys):
    tmp, ship = trained
    r = _cli(tmp / "missing.png", tmp / "o1.png")
    assert r.returncode == 2 and "no such file" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    (tmp / "notimage.png").write_text("hello")
    Image.new("L", (10, 10)).save(tmp / "small_mask.png")
    Image.new("RGB", (32, 32)).save(tmp / "ok.png")
    for args in [(tmp / "notimage.png", tmp / "o2.png"),
                 (tmp / "ok.png", tmp / "o3.png", "--mask", tmp / "small_mask.png", "--model", ship),
                 (tmp / "ok.png", tmp / "o4.png", "--model", "no-such-model")]:
        assert cli.main(["repair", *map(str, args)]) == 2, args
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1, err
    assert not any((tmp / f"o{i}.png").exists() for i in range(1, 5))
