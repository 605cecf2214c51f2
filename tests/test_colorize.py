"""Colorization: Lab conversion against scikit-image, the models' pieces, the metrics, training on the
smoke fixtures, and `aeutils colorize` through the real entry point."""
import json
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import color as skcolor

from aeutils import checkpoint, color, config, metrics, zoo
from aeutils.errors import UserError
from aeutils.images import to_tensor, to_uint8
from aeutils.models import colorize as cm
from aeutils.tasks import colorize

RNG = np.random.default_rng(0)


# ---- Lab conversion ------------------------------------------------------------------------

def test_rgb_to_lab_matches_skimage():
    rgb = RNG.random((3, 20, 30))
    ours = color.rgb_to_lab(torch.tensor(rgb)).numpy()
    ref = skcolor.rgb2lab(rgb.transpose(1, 2, 0)).transpose(2, 0, 1)
    assert np.abs(ours - ref).max() < 1e-9
    # also on 8-bit extremes: black, white, primaries
    corners = np.array([[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], float)
    ours = color.rgb_to_lab(torch.tensor(corners.T[:, None, :])).numpy()[:, 0].T
    assert np.abs(ours - skcolor.rgb2lab(corners[None])[0]).max() < 1e-9


def test_lab_to_rgb_matches_skimage_in_and_out_of_gamut():
    lab = np.stack([RNG.uniform(0, 100, (25, 25)), RNG.uniform(-110, 110, (25, 25)), RNG.uniform(-110, 110, (25, 25))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skimage warns about the negative z it clips
        ref = skcolor.lab2rgb(lab.transpose(1, 2, 0)).transpose(2, 0, 1)
    assert np.abs(color.lab_to_rgb(torch.tensor(lab)).numpy() - ref).max() < 1e-9
    rgb = torch.tensor(RNG.random((2, 3, 8, 8)))
    assert torch.allclose(color.lab_to_rgb(color.rgb_to_lab(rgb)), rgb, atol=1e-10)


def test_lab_is_differentiable_float32():
    x = torch.rand(2, 3, 8, 8, requires_grad=True)
    y = color.lab_to_rgb(color.rgb_to_lab(x), clamp=False)
    y.sum().backward()
    assert torch.isfinite(x.grad).all()
    assert torch.allclose(y, x, atol=1e-4)


def test_fit_to_gamut_keeps_lightness_and_hue():
    L = torch.rand(1, 1, 16, 16, dtype=torch.float64) * 100
    ab = (torch.rand(1, 2, 16, 16, dtype=torch.float64) - 0.5) * 240
    fitted = color.fit_to_gamut(L, ab)
    raw = color.lab_to_rgb(torch.cat([L, fitted], 1), clamp=False)
    assert raw.min() > -1e-3 and raw.max() < 1 + 1e-3  # inside sRGB, so clamping changes nothing
    out = color.combine(L, ab)
    assert (color.rgb_to_lab(out)[:, :1] - L).abs().max() < 0.02
    # chroma only shrinks, along the same hue: fitted = s * ab with 0 <= s <= 1
    s = (fitted * ab).sum(1) / (ab * ab).sum(1)
    assert torch.allclose(fitted, s[:, None] * ab, atol=1e-9) and s.min() >= 0 and s.max() <= 1
    # colours already inside are left alone
    inside = color.rgb_to_lab(torch.rand(1, 3, 8, 8, dtype=torch.float64))
    assert torch.allclose(color.fit_to_gamut(inside[:, :1], inside[:, 1:]), inside[:, 1:])


def test_gray_rgb_is_neutral_with_that_lightness():
    L = torch.linspace(0, 100, 11, dtype=torch.float64).view(1, 1, 1, 11)
    g = color.gray_rgb(L)
    # neutral up to the rounding of the standard's matrix against its D65 white (1e-4 of a level)
    assert (g - g.mean(1, keepdim=True)).abs().max() < 1e-4
    assert torch.allclose(color.rgb_to_lab(g)[:, 0], L[:, 0], atol=1e-9)


# ---- quantized ab classification (Zhang et al. 2016) ---------------------------------------------

def test_ab_bins_cover_the_srgb_gamut():
    bins = cm.ab_bins()
    assert 200 < len(bins) < 330  # Zhang et al. count 313 over all lightnesses
    ab = color.rgb_to_lab(torch.rand(3, 1, 2000))[1:].reshape(2, -1).T
    assert torch.cdist(ab, bins).min(1).values.max() <= 5 * 2 ** 0.5 + 1e-4  # every colour is in a cell


def test_soft_encoding_and_annealed_mean():
    bins = cm.ab_bins()
    ab = torch.tensor([[12.0, -31.0], [40.0, 20.0]])
    z = cm.soft_encode(ab, bins)
    assert torch.allclose(z.sum(1), torch.ones(2))
    assert z.topk(5, dim=1).values.sum(1).min() > 0.9  # the mass sits on the nearest few bins
    mean = z @ bins
    assert (mean - ab).abs().max() < 5  # the soft target's mean stays near the true colour
    logits = torch.log(z.clamp(min=1e-8)).T.reshape(1, -1, 1, 2)
    sharp = cm.annealed_mean(logits, bins, temperature=0.01)
    assert torch.allclose(sharp[0, :, 0, 0], bins[z[0].argmax()], atol=1e-3)  # T -> 0: the mode
    assert torch.allclose(cm.annealed_mean(logits, bins, temperature=1.0)[0, :, 0].T, mean, atol=1e-3)  # T = 1


def test_rebalancing_weighs_rare_colours_more():
    bins = cm.ab_bins()
    counts = torch.ones(len(bins))
    common = cm.nearest_bin(torch.tensor([10.0, 20.0]).view(1, 2, 1, 1), bins).item()
    counts[common] = 1e6
    w = cm.rebalance_weights(counts, bins)
    assert w[common] < w.median() / 3
    p = counts / counts.sum()
    smooth = torch.exp(-torch.cdist(bins, bins) ** 2 / 50) @ p
    assert abs(float((smooth / smooth.sum() * w).sum()) - 1) < 1e-4


def test_classification_loss_prefers_the_true_colour():
    bins = cm.ab_bins()
    ab = torch.full((1, 2, 4, 4), 30.0)
    def logits_for(a, b):
        return 10 * cm.soft_encode(torch.tensor([[a, b]]), bins).T.reshape(1, -1, 1, 1).expand(1, -1, 4, 4)

    good, bad = logits_for(30.0, 30.0), logits_for(-30.0, -30.0)
    w = torch.ones(len(bins))
    assert cm.classification_loss(good, ab, bins, w) < cm.classification_loss(bad, ab, bins, w)


# ---- models -------------------------------------------------------------------------------------

class TinyFrozenEncoder(torch.nn.Module):
    """Stands in for aeutils.models.features' FeatureEncoder: features at strides 2, 4, 8, 16."""
    channels = [4, 4, 4, 4]
    source = "test"

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, 2, 1)
        self.bn = torch.nn.BatchNorm2d(4)

    def forward(self, x):
        out = [self.bn(self.conv(x))]
        for _ in range(3):
            out.append(torch.nn.functional.avg_pool2d(out[-1], 2))
        return out


@pytest.mark.parametrize("head", ["regression", "classification"])
def test_colorizer_shapes_any_size(head):
    m = cm.Colorizer("scratch", head, enc_channels=(8, 8, 8, 8), widths=(8, 8, 8)).eval()
    out = m(torch.rand(2, 1, 32, 48) * 100)
    assert out["ab"].shape == (2, 2, 32, 48) and out["ab_half"].shape == (2, 2, 16, 24)
    if head == "classification":
        assert out["logits"].shape == (2, len(cm.ab_bins()), 16, 24)
    for h, w in [(7, 50), (1, 1), (33, 17)]:
        assert cm.predict_ab(m, torch.rand(1, 1, h, w) * 100).shape == (1, 2, h, w)
    L = torch.rand(1, 1, 32, 48) * 100  # no padding: the flip self-ensemble mirrors exactly
    with torch.no_grad():
        assert not torch.allclose(m(L.flip(-1))["ab"], m(L)["ab"].flip(-1), atol=1e-4)  # the network alone does not
        assert torch.allclose(cm.predict_ab(m, L.flip(-1)), cm.predict_ab(m, L).flip(-1), atol=1e-5)


def test_a_hue_gives_each_image_that_tint_and_keeps_its_detail():
    torch.manual_seed(0)
    m = cm.Colorizer("scratch", "regression", enc_channels=(8, 8, 8, 8), widths=(8, 8, 8)).eval()
    with torch.no_grad():
        m.head.bias.copy_(torch.tensor([0.3, -0.1]))  # a strong, wrong tint
        L = torch.rand(2, 1, 40, 24) * 100
        m.chroma = 0.5
        plain = cm.predict_ab(m, L)
        m.chroma, m.tint, m.hue = 0.7, 0.5, (0.6, 0.8)
        ab = cm.predict_ab(m, L)
    raw = plain / 0.5
    tint, want = raw.mean((-2, -1), keepdim=True), ab.mean((-2, -1), keepdim=True)
    strength = tint.norm(dim=1, keepdim=True)
    assert torch.allclose(want, 0.5 * strength * torch.tensor([0.6, 0.8]).view(1, 2, 1, 1), atol=1e-4)
    assert torch.allclose(ab - want, 0.7 * (raw - tint), atol=1e-4)
    assert not torch.allclose(want[0], want[1])  # each image its own strength


def test_pretrained_encoder_stays_frozen():
    enc = TinyFrozenEncoder()
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    m = cm.Colorizer(enc, "regression", widths=(8, 8, 8)).train()
    assert not enc.training and all(not p.requires_grad for p in enc.parameters())
    opt = torch.optim.Adam(m.trainable_parameters(), lr=1e-2)
    L, ab = torch.rand(2, 1, 32, 32) * 100, torch.randn(2, 2, 32, 32) * 20
    loss = colorize.step_fn(m, (L, ab))["loss"]
    loss.backward()
    opt.step()
    after = enc.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and BN statistics


@pytest.mark.skipif(not (config.WEIGHTS_DIR / "face-encoder.pt").is_file(), reason="weights/face-encoder.pt absent")
def test_pretrained_approach_uses_the_face_encoder_frozen():
    arch = colorize.make_arch("pretrained", "smoke", encoder_source="face")
    assert arch["encoder"] == "face-codec-encoder"
    m = colorize.build(arch).train()
    trainable = {id(p) for p in m.trainable_parameters()}
    assert trainable and not any(id(p) in trainable for p in m.encoder.parameters())
    assert m(torch.rand(2, 1, 32, 48) * 100)["ab_half"].shape == (2, 2, 16, 24)


# ---- metrics ------------------------------------------------------------------------------------

def test_image_metrics_on_known_cases():
    rgb = (RNG.random((16, 16, 3)) * 255).round().astype(np.uint8)
    same = colorize.image_metrics(rgb, rgb)
    assert same["ab_rmse"] == 0 and same["auc"] == pytest.approx(1.0) and same["psnr"] == float("inf")
    gray = to_uint8(colorize.colorize_tensor(None, to_tensor(Image.fromarray(rgb))[None])[0])
    m = colorize.image_metrics(gray, rgb)
    assert m["colorfulness"] == pytest.approx(0, abs=1.5)  # 8-bit rounding leaves a trace of colour
    lab = color.rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1).double() / 255)
    assert m["ab_rmse"] == pytest.approx(float(lab[1:].norm(dim=0).pow(2).mean().sqrt()), abs=0.5)
    assert 0 < m["auc"] < 1 and m["l_dev"] < 0.5


def test_evaluate_baselines_on_fixture_faces():
    faces = colorize.faces("test", "smoke", limit=3)
    images = [faces[i] for i in range(len(faces))]
    res = colorize.evaluate({"gray": "gray", "mean ab": torch.tensor([10.0, 15.0])}, images)
    assert res["gray"]["colorfulness"] < 2 and res["gray"]["colorfulness_gap"] < -10
    assert res["mean ab"]["colorfulness"] > res["gray"]["colorfulness"]
    for r in res.values():
        assert r["n_images"] == 3 and r["l_dev_max"] < 0.5 and 0 < r["auc"] < 1


# ---- training and the command line ----------------------------------------------------------------

@pytest.fixture(scope="module")
def smoke_model(tmp_path_factory):
    """Train the classification colorizer for the smoke profile's few steps and ship it to a temp dir."""
    tmp = tmp_path_factory.mktemp("colorize")
    weights = tmp / "weights"
    weights.mkdir()
    old = config.WEIGHTS_DIR
    config.WEIGHTS_DIR = weights
    try:
        assert colorize.main(["--profile", "smoke", "--run-dir", str(tmp / "run"), "--approach", "scratch-classify",
                              "--ship", "cz-test", "--no-progress"]) == 0
    finally:
        config.WEIGHTS_DIR = old
    return tmp, weights / "cz-test.pt"


def test_training_writes_checkpoints_and_ships(smoke_model):
    tmp, weights = smoke_model
    run = tmp / "run"
    for name in ("last.pt", "best.pt", "summary.json", "arch.json"):
        assert (run / name).is_file()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == colorize.hparams("smoke").steps and "auc" in summary["best"]
    assert list(run.glob("events.out.tfevents.*"))
    m = zoo.load(str(weights))
    assert m.head_kind == "classification" and not torch.all(m.class_weights == 1)  # rebalanced
    assert checkpoint.load(weights)["metrics"]["n_images"] > 0
    card = weights.with_suffix(".md").read_text()  # the same ship path as a photo run's, with its card
    for text in ("# cz-test: face colorizer, approach scratch-classify", "class rebalancing", "3 steps",
                 "| cz-test |", "non-commercial"):
        assert text in card
    assert "VoxCeleb2" not in card and card == colorize.model_card(weights)


def test_a_study_run_trained_again_is_the_same(smoke_model, tmp_path):
    """Notebook 10 re-renders its approaches: the same data draws, so the same weights."""
    colorize.train("scratch-classify", "smoke", tmp_path / "again", progress=False)
    first = checkpoint.load(smoke_model[0] / "run" / "last.pt")["model"]
    again = checkpoint.load(tmp_path / "again" / "last.pt")["model"]
    assert all(torch.equal(first[k], again[k]) for k in first)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "aeutils", *map(str, args)], capture_output=True, text=True,
                          cwd=config.REPO_ROOT, timeout=300)


@pytest.mark.slow
def test_cli_colorizes_and_keeps_lightness(smoke_model, tmp_path):
    _, weights = smoke_model
    src = Image.fromarray((RNG.random((70, 150, 3)) * 255).astype(np.uint8)).resize((300, 140))  # colour, large
    src.save(tmp_path / "in.png")
    r = _cli("colorize", tmp_path / "in.png", tmp_path / "out.png", "--model", weights)
    assert r.returncode == 0, r.stderr
    out = Image.open(tmp_path / "out.png")
    assert out.size == src.size and out.mode == "RGB"
    L_in = color.rgb_to_lab(to_tensor(src))[0]
    L_out = color.rgb_to_lab(to_tensor(out))[0]
    assert (L_in - L_out).abs().max() < 0.5  # L kept up to the 8-bit rounding of the output
    # no overwrite without --force, and bad inputs are one line and exit 2
    r = _cli("colorize", tmp_path / "in.png", tmp_path / "out.png", "--model", weights)
    assert r.returncode == 2 and "--force" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = _cli("colorize", tmp_path / "missing.png", tmp_path / "o2.png", "--model", weights)
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_cli_bad_inputs_are_one_line(smoke_model, tmp_path, capsys):
    """The same entry function as `python -m aeutils`, in-process (interpreter start-up is the slow part)."""
    from aeutils.cli import main

    _, weights = smoke_model
    (tmp_path / "bad.png").write_bytes(b"not an image")
    Image.new("RGB", (8, 8)).save(tmp_path / "in.png")
    for args in [("bad.png", "--model", weights), ("in.png", "--model", "no-such-model"),
                 ("in.png", "--model", weights, "--work-side", "-3")]:
        assert main(["colorize", str(tmp_path / args[0]), str(tmp_path / "o.png"), *map(str, args[1:])]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "error" in err
    assert not (tmp_path / "o.png").exists()


def test_gray_input_through_the_api(smoke_model):
    _, weights = smoke_model
    model = zoo.load(str(weights))
    gray = Image.fromarray((RNG.random((40, 33)) * 255).astype(np.uint8), "L")
    out = colorize.colorize_image(model, gray.convert("RGB"))
    L_in = color.rgb_to_lab(to_tensor(gray.convert("RGB")))[0]
    assert out.size == gray.size and (color.rgb_to_lab(to_tensor(out))[0] - L_in).abs().max() < 0.5


@pytest.mark.skipif(not (config.WEIGHTS_DIR / f"{colorize.DEFAULT_MODEL}.pt").is_file(),
                    reason="shipped colorization model not present")
def test_shipped_model_colorizes_a_face():
    model = zoo.load(colorize.DEFAULT_MODEL)
    faces = colorize.faces("test", "smoke", limit=2)
    res = colorize.evaluate({"model": model}, [faces[i] for i in range(2)])["model"]
    assert res["colorfulness"] > 5 and res["l_dev_max"] < 0.5


def test_colorizing_in_tiles_equals_the_whole_image_pass(smoke_model):
    """`colorize_image` converts colours in tiles (here 48 px) of a 150x100 image: within one 8-bit
    level of `colorize_tensor` on the whole image, at the training scale and at full size."""
    model = zoo.load(str(smoke_model[1]))
    im = Image.fromarray((RNG.random((100, 150, 3)) * 255).astype(np.uint8))
    for work_side in (colorize.WORK_SIDE, None):
        with torch.no_grad():
            whole = to_uint8(colorize.colorize_tensor(model, to_tensor(im)[None], work_side)[0]).astype(int)
        tiles = np.asarray(colorize.colorize_image(model, im, work_side, tile=48)).astype(int)
        assert np.abs(tiles - whole).max() <= 1


def test_the_copy_the_model_sees_is_bounded(smoke_model, monkeypatch):
    model = zoo.load(str(smoke_model[1]))
    monkeypatch.setattr("aeutils.tasks.colorize.model.MODEL_PIXELS", 50 * 50)
    im = Image.new("RGB", (60, 60))
    assert colorize.colorize_image(model, im, 40).size == (60, 60)
    with pytest.raises(UserError, match="--work-side"):
        colorize.colorize_image(model, im, None)


# ---- photos from any source: against gray, the bars, fine-tuning on photo-like crops ----------------

def test_cast_is_what_passes_the_truth_beyond_the_margin():
    """Between gray's mean error and none (too little colour) is allowed, and CAST_MAX past either."""
    m = colorize.CAST_MAX

    def cast_added(shift, gray_shift):  # the colorizer's bar: gray is the reference
        return metrics.cast_added(shift, gray_shift, margin=m)

    assert cast_added(-5.0, -9.0) == 0 and cast_added(m, -9.0) == 0
    assert cast_added(7.0, -9.0) == pytest.approx(7.0 - m)  # redder than the truth: a cast
    assert cast_added(-12.0, -9.0) == pytest.approx(3.0 - m)  # further than gray itself
    assert cast_added(3.0, 10.0) == 0 and cast_added(-4.0, 10.0) == pytest.approx(4.0 - m)


def _source(ratio, shift, worse=0):
    return {"ratio": ratio, "rgb_shift": shift, "rgb_shift_gray": [-9.0, 3.0, 12.0], "worse": worse, "images": 4}


def test_select_score_puts_every_bar_met_first():
    good = colorize.select_score({"a": _source(0.9, [-1.0, 0.0, 2.0]), "b": _source(0.95, [0.0, 0.0, 0.0], 1)})
    assert good["select"] == pytest.approx(good["gain"]) == pytest.approx(0.075) and good["worse"] == 1 / 8
    cast = colorize.select_score({"a": _source(0.5, [6.0, 0.0, 2.0]), "b": _source(0.5, [0.0, 0.0, 0.0])})
    worse = colorize.select_score({"a": _source(1.1, [0.0, 0.0, 0.0]), "b": _source(0.5, [0.0, 0.0, 0.0])})
    assert cast["select"] == pytest.approx(-4.0) and worse["select"] == pytest.approx(-0.1)
    assert good["select"] > worse["select"] > cast["select"]


def test_against_gray_and_a_chroma_factor_of_zero_is_gray(smoke_model):
    model = zoo.load(str(smoke_model[1]))
    sources = {"smoke": [colorize.faces("test", "smoke", limit=3)[i] for i in range(3)]}
    r = colorize.against_gray(model, sources)["smoke"]
    assert r["images"] == 3 and 0 <= r["worse"] <= 3 and len(r["rgb_shift"]) == len(r["rgb_shift_gray"]) == 3
    assert r["ratio"] == pytest.approx(r["ab_rmse"] / r["ab_rmse_gray"])
    model.chroma = 0.0
    r = colorize.against_gray(model, sources)["smoke"]
    assert r["ratio"] == pytest.approx(1) and r["worse"] == 0 and r["rgb_shift"] == r["rgb_shift_gray"]
    chosen = colorize.choose_chroma(model, sources, hue=(0.6, 0.8))
    assert model.tint in colorize.TINT_FACTORS and model.chroma in colorize.CHROMA_FACTORS
    assert model.hue in [colorize.turned((0.6, 0.8), t) for t in colorize.HUE_TURNS] and set(chosen) == {"smoke"}
    assert "forward" not in vars(model)  # the memo of forward passes is gone
    assert chosen == colorize.against_gray(model, sources)  # the memo changed nothing


def test_a_hue_turns_toward_yellow():
    assert colorize.turned((1.0, 0.0), 90) == pytest.approx((0.0, 1.0), abs=1e-4)
    a, b = colorize.turned((0.6, 0.8), 12)
    assert math.hypot(a, b) == pytest.approx(1, abs=1e-3) and b / a > 0.8 / 0.6


def test_photo_fine_tuning_ships_the_chroma_factor_and_a_card(smoke_model, tmp_path, monkeypatch):
    monkeypatch.setattr(config, "WEIGHTS_DIR", tmp_path)
    assert colorize.main(["--profile", "smoke", "--data", "photos", "--init", str(smoke_model[1]),
                          "--run-dir", str(tmp_path / "run"), "--ship", "cz-photo", "--no-progress"]) == 0
    ck = checkpoint.load(tmp_path / "cz-photo.pt")
    arch = ck["arch"]
    assert arch["chroma"] in colorize.CHROMA_FACTORS and arch["tint"] in colorize.TINT_FACTORS
    hues = [colorize.turned(colorize.training_hue("smoke"), t) for t in colorize.HUE_TURNS]
    assert tuple(arch["hue"]) in hues
    assert math.hypot(*arch["hue"]) == pytest.approx(1, abs=1e-3)
    assert ck["init"] == "cz-test" and ck["steps"] == 3
    assert len(ck["runs"]) == 1 and "aligned CelebA faces" in ck["runs"][0]  # what cz-test was
    assert set(ck["metrics"]["test"]) == {"smoke"} and "select" in ck["metrics"]["val_score"]
    shipped = zoo.load(str(tmp_path / "cz-photo.pt"))
    assert (shipped.tint, shipped.chroma, list(shipped.hue)) == (arch["tint"], arch["chroma"], arch["hue"])
    card = (tmp_path / "cz-photo.md").read_text()
    for text in ("Tint factor", "chroma factor", "itself made by", "`cz-test`", "VoxCeleb2", "non-commercial",
                 "3 steps", "| smoke | 2 |"):
        assert text in card

    def init_runs(run: str, init: str) -> list:
        assert colorize.main(["--profile", "smoke", "--data", "photos", "--init", init,
                              "--run-dir", str(tmp_path / run), "--no-progress"]) == 0
        return json.loads((tmp_path / run / "arch.json").read_text())["init_runs"]

    later = init_runs("run2", str(tmp_path / "cz-photo.pt"))  # a fine-tune of the fine-tune
    assert len(later) == 2 and "3 steps on photo crops" in later[1] and "tint x" in later[1]
    assert init_runs("run", str(tmp_path / "cz-photo.pt")) == ck["runs"]  # resumed: still what it started from

    # no step: the same weights, their hue and factors chosen again
    assert colorize.main(["--profile", "smoke", "--data", "photos", "--init", str(tmp_path / "cz-photo.pt"),
                          "--run-dir", str(tmp_path / "run0"), "--steps", "0", "--ship", "cz-again",
                          "--no-progress"]) == 0
    again = checkpoint.load(tmp_path / "cz-again.pt")
    assert again["steps"] == 0 and all(torch.equal(v, again["state_dict"][k]) for k, v in ck["state_dict"].items())
    assert "not trained further" in (tmp_path / "cz-again.md").read_text()
    assert "no step: the same weights" in init_runs("run3", str(tmp_path / "cz-again.pt"))[-1]


def test_photo_fine_tuning_from_an_unknown_model_is_one_line(tmp_path, capsys):
    from aeutils.cli import main

    assert main(["train", "colorize", "--profile", "smoke", "--data", "photos", "--init", "no-such-model",
                 "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "no-such-model" in err


def test_a_run_record_says_how_a_shipped_file_was_made():
    from aeutils.tasks.colorize.train import run_record

    assert run_record({"approach": "scratch-classify", "steps": 600}) == (
        "notebook 10's scratch-classify approach, 600 steps on aligned CelebA faces")
    photo = {"data": "photos", "arch": {"chroma": 0.5}, "steps": 3000, "train_seconds": 1800, "best": {"step": 1200}}
    assert run_record(photo) == ("3000 steps on photo crops (30 minutes), step 1200 chosen on validation, "
                                 "shipped with its output scaled by 0.5")
    photo["arch"] = {"chroma": 1.0, "tint": 0.6, "hue": [0.6, 0.8]}
    assert run_record(photo).endswith("shipped with tint x0.6 in the faces' hue and chroma x1")
