"""Repair that holds up on any photo: damage at a given or wide strength, photo-like training
crops, validation sources, the robustness sweep and its verdict, the wide trainer, TensorBoard's host."""
import warnings
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from aeutils import cli, config, metrics, tb, zoo
from aeutils.benchmark import baselines, blur_estimate, robustness
from aeutils.datasets import damage, photos
from aeutils.datasets.sources import FaceImages, smoke_images
from aeutils.images import jpeg_luma_steps, jpeg_quality, luma_table, sample_faces, to_image, to_tensor, to_uint8
from aeutils.models.repair import build
from aeutils.tasks import repair
from aeutils.tasks.repair import holes, infer
from aeutils.tasks.repair.train import _start
from conftest import needs_celeba


@pytest.fixture(scope="module")
def face():
    return to_tensor(smoke_images(1, size=64, seed=5)[0])


@contextmanager
def levels_told():
    """The fourth-channel level of every `repair_array` call made inside (None: a model not told)."""
    seen, real = [], infer.repair_array
    infer.repair_array = lambda *args, **kw: seen.append(kw.get("level")) or real(*args, **kw)
    try:
        yield seen
    finally:
        infer.repair_array = real


def test_given_strength_is_used_and_zero_strength_is_the_identity(face):
    for kind, name, values in [("noise", "sigma", (5 / 255, 50 / 255)), ("blur", "sigma", (0.5, 3.0)),
                               ("jpeg", "quality", (95, 10)), ("pixelate", "factor", (2, 8))]:
        light, heavy = (damage.apply(kind, face, seed=1, **{name: v}) for v in values)
        assert light.params[name] == values[0]
        assert metrics.psnr(to_uint8(light.image), to_uint8(face)) > metrics.psnr(to_uint8(heavy.image), to_uint8(face))
    unblurred = damage.sweep_damage("blur", face, None).image
    assert torch.equal(damage.apply("blur", face, seed=1, sigma=0.0).image, unblurred)
    unpixelated = to_tensor(Image.fromarray(to_uint8(face)))
    assert torch.equal(damage.apply("pixelate", face, seed=1, factor=1).image, unpixelated)


@pytest.mark.parametrize("kind", [k for k in damage.WIDE if k not in damage.HOLE_KINDS])
def test_wide_draws_cover_none_to_heavy(face, kind):
    rng = np.random.default_rng(0)
    scores = [metrics.psnr(to_uint8(damage.draw_wide(kind, face, rng).image), to_uint8(face)) for _ in range(60)]
    assert any(s == float("inf") for s in scores)  # some draws leave the image clean
    assert min(scores) < 28 and np.median(scores) > min(scores) + 3  # light draws as well as heavy ones


def test_wide_noise_is_saved_as_a_jpeg_in_some_draws_at_every_quality_of_its_range(face):
    """Most users' noisy photos are JPEGs: `jpeg_after` saves a share of the noisy draws at a quality
    drawn from its range, and says so in the params (what the JPEG model of the command would read)."""
    share, lowest, above = damage.WIDE["noise"]["jpeg_after"]
    rng = np.random.default_rng(0)
    qualities = [damage.draw_wide("noise", face, rng).params.get("quality") for _ in range(400)]
    saved = [q for q in qualities if q is not None]
    assert abs(len(saved) / len(qualities) - share * (1 - damage.WIDE["noise"]["none"])) < 0.06
    assert lowest <= min(saved) < lowest + 10 and above - 10 <= max(saved) < above


@pytest.mark.parametrize("kind", damage.HOLE_KINDS)
def test_wide_holes_range_from_a_few_pixels_to_a_third_of_the_face(kind):
    x = to_tensor(smoke_images(1, size=96, seed=5)[0])
    rng = np.random.default_rng(0)
    covered = [float(damage.draw_wide(kind, x, rng).mask.mean()) for _ in range(60)]
    assert min(covered) > 0  # every draw has holes: a crop without any teaches a hole model nothing
    assert min(covered) < 0.08 and max(covered) > 0.15  # (grid lines: 1-2 px every 6-32 px)
    name, strengths = damage.SWEEP[kind]
    swept = [float(damage.sweep_damage(kind, x, s, seed=1).mask.mean()) for s in strengths]
    assert swept == sorted(swept) and swept[0] < swept[-1] / 4  # the sweep goes from light to heavy
    assert not damage.sweep_damage(kind, x, None).mask.any()  # the clean cell: a mask with no holes
    assert damage.apply(kind, x, seed=1).mask.any()  # the study's draw without a strength still works


def test_wide_hole_pairs_are_prefilled_and_show_their_mask():
    crops = photos.PhotoCrops([FaceImages(smoke_images(n=2, size=64, seed=0))], 32)
    torch.manual_seed(1)
    clean, inp = repair.WidePairs(crops, "squares")[0]
    mask = inp[3] > 0.5
    assert inp.shape == (4, 32, 32) and mask.any()
    assert (inp[:3, mask] > 0).any()  # the holes hold the biharmonic fill, not black
    assert torch.allclose(inp[:3, ~mask], clean[:, ~mask], atol=0.5 / 255)  # known pixels as they were


def test_the_wide_hole_and_jpeg_models_run_as_a_flip_self_ensemble():
    """A wide squares or grid model's fill is the mean of its fill of the photo and of the mirrored photo
    (mirrored back); blocks, told and study models run once; known pixels are kept either way. `once` also
    gives the output run once (where the default reads a JPEG's noise)."""
    ramp = torch.linspace(0, 0.2, 64)  # a "model" that adds a left-to-right ramp: mirrored, its mean is added

    class Ramp(torch.nn.Module):
        def forward(self, x):
            return x[:, :3] + ramp

    photo = np.full((64, 64, 3), 100, np.uint8)
    mask = np.zeros((64, 64), bool)
    mask[20:40, 10:30] = True
    for kind, strengths, mirrored in (("grid", "wide", True), ("blocks", "wide", False), ("squares", "study", False)):
        model = repair.mark(Ramp(), kind, strengths)
        assert model.mirrored == mirrored
        added = np.round(255 * (ramp.mean() if mirrored else ramp[10:30])).numpy()
        out, once = repair.repair_array(model, photo, mask, once=True)
        assert np.array_equal(out[~mask], photo[~mask]) and np.abs(out[20:40, 10:30, 0] - 100 - added).max() <= 1
        assert np.array_equal(out, repair.repair_array(model, photo, mask))
        assert np.abs(once[20:40, 10:30, 0] - 100 - np.round(255 * ramp[10:30]).numpy()).max() <= 1
    shipped = ("repair-grid", "repair-squares-jpeg", "repair-jpeg", "repair-blocks", "repair-noise", "repair-blind")
    assert [repair.load_model(name)[0].mirrored for name in shipped] == [True, True, True, False, True, False]


def test_only_a_blur_model_trained_on_jpeg_files_runs_on_one():
    """The lossless blur model sharpens a JPEG's blocks with its blur: a JPEG file is left to the model
    trained on them (`--jpeg`), which `model_for` picks where it is shipped."""
    lossless, for_jpeg = (repair.mark(torch.nn.Identity(), "blur", "wide", jpeg) for jpeg in (False, True))
    assert repair.blur_repairable(None, lossless) and not repair.blur_repairable(90, lossless)
    assert repair.blur_repairable(90, for_jpeg) and repair.blur_repairable(None, for_jpeg)
    photo = np.full((32, 32, 3), 90, np.uint8)
    out = repair.repair_known(lossless, photo, {"quality": 90, "sigma": 2.0})
    assert out is not photo and np.array_equal(out, photo)  # a copy, as it was
    jpeg_file = repair.model_for("blur", jpeg=True)
    assert jpeg_file.endswith("-jpeg") == (config.WEIGHTS_DIR / "repair-blur-jpeg.pt").is_file()
    assert repair.model_for("blur") == "repair-blur" and repair.model_for("noise", jpeg=True) == "repair-noise"


def test_a_wide_hole_model_s_loss_weighs_a_small_hole_as_much_as_a_large_one():
    from aeutils.tasks.repair.train import _hole_step

    clean = torch.zeros(2, 3, 8, 8)
    mask = torch.zeros(2, 1, 8, 8)
    mask[0, 0, 3, 3] = 1  # one pixel missing
    mask[1, 0, :4] = 1  # half the crop missing
    inp = torch.cat([clean, mask], 1)
    off_in_holes = _hole_step(lambda x: x[:, :3] + 0.1 * x[:, 3:], (clean, inp))["loss"]
    assert float(off_in_holes) == pytest.approx(0.01)  # both crops count alike, however large their holes
    assert float(_hole_step(lambda x: x[:, :3] + 0.1 * (1 - x[:, 3:]), (clean, inp))["loss"]) == 0  # known pixels


def test_a_hole_model_is_measured_against_the_fill_it_refines(face):
    """For holes the sweep always has the biharmonic fill (`robustness.reference`), and a model
    that returns it exactly meets the bar, while one that leaves the holes black falls short by far."""
    def fill(model, im, told):
        return baselines.inpaint_biharmonic(im, told["mask"]) if model == "fill" else im
    assert robustness.reference("blocks") == "biharmonic" and robustness.reference("noise") == "input"
    res = robustness.sweep("blocks", {"fill": "fill", "black": "black"}, {"s": [face]}, fill)
    assert set(res["s"]["size 0.15"]) == {"input", "fill", "black", "biharmonic"}
    same = robustness.summary(res, "fill", robustness.reference("blocks"))
    assert same["gain_min"] == 0 and same["short"] == [] and same["select"] == same["psnr"]
    assert same["clean_min"] == 60  # a clean photo with a mask of no holes comes back as it was
    black = robustness.summary(res, "black", "biharmonic")
    assert black["gain_min"] < -3 and black["select"] < 0
    tuned = robustness.tune("grid", {"s": [face]})
    assert set(tuned[8]) == {"biharmonic", "telea", "navier-stokes"}


def test_photo_crops_vary_like_photos():
    faces = [FaceImages(smoke_images(n=2, size=96, seed=0))]
    crops = photos.PhotoCrops(faces, crop=48, length=10)
    torch.manual_seed(0)
    a, b = crops[0], crops[0]
    assert a.shape == (3, 48, 48) and 0 <= a.min() and a.max() <= 1
    assert not torch.equal(a, b)  # a new rescale / window / jitter each time
    assert len(crops) == 10


@pytest.mark.needs_data("lfw-val")
def test_validation_and_test_images_never_overlap():
    val = photos.validation_faces("cpu", 8)["lfw"]
    test = photos.test_faces(24)["lfw"]
    assert len(val) == 8 and len(test) == 24
    for v in val:
        assert not any(v.shape == t.shape and torch.equal(v, t) for t in test)


def _identity(model, im, params):
    return im


def test_sweep_scores_the_input_itself_as_no_gain(face):
    res = robustness.sweep("noise", {"same": None}, {"s": [face]}, _identity)
    assert list(res["s"]) == ["clean"] + [robustness.label("noise", s) for s in damage.SWEEP["noise"][1]]
    v = robustness.summary(res, "same")
    assert v["gain_min"] == 0 and v["clean_min"] == 60
    assert res["s"]["clean"]["same"]["cast"] == 0 and res["s"]["sigma 5"]["same"]["cast"] < 1
    below = [f"s {cell}" for cell, c in res["s"].items() if c["same"]["psnr"] < 40]
    assert v["short"] == below and len(below) >= len(damage.SWEEP["noise"][1]) - 1  # none +0.3 dB above its input


def test_tuned_baselines_beat_the_input_on_heavy_noise(face):
    tuned = robustness.tune("noise", {"s": [face]})
    assert set(tuned) == set(damage.SWEEP["noise"][1])
    res = robustness.sweep("noise", {}, {"s": [face]}, _identity, tuned=tuned)
    heavy = res["s"]["sigma 50"]
    assert heavy["nlm"]["psnr"] > heavy["input"]["psnr"] + 3
    assert "| sigma 50 |" in robustness.markdown(dict(s={k: dict(v, model=v["input"]) for k, v in res["s"].items()}),
                                                 "model")


def test_mixtures_apply_each_damage_in_turn_and_tell_only_the_jpeg_s_quality(face):
    """A mixture is its damages in order, seeded (noise then a JPEG: what the file says is its
    quality); the sweep of the default visits each one by name, with NLM tuned per mixture."""
    d = damage.sweep_damage(damage.MIXED, face, "noise 10 + q75", seed=4)
    noisy = damage.apply("noise", face, rng=np.random.default_rng(4), sigma=10 / 255).image
    assert d.params == {"quality": 75} and d.mask is None
    assert torch.equal(d.image, damage.jpeg_roundtrip(noisy, 75))
    assert torch.equal(d.image, damage.sweep_damage(damage.MIXED, face, "noise 10 + q75", seed=4).image)
    assert damage.sweep_damage(damage.MIXED, face, "blur 2 + noise 10", seed=4).params == {}
    seen = []

    def tell(model, im, params):
        seen.append(params)
        return im

    tuned = robustness.tune(damage.MIXED, {"s": [face]})
    res = robustness.sweep(damage.MIXED, {"same": None}, {"s": [face]}, tell, tuned=tuned)
    assert list(res["s"]) == ["clean", *damage.MIXES] and set(tuned) == set(damage.MIXES)
    assert {"quality": 90} in seen and {} in seen
    assert res["s"]["noise 25 + q75"]["nlm"]["psnr"] > res["s"]["noise 25 + q75"]["input"]["psnr"] + 2


def test_a_sweep_saved_as_jpeg_tells_the_quality_and_keeps_the_mask(face):
    """`saved_as`: every damaged photo (and the clean one) saved as a JPEG of that quality, as users'
    photos are; the command is told the file's quality, and a hole damage still its true mask."""
    seen = []

    def tell(model, im, params):
        seen.append((im, params))
        return im

    res = robustness.sweep("blocks", {"same": None}, {"s": [face]}, tell, saved_as=75)
    clean = damage.sweep_damage("blocks", face, None, seed=0)
    assert np.array_equal(seen[0][0], to_uint8(damage.jpeg_roundtrip(clean.image, 75)))
    assert all(params["quality"] == 75 and params["mask"].dtype == bool for _, params in seen)
    assert seen[1][1]["mask"].any() and not seen[0][1]["mask"].any()
    assert res["s"]["clean"]["input"]["psnr"] < 60  # the clean photo's own JPEG loss counts
    lossless = []
    robustness.sweep("blocks", {"same": None}, {"s": [face]}, lambda m, im, p: lossless.append(p) or im)
    assert "quality" not in lossless[1]


def test_a_sweep_of_a_mosaic_over_part_of_the_photo_tells_its_baselines_the_box(face):
    """`part`: each mosaic covers a box of that share of each side; Lanczos, told the box, changes only it."""
    seen = []
    res = robustness.sweep("pixelate", {"same": None}, {"s": [face]}, lambda m, im, p: seen.append((im, p)) or im,
                           tuned={s: {"bicubic": None, "lanczos": None} for s in damage.SWEEP["pixelate"][1]},
                           part=0.5)
    im, params = seen[3]  # 4 px
    top, left, h, w = params["box"]
    outside = np.ones(im.shape[:2], bool)
    outside[top:top + h, left:left + w] = False
    assert params["part"] == 0.5 and np.array_equal(im[outside], to_uint8(face)[outside])
    out = robustness.BASELINES["pixelate"]["lanczos"][1](im, params, None)
    assert np.array_equal(out[outside], im[outside]) and not np.array_equal(out, im)
    assert res["s"]["x 4"]["lanczos"]["psnr"] > res["s"]["x 4"]["input"]["psnr"]


def test_a_brightening_model_shows_a_colour_cast(face):
    def redden(model, im, params):
        out = im.astype(int)
        out[..., 0] += 20
        return np.clip(out, 0, 255).astype(np.uint8)
    v = robustness.summary(robustness.sweep("blur", {"red": None}, {"s": [face]}, redden), "red")
    assert 15 < v["cast_max"] < 21 and v["cast_added"] > 14 and v["clean_min"] < 30


def test_a_cast_counts_only_past_one_level_and_the_input_s_own_shift():
    """The sweep's bar (`metrics.cast_added` with the damaged input as the reference, at least CAST_MAX)."""
    m = robustness.CAST_MAX

    def cast_added(cast, input_cast):
        return metrics.cast_added(cast, input_cast, floor=m)

    assert cast_added(m, 0.0) == 0 and cast_added(0.5, 3.0) == 0 and cast_added(3.0, 3.0) == 0
    assert cast_added(2.5, 0.2) == pytest.approx(2.5 - m) and cast_added(5.0, 3.0) == pytest.approx(2.0)
    for cast, input_cast in [(0.0, 0.0), (0.7, 2.0), (1.3, 0.4), (7.25, 3.5), (2.0, 2.0)]:  # as before it was shared
        assert cast_added(cast, input_cast) == max(0.0, cast - max(m, input_cast))


def test_wide_training_starts_as_the_identity_and_resumes(tmp_path):
    model = build(repair.wide_hparams("smoke").arch)
    im = to_uint8(to_tensor(smoke_images(1, size=48, seed=2)[0]))
    assert np.array_equal(repair.repair_array(model, im), im)  # zero head: output = input
    _, first = repair.train_wide("noise", "smoke", tmp_path / "run", steps=4, progress=False)
    _, again = repair.train_wide("noise", "smoke", tmp_path / "run", steps=6, progress=False)
    assert first["steps"] == 4 and again["steps"] == 6
    assert {"psnr", "gain_min", "clean_min", "cast_max"} <= set(again["best"])


def test_train_cli_refuses_wide_for_a_damage_it_cannot_train(capsys):
    assert cli.main(["train", "repair", "--profile", "smoke", "--damage", "blind", "--strengths", "wide"]) == 2
    assert "--strengths wide trains" in capsys.readouterr().err


@needs_celeba
def test_training_faces_include_both_sources_when_compiled():
    faces = photos.training_faces("cpu")
    assert len(faces[0]) == 4800  # CelebA identities 0-159
    if (photos.VOXCELEB2_DENSE / "manifest.csv").is_file():
        assert len(faces) == 2 and len(faces[1]) > 1000


def test_tensorboard_listens_on_localhost_unless_asked(monkeypatch):
    calls = []

    class FakeIPython:
        def run_line_magic(self, name, line):
            calls.append((name, line))

    import IPython
    monkeypatch.setattr(IPython, "get_ipython", lambda: FakeIPython())
    tb.embed_tensorboard("runs/x", 6009, "cpu")
    tb.embed_tensorboard("runs/x", 6009, "cpu", bind_all=True)
    assert calls[1] == ("tensorboard", "--logdir runs/x --port 6009 --host localhost")
    assert calls[3][1].endswith("--bind_all")


def test_a_rendering_run_starts_no_tensorboard(monkeypatch):
    import IPython
    monkeypatch.setattr(IPython, "get_ipython", lambda: pytest.fail("a render must not start TensorBoard"))
    monkeypatch.setenv("AEUTILS_TENSORBOARD", "0")
    line = tb.embed_tensorboard(config.REPO_ROOT / "runs" / "cpu" / "experiment1", 6100, "cpu")
    assert line.endswith("run `tensorboard --logdir runs/cpu/experiment1 --port 6100`")


@pytest.mark.parametrize("kind", damage.HOLE_KINDS)
def test_holes_are_found_from_the_damage(kind):
    x = to_tensor(smoke_images(1, size=128, seed=3)[0])
    for seed in range(3):
        d = damage.apply(kind, x, seed=seed)
        truth = d.mask[0].numpy() > 0.5
        found = holes.find_holes(to_uint8(d.image))
        assert (found & truth).sum() >= 0.9 * truth.sum()  # (overlapping squares at the border may be missed)
        assert (found & ~truth).sum() <= 0.01 * truth.sum()


def test_black_corners_bars_and_dark_regions_of_a_photo_are_not_holes():
    im = np.asarray(smoke_images(1, size=128, seed=3)[0].rotate(20, fillcolor=(0, 0, 0))).copy()
    im[:6] = 0  # a letterbox bar
    im[60:70, 20:40] = 0
    im[56:74, 16:44] = im[56:74, 16:44] // 8  # a dark region around a black patch of no one shape
    im[60:70, 20:40] = 0
    im[64:67, 40:42] = 0
    assert not holes.find_holes(im).any()
    im[80:90, 50:70] = 0  # a real hole: sharp edges on the face
    found = holes.find_holes(im)
    assert found[80:90, 50:70].all() and found.sum() == 200
    im[100:110, 90:100] = im[100:110, 90:100] // 8  # a whole square dropped into dark hair: a hole too
    im[102:108, 92:98] = 0
    assert holes.find_holes(im)[102:108, 92:98].all()


def test_thin_black_runs_borders_and_one_way_lines_of_a_photo_are_not_holes():
    im = np.asarray(smoke_images(1, size=128, seed=3)[0]).copy()
    im[120:123] = 0  # black rows near the bottom (a scanned border), but no columns: not a grid
    im[118, 20:28] = 0  # a 1-px run of JPEG black
    im[0:10, 0:80] = 0  # a band along the top border, longer than half the side
    assert not holes.find_holes(im).any()


def test_a_photo_s_black_border_line_and_blobs_are_not_holes_but_squares_at_its_border_are():
    im = np.asarray(smoke_images(1, size=128, seed=3)[0]).copy()
    im[:, 5:7] = 0  # one black line down the photo: its border, not a grid
    yy, xx = np.mgrid[:128, :128]
    im[(yy - 90) ** 2 + (xx - 40) ** 2 < 49] = 0  # a round black blob: part of the photo
    assert not holes.find_holes(im).any()
    im[0:12, 100:112] = 0  # two overlapping squares at the border: an L of straight runs
    im[8:20, 108:120] = 0
    found = holes.find_holes(im)
    assert found[0:12, 100:112].all() and found[8:20, 108:120].all() and found.sum() == 12 * 12 * 2 - 16


def test_unions_of_squares_are_holes_at_the_border_and_in_dark_hair_but_staircases_are_not():
    im = np.asarray(smoke_images(1, size=128, seed=3)[0]).copy()
    for k in range(20):  # a staircase of 1-px steps at the border: a rotated photo's black corner
        im[100 + k, :20 - k] = 0
    assert not holes.find_holes(im).any()
    for k in range(0, 16, 4):  # a photo's thick black corner in 4-px steps, filling 62% of its box
        im[k:k + 4, 112 + k:] = 0
    assert not holes.find_holes(im).any()
    for k in (0, 10, 20):  # a chain of overlapping squares from the corner, under half its box
        im[k:k + 12, k:k + 12] = 0
    im[50:80, 60:90] = im[50:80, 60:90] // 8  # dark hair, and two overlapping squares dropped into it
    im[55:65, 65:75] = 0
    im[60:70, 70:80] = 0
    found = holes.find_holes(im)
    assert found[:32, :32].sum() == 3 * 144 - 2 * 4 and found[55:70, 65:80].sum() == 2 * 100 - 25
    assert found.sum() == 3 * 144 - 2 * 4 + 2 * 100 - 25


def test_a_square_merged_into_a_photo_s_black_background_is_found_behind_its_exposed_sides():
    im = np.asarray(smoke_images(1, size=128, seed=3)[0]).copy()
    im[:40] = 0  # a black background along the top, ragged at its lower edge
    im[40:43, ::3] = 0
    assert not holes.find_holes(im).any()
    im[30:50, 60:80] = 0  # a square half over it: its lower part, on the face, is found
    found = holes.find_holes(im)
    assert found[43:50, 60:80].all() and not found[:30].any() and found.sum() <= 20 * 20


@pytest.mark.slow
def test_shipped_noise_model_never_harms_a_photo_through_the_cli(tmp_path):
    """The shipped `aeutils repair --damage noise` on real face photos (the demo's embedded ones):
    a clean photo comes back nearly unchanged, a lightly noisy one comes back closer, no colour cast."""
    import subprocess
    import sys

    for i, face in enumerate(smoke_images(2, size=128, seed=11)):
        x = to_tensor(face)
        for sigma in (None, 10 / 255):
            d = damage.sweep_damage("noise", x, sigma, seed=i)
            src, out = tmp_path / f"in{i}-{sigma}.png", tmp_path / f"out{i}-{sigma}.png"
            Image.fromarray(to_uint8(d.image)).save(src)
            r = subprocess.run([sys.executable, "-m", "aeutils", "repair", str(src), str(out), "--damage", "noise",
                                "--no-progress"], capture_output=True, text=True, timeout=300)
            assert r.returncode == 0, r.stderr
            gt, inp, res = to_uint8(x), to_uint8(d.image), np.asarray(Image.open(out))
            if sigma is None:
                assert metrics.psnr(res, gt) >= 40
            else:
                assert metrics.psnr(res, gt) >= metrics.psnr(inp, gt) + 0.3
            assert np.abs((res.astype(float) - gt).reshape(-1, 3).mean(0)).max() < 1.0


def test_the_noise_model_runs_only_where_noise_is_found(tmp_path, capsys):
    """`--damage noise` gates as the default does: a photo whose noise estimate is below its ramp is
    written unchanged with a one-line note, a lightly noisy one gets part of the model's correction (said
    on stderr), a noisy one all of it."""
    model, summary = repair.train_wide("noise", "smoke", tmp_path / "run", steps=1, progress=False)
    ship = tmp_path / "repair-noise.pt"
    zoo.save_shipped(ship, "repair", repair.wide_hparams("smoke").arch, model, {"val": summary["best"]},
                     damage="noise", strengths="wide")
    smooth = np.broadcast_to(np.linspace(40, 200, 96)[None, :, None], (96, 96, 3))
    light = 255 * sum(repair.GREY_RAMP) / 2  # half-way up the ramp of a lossless grey photo (grey noise keeps it grey)
    for sigma, name in ((0, "clean.png"), (light, "light.png"), (20, "noisy.png")):
        noisy = smooth + np.random.default_rng(0).normal(0, sigma, (96, 96, 1)) if sigma else smooth
        Image.fromarray(np.clip(np.round(noisy), 0, 255).astype(np.uint8)).save(tmp_path / name)
        args = ["repair", str(tmp_path / name), str(tmp_path / f"out-{name}"), "--damage", "noise", "--model",
                str(ship), "--no-progress"]
        assert cli.main(args) == 0
        err = capsys.readouterr().err
        same = np.array_equal(np.asarray(Image.open(tmp_path / f"out-{name}")), np.asarray(Image.open(tmp_path / name)))
        assert ("no noise found" in err and same) if not sigma else "no noise found" not in err
        assert ("of the model's correction" in err) == (sigma == light)


def test_damage_noise_repairs_a_noisy_coarse_jpeg_through_the_command(tmp_path, capsys):
    """A real photo with noise sigma 25 saved at quality 30: in the file as it is the JPEG's blocks hide the
    noise from the estimate (it read none below sigma 25 on validation faces), so `--damage noise` reads it
    after the JPEG model, as the default does, says so, and the photo comes back closer with no colour added."""
    face = np.asarray(sample_faces()["grace_hopper"])[:192, :192]
    noisy = np.clip(np.round(face + np.random.default_rng(1).normal(0, 25, face.shape)), 0, 255).astype(np.uint8)
    Image.fromarray(noisy).save(tmp_path / "noisy.jpg", quality=30)
    assert cli.main(["repair", str(tmp_path / "noisy.jpg"), str(tmp_path / "out.png"), "--damage", "noise",
                     "--no-progress"]) == 0
    assert "undid JPEG artifacts of quality 30 and noise" in capsys.readouterr().err
    src = np.asarray(Image.open(tmp_path / "noisy.jpg").convert("RGB"))
    out = np.asarray(Image.open(tmp_path / "out.png"))
    assert metrics.psnr(out, face) > metrics.psnr(src, face) + 1

    def cast(im):  # the largest mean error of a channel
        return np.abs((im.astype(float) - face).reshape(-1, 3).mean(0)).max()
    # about a level: on this photo the model's undoing of the noise clipped at black overshoots in blue (1.35
    # levels, the file 1.14); no cell of the sweeps' 12 photos per source adds any past 1 level and the input's
    assert cast(out) < max(1.0, cast(src)) + 0.5


def test_holes_in_a_jpeg_file_are_found_and_filled_and_a_clean_jpeg_is_left_with_a_note(tmp_path, capsys):
    """A JPEG smears its holes' black: the command finds them all the same (`holes.find_jpeg_holes`) and
    fills them from Telea's fill (`repair.prefill`), as with --mask, where every other pixel of the
    file is kept; a clean JPEG has none, and is written unchanged with a one-line note."""
    face = to_tensor(sample_faces()["grace_hopper"])[:, :192, :192]
    d = damage.sweep_damage("squares", face, 0.1, seed=3)
    jpeg, mask, clean = tmp_path / "holes.jpg", tmp_path / "mask.png", tmp_path / "clean.jpg"
    to_image(d.image).save(jpeg, quality=90)
    to_image(face).save(clean, quality=90)
    Image.fromarray(d.mask[0].numpy().astype(np.uint8) * 255).save(mask)
    src, gt = np.asarray(Image.open(jpeg).convert("RGB")), to_uint8(face)
    assert cli.main(["repair", str(clean), str(tmp_path / "same.png"), "--damage", "squares", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "no holes found" in err and "--mask" in err and len(err.strip().splitlines()) == 1
    assert np.array_equal(np.asarray(Image.open(tmp_path / "same.png")), np.asarray(Image.open(clean).convert("RGB")))
    assert cli.main(["repair", str(jpeg), str(tmp_path / "found.png"), "--damage", "squares", "--no-progress"]) == 0
    assert metrics.psnr(np.asarray(Image.open(tmp_path / "found.png")), gt) > metrics.psnr(src, gt) + 5
    assert cli.main(["repair", str(jpeg), str(tmp_path / "given.png"), "--damage", "squares", "--mask", str(mask),
                     "--no-progress"]) == 0
    out, holes = np.asarray(Image.open(tmp_path / "given.png")), d.mask[0].numpy() > 0.5
    assert np.array_equal(out[~holes], src[~holes])
    assert metrics.psnr(out, gt) > metrics.psnr(src, gt) + 10


@pytest.mark.parametrize("kind", damage.HOLE_KINDS)
@pytest.mark.parametrize("quality", [90, 50])
def test_holes_are_found_in_a_jpeg_file(kind, quality):
    face = to_tensor(sample_faces()["grace_hopper"])[:, :192, :192]
    assert not holes.holes_in(to_uint8(damage.jpeg_roundtrip(face, quality)), quality).any()
    d = damage.sweep_damage(kind, face, damage.SWEEP[kind][1][2], seed=2)
    truth = d.mask[0].numpy() > 0.5
    found = holes.holes_in(to_uint8(damage.jpeg_roundtrip(d.image, quality)), quality)
    assert (found & truth).sum() >= 0.3 * truth.sum()  # 0.32-0.97 here; 0.37-1.0 on validation faces
    assert (found & ~ndimage.binary_dilation(truth, iterations=2)).sum() <= 0.01 * truth.sum()


def test_wide_model_card_states_data_terms_and_the_sweep(tmp_path):
    model, summary = repair.train_wide("noise", "smoke", tmp_path / "run", steps=2, progress=False)
    ship = tmp_path / "repair-noise.pt"
    zoo.save_shipped(ship, "repair", repair.wide_hparams("smoke").arch, model, {"val": summary["best"]}, damage="noise",
                     profile="smoke", steps=summary["steps"], train_seconds=summary["train_seconds"], init=None,
                     lr=1e-3, sessions=summary["sessions"], loss=repair.LOSS, strengths="wide",
                     scale=summary["hparams"]["scale"])
    faces = {"lfw": [to_tensor(smoke_images(1, size=48, seed=4)[0])]}
    results = robustness.sweep("noise", {"model": model}, faces, repair.repair_known)
    record = {"results": results, "summary": {"model": robustness.summary(results, "model")},
              "images_per_source": {"lfw": 1}}
    card = repair.wide_model_card(ship, record)
    assert repair.TASK.card(ship, record) == card  # the task's card: a wide model's
    assert "# repair-noise" in card and "non-commercial" in card and "CC BY 4.0" in card
    assert "| sigma 25 |" in card and "1 lfw" in card
    assert "from a random start" in card and "from step 0 at lr 0.001" in card
    assert "resized 0.5-1x" in card


def test_hole_models_train_on_soft_crops_and_are_chosen_on_softened_faces(tmp_path):
    model, summary = repair.train_wide("squares", "smoke", tmp_path / "run", steps=1, progress=False)
    assert summary["hparams"]["scale"] == "0.5-2" and repair.WIDE_SCALE["squares"] == (0.5, 2.0)
    assert summary["hparams"]["val"] == "smoke,soft"
    assert {k for k in summary["best"] if k.startswith("psnr_")} == {"psnr_smoke", "psnr_soft"}
    ship = tmp_path / "repair-squares.pt"
    zoo.save_shipped(ship, "repair", repair.MODELS["unet"]["smoke"], model, {"val": summary["best"]},
                     damage="squares", profile="smoke", steps=1, train_seconds=1.0, init=None, lr=1e-3,
                     sessions=summary["sessions"], loss="MSE", strengths="wide",
                     scale=summary["hparams"]["scale"], val_sources=summary["hparams"]["val"])
    faces = {"lfw": [to_tensor(smoke_images(1, size=48, seed=4)[0])]}
    results = robustness.sweep("squares", {"model": model}, faces, repair.run_told)
    record = {"results": results, "images_per_source": {"lfw": 1},
              "summary": {"model": robustness.summary(results, "model", "biharmonic")}}
    assert "blurred by 1.5 px" in repair.wide_model_card(ship, record)


def test_softened_faces_spread_over_the_sources_and_lose_detail():
    sources = {s: [to_tensor(im) for im in smoke_images(4, size=48, seed=i)] for i, s in enumerate("abc")}
    soft = photos.softened(sources, 8)
    assert len(soft) == 8 and soft[0].shape == (3, 48, 48)
    assert torch.equal(photos.softened(sources, 8)[3], soft[3])  # the same faces every time
    sharp = sources["a"][0]
    detail = [float((x[:, :, 1:] - x[:, :, :-1]).abs().mean()) for x in (sharp, soft[0])]
    assert detail[1] < 0.7 * detail[0]
    assert abs(float(soft[0].mean() - sharp.mean())) < 0.01  # blurred, not darkened


def test_upscale_sweep_scores_every_input_quality():
    from aeutils.tasks import superres

    faces = {"s": [to_tensor(smoke_images(1, size=96, seed=2)[0])]}
    res = robustness.upscale_sweep({"srresnet": zoo.load("sr-x4-srresnet")}, faces, 4,
                                   lambda m, t: superres.upscale_tiled(m, t))
    assert list(res["s"]) == ["png", "q90", "q75", "q50"]
    assert res["s"]["png"]["srresnet"] > res["s"]["png"]["bicubic"]
    assert res["s"]["png"]["bicubic"] > res["s"]["q50"]["bicubic"]  # the JPEG input really loses detail


def test_select_is_the_mean_psnr_only_when_every_bar_is_met(face):
    """`select` (what picks a wide model's checkpoint) is the mean PSNR of a model that meets every
    bar, and negative for one that sharpens clean photos, however good its mean."""
    def run(name, im, params):
        return im if name == "id" else baselines.unsharp_mask(im, radius=1.0, amount=1.0)
    res = robustness.sweep("blur", {"id": "id", "sharp": "sharp"}, {"s": [face]}, run)
    sharp = robustness.summary(res, "sharp")
    assert sharp["clean_min"] < robustness.CLEAN_MIN and sharp["select"] < 0
    assert robustness.summary(res, "id")["select"] < 0  # the identity gains nothing where +0.3 dB is due
    ahead = {s: dict(cell, id=dict(cell["id"], psnr=cell["id"]["psnr"] + 0.31 * (s != "clean")))
             for s, cell in res["s"].items()}
    v = robustness.summary({"s": ahead}, "id")
    assert v["short"] == [] and v["select"] == v["psnr"]
    # a clean file saved as a low-quality JPEG is under CLEAN_MIN itself: returned as it is, it meets the bar
    saved = dict(ahead, clean={name: dict(m, psnr=35.0) for name, m in ahead["clean"].items()})
    v = robustness.summary({"s": saved}, "id")
    assert v["clean_min"] == 35 and v["select"] == v["psnr"]
    saved["clean"]["id"] = dict(saved["clean"]["id"], psnr=34.0)  # made worse than it came in: short
    assert robustness.summary({"s": saved}, "id")["select"] < 0


def test_jpeg_quality_is_read_from_the_file(tmp_path, face):
    for q in (5, 20, 50, 75, 90, 95):
        Image.fromarray(to_uint8(face)).save(tmp_path / f"q{q}.jpg", quality=q)
        assert jpeg_quality(Image.open(tmp_path / f"q{q}.jpg")) == q
    Image.fromarray(to_uint8(face)).save(tmp_path / "lossless.png")
    assert jpeg_quality(Image.open(tmp_path / "lossless.png")) is None


@pytest.fixture(scope="module")
def told_jpeg(tmp_path_factory):
    """A wide JPEG model trained for a few smoke steps and shipped as `--ship` writes it."""
    from aeutils import zoo

    tmp = tmp_path_factory.mktemp("told")
    model, summary = repair.train_wide("jpeg", "smoke", tmp / "run", steps=2, progress=False)
    ship = tmp / "repair-jpeg.pt"
    zoo.save_shipped(ship, "repair", repair.wide_arch("jpeg", "smoke"), model, {"val": summary["best"]},
                     damage="jpeg", inputs=repair.INPUTS_TOLD["jpeg"], strengths="wide")
    return tmp, ship


def test_a_keep_mean_correction_adds_no_colour_cast(told_jpeg):
    model = build(repair.wide_arch("jpeg", "smoke"))
    assert model.keep_mean and not build(repair.wide_arch("noise", "smoke")).keep_mean
    torch.nn.init.normal_(model.head.weight, std=0.5)  # a correction far from zero
    torch.nn.init.normal_(model.head.bias, std=0.5)
    x = torch.rand(2, 4, 40, 40)
    y = model(x)
    assert (y - x[:, :3]).abs().mean() > 1e-3
    assert torch.allclose(y.mean((2, 3)), x[:, :3].mean((2, 3)), atol=1e-5)
    # keep_mean has no weights: a model without it may start one with it (and back)
    from aeutils import zoo

    tmp, _ = told_jpeg
    zoo.save_shipped(tmp / "plain.pt", "repair", repair.wide_hparams("smoke").arch, model, {}, damage="jpeg",
                     strengths="wide")
    started, init = _start(repair.wide_arch("jpeg", "smoke"), tmp / "run2", str(tmp / "plain.pt"))
    assert init == str(tmp / "plain.pt") and started.keep_mean
    # a shipped file may hold its widths as a list (weights/repair-blur.pt does): the same architecture
    listed = dict(repair.wide_arch("jpeg", "smoke"), widths=[8, 16])
    zoo.save_shipped(tmp / "listed.pt", "repair", listed, model, {}, damage="jpeg", strengths="wide")
    assert _start(repair.wide_arch("jpeg", "smoke"), tmp / "run3", str(tmp / "listed.pt"))[1] == str(tmp / "listed.pt")


def test_the_wide_jpeg_model_is_told_the_quality_in_its_fourth_channel(told_jpeg, face):
    _, ship = told_jpeg
    model = repair.load_model(str(ship))[0]
    assert model.told == "jpeg" and repair.load_model("repair-pixelate")[0].told is None
    seen = []
    model.register_forward_pre_hook(lambda m, args: seen.append(float(args[0][0, 3].mean())))
    d = damage.sweep_damage("jpeg", face, 20)
    repair.repair_known(model, to_uint8(d.image), d.params)
    repair.repair_known(model, to_uint8(face), {})
    assert seen == [pytest.approx(0.8)] * 2  # both passes of its flip self-ensemble; the lossless image as it is
    assert np.array_equal(repair.repair_known(model, to_uint8(face), {"quality": 90}), to_uint8(face))
    crops = photos.PhotoCrops([FaceImages(smoke_images(n=2, size=64, seed=0))], 32)
    clean, inp = repair.WidePairs(crops, "jpeg")[0]
    assert inp.shape == (4, 32, 32) and inp[3].unique().numel() == 1


def test_repair_reads_the_quality_from_the_jpeg_file_or_strength(told_jpeg, face, capsys):
    tmp, ship = told_jpeg
    Image.fromarray(to_uint8(face)).save(tmp / "photo.jpg", quality=30)
    Image.fromarray(to_uint8(face)).save(tmp / "photo.png")
    args = ["repair", "--damage", "jpeg", "--model", str(ship), "--no-progress"]
    with levels_told() as seen:
        assert cli.main([*args, str(tmp / "photo.jpg"), str(tmp / "a.png")]) == 0
        assert cli.main([*args, str(tmp / "photo.png"), str(tmp / "b.png")]) == 0
        assert "not a JPEG file" in capsys.readouterr().err
        assert cli.main([*args, "--strength", "10", str(tmp / "photo.png"), str(tmp / "c.png")]) == 0
        assert cli.main([*args, "--strength", "95", str(tmp / "photo.png"), str(tmp / "e.png")]) == 0
    assert seen == [pytest.approx(0.7), pytest.approx(0.9)]  # the lossless and quality-95 files are left as is
    for left in ("b.png", "e.png"):
        assert np.array_equal(np.asarray(Image.open(tmp / left)), to_uint8(face))
    for bad in ("101", "7.5"):
        assert cli.main([*args, str(tmp / "photo.jpg"), str(tmp / "d.png"), "--strength", bad]) == 2
        assert "1-100" in capsys.readouterr().err
    mosaic = ["--strength", "4", "--damage", "pixelate"]
    assert cli.main(["repair", str(tmp / "photo.jpg"), str(tmp / "d.png"), *mosaic]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_noise_estimate_separates_clean_from_noisy_photos_and_reads_a_central_window(monkeypatch):
    face = to_tensor(sample_faces()["grace_hopper"])  # a real photo: the fixtures are fine texture everywhere
    clean = to_uint8(damage.sweep_damage("noise", face, None).image)
    noisy = to_uint8(damage.sweep_damage("noise", face, 5 / 255, seed=1).image)
    assert repair.estimate_noise(clean) < repair.NOISE_RAMPS["lossless"][0] < repair.estimate_noise(noisy)
    monkeypatch.setattr(infer, "NOISE_PROBE", 64)
    big = np.zeros((300, 200, 3), np.uint8)
    big[118:182, 68:132] = np.random.default_rng(0).integers(0, 256, (64, 64, 3))  # noise in the centre only
    assert repair.estimate_noise(big) > 50 / 255
    for shape in [(1, 1, 3), (31, 500, 3)]:  # smaller than a patch: read as noiseless
        assert repair.estimate_noise(np.full(shape, 128, np.uint8)) == 0.0


def test_noise_estimate_reads_the_flattest_patches_so_texture_is_not_noise():
    """Noise is in every patch, a face's texture in some: a photo three quarters fine texture, the rest
    smooth, reads as noiseless (the whole-image wavelet estimate reads it as noisy), and the same photo
    with noise of sigma 8 reads its noise within 15%."""
    rng = np.random.default_rng(1)
    textured = np.broadcast_to(np.linspace(40, 200, 128)[None, :, None], (128, 128, 3)).copy()
    textured[:, :96] += rng.normal(0, 12, (128, 96, 1))  # fine grey detail over three quarters of it
    photo = np.clip(np.round(textured), 0, 255).astype(np.uint8)
    assert repair.estimate_noise(photo) < 1 / 255 < 3 / 255 < baselines.noise_sigma(photo)
    noisy = np.clip(np.round(textured + rng.normal(0, 8, textured.shape)), 0, 255).astype(np.uint8)
    assert repair.estimate_noise(noisy) == pytest.approx(8 / 255, rel=0.15)


def test_noise_is_read_through_a_jpeg_s_quantization(tmp_path):
    """In a JPEG of quality 75-95 the finest detail keeps little of the noise (`estimate_noise` reads it far
    lower), its quantized higher frequencies keep it: sigma 8 and 12 read within 15%, a clean photo under a
    level; a photo too small for a patch reads as noiseless."""
    rng = np.random.default_rng(1)
    smooth = np.linspace(40, 200, 128)[None, :, None] + np.linspace(0, 30, 128)[:, None, None] + np.zeros((1, 1, 3))
    for sigma in (0, 8, 12):
        photo = np.clip(np.round(smooth + rng.normal(0, sigma, smooth.shape)), 0, 255).astype(np.uint8)
        for quality in (95, 90, 75):
            Image.fromarray(photo).save(tmp_path / "noisy.jpg", quality=quality)
            im = np.asarray(Image.open(tmp_path / "noisy.jpg").convert("RGB"))
            through = repair.estimate_jpeg_noise(im, quality)
            if sigma:
                assert through == pytest.approx(sigma / 255, rel=0.15) and repair.estimate_noise(im) < 0.8 * through
            else:
                assert through < 1 / 255
    for quality in (75, 95):  # libjpeg's steps: its table halved at 75, a tenth of it at 95
        assert luma_table(quality)[0, 0] == {75: 8, 95: 2}[quality] and luma_table(quality).shape == (8, 8)
    assert repair.estimate_jpeg_noise(np.full((12, 300, 3), 128, np.uint8), 90) == 0.0


def test_the_noise_model_is_told_the_noise_read_through_a_jpeg(tmp_path):
    """In a JPEG file the noise model is told the larger of `estimate_noise` and the noise read through the
    file's quantization (`noise_level`), by the command as in training: light noise that a fine JPEG hides
    from the first is told as it is, so the model need not smooth photos told little noise."""
    rng = np.random.default_rng(3)
    smooth = np.linspace(40, 200, 128)[None, :, None] + np.linspace(0, 30, 128)[:, None, None] + np.zeros((1, 1, 3))
    noisy = np.clip(np.round(smooth + rng.normal(0, 12, smooth.shape)), 0, 255).astype(np.uint8)
    Image.fromarray(noisy).save(tmp_path / "noisy.jpg", quality=90)
    raw = Image.open(tmp_path / "noisy.jpg")
    im = np.asarray(raw.convert("RGB"))
    through = damage.told_level("noise", {"sigma": repair.estimate_jpeg_noise(im, 90, jpeg_luma_steps(raw))})
    assert repair.noise_level(im, 90, jpeg_luma_steps(raw)) == through > repair.noise_level(im) > 0
    assert repair.noise_level(noisy, None) == repair.noise_level(noisy)  # a lossless file: estimate_noise alone
    with levels_told() as seen:
        assert cli.main(["repair", "--damage", "noise", "--no-progress", str(tmp_path / "noisy.jpg"),
                         str(tmp_path / "out.png")]) == 0
    assert seen == [pytest.approx(through)]


def test_noise_is_read_through_the_jpeg_file_s_own_steps_and_grid(tmp_path):
    """A camera's tables need not be libjpeg's: on the file's own steps (`jpeg_luma_steps`) noise of sigma 8
    saved with a flat table reads within 15%. On other steps (libjpeg's at its nearest quality), off the file's
    8-px grid (a crop) or turned by 90 degrees, the coefficients are not multiples of the steps: no reading."""
    rng = np.random.default_rng(2)
    smooth = np.linspace(40, 200, 128)[None, :, None] + np.linspace(0, 30, 128)[:, None, None] + np.zeros((1, 1, 3))
    noisy = np.clip(np.round(smooth + rng.normal(0, 8, smooth.shape)), 0, 255).astype(np.uint8)
    Image.fromarray(noisy).save(tmp_path / "flat.jpg", qtables=[[8] * 64, [8] * 64])
    raw = Image.open(tmp_path / "flat.jpg")
    steps, quality, im = jpeg_luma_steps(raw), jpeg_quality(raw), np.asarray(raw.convert("RGB"))
    assert np.array_equal(steps, np.full((8, 8), 8.0)) and jpeg_luma_steps(Image.fromarray(im)) is None
    own = repair.estimate_jpeg_noise(im, quality, steps)
    assert own == pytest.approx(8 / 255, rel=0.15) and repair.estimate_jpeg_noise(im, quality) == 0.0
    Image.fromarray(noisy).save(tmp_path / "q90.jpg", quality=90)
    im = np.asarray(Image.open(tmp_path / "q90.jpg").convert("RGB"))
    assert repair.estimate_jpeg_noise(im, 90) > 6 / 255
    for moved in (im[3:, 5:], im.transpose(1, 0, 2)):
        assert repair.estimate_jpeg_noise(np.ascontiguousarray(moved), 90) == 0.0


def test_an_image_too_small_to_estimate_its_noise_reads_as_noiseless_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for shape in [(1, 1, 3), (4, 4, 3), (3, 2000, 3)]:
            assert baselines.noise_sigma(np.full(shape, 128, np.uint8)) == 0.0
        assert baselines.noise_sigma(np.full((8, 8, 3), 128, np.uint8)) < 1e-6  # estimated: a flat image


def test_auto_repair_runs_only_what_the_file_and_the_noise_estimate_call_for():
    calls = []

    class Recorder(torch.nn.Module):  # stands in for a model: records what repair_known gave it
        def __init__(self, name, for_jpeg=False):
            super().__init__()
            self.name, self.for_jpeg = name, for_jpeg
            self.told = name.split("-")[0] if name.startswith(("jpeg", "blur")) else None

        def forward(self, x):
            calls.append((self.name, round(float(x[0, 3].mean()), 2)))
            if self.name == "noise":  # a correction in the chroma alone, as noise's mostly is (`chroma_spread`)
                return x[:, :3] + torch.tensor([1.0, 0.0, -1.0]).view(1, 3, 1, 1) / 255
            return x[:, :3]

    auto = repair.AutoRepair(Recorder("jpeg"), Recorder("noise"), Recorder("blur"))
    with_jpeg_blur = repair.AutoRepair(Recorder("jpeg"), Recorder("noise"), Recorder("blur"),
                                       blur_jpeg=Recorder("blur-jpeg", for_jpeg=True))
    face = to_tensor(sample_faces()["grace_hopper"])[:, :192, :192]  # a real photo, in one tile
    clean = to_uint8(damage.sweep_damage("noise", face, None).image)
    noisy = to_uint8(damage.sweep_damage("noise", face, 15 / 255, seed=2).image)
    coarse = to_uint8(damage.jpeg_roundtrip(face, 30))  # the stand-in JPEG model leaves it as it is
    soft, blurred = (to_uint8(damage.sweep_damage("blur", face, s, seed=2).image) for s in (1.0, 3.0))
    level = round(blur_estimate.blur_sigma(blurred) / 3, 2)
    level_jpeg = round(blur_estimate.blur_sigma(blurred, jpeg=True) / 3, 2)  # a JPEG file is read as one
    assert blur_estimate.blur_sigma(soft) < repair.BLUR_GATE <= blur_estimate.blur_sigma(blurred)
    assert blur_estimate.blur_sigma(soft, jpeg=True) < repair.BLUR_GATE <= 3 * level_jpeg and level_jpeg != level
    for im, params, expected in [(clean, {"quality": None}, []), (clean, {"quality": 95}, []),
                                 (coarse, {"quality": 30}, [("jpeg", 0.7)]),
                                 (noisy, {"quality": None}, [("noise", 0.0)]),
                                 (noisy, {"quality": 50}, [("jpeg", 0.5), ("noise", 0.0)]),
                                 (soft, {"quality": None}, []), (blurred, {"quality": None}, [("blur", level)]),
                                 (blurred, {"quality": 90}, [])]:  # a JPEG's blur is not estimated
        calls.clear()
        out, done = auto(im, params)
        assert calls == expected and len(done) == len(expected)
        if not expected:
            assert np.array_equal(out, im)
    # with a blur model for JPEG files: it takes a JPEG's blur where the JPEG model does not run
    for im, params, expected in [(blurred, {"quality": 90}, [("blur-jpeg", level_jpeg)]),
                                 (blurred, {"quality": None}, [("blur", level)]), (soft, {"quality": 90}, []),
                                 (coarse, {"quality": 30}, [("jpeg", 0.7)])]:
        calls.clear()
        out, done = with_jpeg_blur(im, params)
        assert calls == expected and len(done) == len(expected)


def test_auto_repair_denoises_a_noisy_jpeg_as_the_file_is():
    """Noise found after the JPEG model is removed from the file as it is: the noise model, which
    trained on noisy photos saved as JPEGs, takes the blocks too."""
    seen = []

    class Darken(torch.nn.Module):  # a told JPEG model that halves the image, so its output is seen
        told = "jpeg"

        def forward(self, x):
            return x[:, :3] * 0.5

    class Record(torch.nn.Module):
        told = None

        def forward(self, x):
            seen.append(round(float(x[0, :3].mean()), 2))
            return x[:, :3]

    auto = repair.AutoRepair(Darken(), Record(), None)
    face = to_tensor(smoke_images(1, size=96, seed=3)[0])
    noisy = to_uint8(damage.sweep_damage("noise", face, 25 / 255, seed=2).image)
    out, done = auto(noisy, {"quality": 50})
    assert seen == [round(float(noisy.mean()) / 255, 2)] and np.array_equal(out, noisy) and len(done) == 2


def test_the_default_applies_a_share_of_the_noise_correction_that_grows_with_the_noise_found(monkeypatch):
    """Light noise gets part of the noise model's correction (on textured faces all of it went too far):
    none below the ramp, a linear share across it, all of it above; a part is said in what was done.
    Noise read after the JPEG model, which hides part of it, has a lower ramp."""
    seen = []

    class Brighten(torch.nn.Module):  # a noise model whose correction is +40 levels everywhere
        told = None

        def forward(self, x):
            seen.append(1)
            return x[:, :3] + 40 / 255

    deblocked = repair.NOISE_RAMPS["deblocked"][1]
    assert repair.noise_share(deblocked, "deblocked") == 1.0
    assert repair.noise_share(deblocked, "jpeg") == 0.0 < deblocked < repair.NOISE_RAMPS["jpeg"][0]
    kinds = ["lossless", "jpeg", "jpeg", "deblocked", "deblocked"]
    assert [repair.noise_ramp(q) for q in (None, 90, repair.JPEG_LEAVE_ABOVE + 1, repair.JPEG_LEAVE_ABOVE, 30)] == kinds
    photo = np.full((64, 64, 3), 100, np.uint8)  # grey: a lossless one has its own ramp, and no chroma to read
    auto = repair.AutoRepair(Brighten(), Brighten(), None)
    for kind, params in (("jpeg", {"quality": 90}), ("lossless", {"quality": None})):
        low, high = repair.first_ramp(kind, grey=True)
        for estimate, share in ((low, 0.0), ((3 * low + high) / 4, 0.25), (high, 1.0), (2 * high, 1.0)):
            assert repair.noise_share(estimate, kind, grey=True) == pytest.approx(share)
            monkeypatch.setattr(infer, "estimate_noise", lambda im, e=estimate: e)
            seen.clear()
            out, done = auto(photo, params)
            limit = repair.NOISE_LIMITS.get(kind)  # the change limited to this many times the noise found
            change = 40 if limit is None else min(40, round(255 * limit * estimate))
            assert len(seen) == len(done) == (share > 0) and np.all(out == 100 + round(change * share))
            assert (f"{share:.0%} of the model's correction" in "".join(done)) == (0 < share < 1)
    # in a JPEG above JPEG_LEAVE_ABOVE the noise read through its quantization takes over where it asks for more
    # (the model runs where it reads above EVEN_NOISE_RAMP too, to see how its correction spreads: here evenly
    # nowhere, a uniform change; the next test)
    monkeypatch.setattr(infer, "estimate_noise", lambda im: 0.0)
    low, high = repair.JPEG_NOISE_RAMP
    for through, share, quality in ((low, 0.0, 90), ((low + high) / 2, 0.5, 90), (high, 1.0, 90), (high, 0.0, None)):
        monkeypatch.setattr(infer, "estimate_jpeg_noise", lambda im, q, steps, t=through: t)
        seen.clear()
        out, done = auto(photo, {"quality": quality})
        assert len(seen) == (quality is not None) and len(done) == (share > 0)
        assert np.all(out == 100 + round(40 * share))
        assert all(f"estimated sigma {255 * through:.1f} levels" in d for d in done)
    assert np.all(repair.denoise(Brighten(), photo, 2 / 255, "lossless") == 100 + 2 * repair.NOISE_LIMITS["lossless"])
    assert all(np.all(repair.denoise(Brighten(), photo, 2 / 255, kind) == 140) for kind in ("jpeg", "deblocked")
               if kind not in repair.NOISE_LIMITS)


def test_a_lossless_colour_photo_gets_the_noise_correction_where_it_lies_in_the_chroma_too(monkeypatch):
    """Noise drawn for each channel on its own puts two thirds of its energy in the chroma, a film's grain and a
    face's texture lie in the luma: in a lossless colour photo the share is times SPREAD_RAMP's on `chroma_spread`
    (a correction all in the luma is not applied, one all in the chroma is, one between in part); a grey photo has
    no chroma to read, and a ramp of its own (GREY_RAMP, above the colour one's first level)."""
    class Correct(torch.nn.Module):  # a noise model whose correction is the same change of each channel everywhere
        told = None

        def __init__(self, change):
            super().__init__()
            self.change = torch.tensor(change).view(1, 3, 1, 1) / 255

        def forward(self, x):
            return x[:, :3] + self.change

    rng = np.random.default_rng(0)
    noise = rng.normal(0, 5, (64, 64, 3))
    flat = np.full((64, 64, 3), 100, np.uint8)
    assert repair.chroma_spread(flat, np.clip(np.round(100 + noise), 0, 255).astype(np.uint8)) == pytest.approx(2 / 3,
                                                                                                                abs=0.02)
    colour, grey = np.full((64, 64, 3), [90, 100, 110], np.uint8), flat
    assert repair.colourfulness(grey) == 0 < repair.GREY_BELOW < repair.colourfulness(colour)
    monkeypatch.setattr(infer, "estimate_noise", lambda im: 2 * repair.GREY_RAMP[1])  # all of the correction
    spread = 72 / 180  # (12, 6, 0): its mean (6, 6, 6) in the luma, (6, 0, -6) in the chroma
    share = infer.ramp(spread, *repair.SPREAD_RAMP)
    assert 0 < share < 1
    for change, expected in (((12, 12, 12), 0), ((12, 0, -12), 1), ((12, 6, 0), share)):
        out, done = repair.AutoRepair(Correct(change), Correct(change), None)(colour, {"quality": None})
        assert np.array_equal(out, colour + np.round(np.multiply(change, expected)).astype(int)), change
        assert len(done) == (expected > 0)
    out, _ = repair.AutoRepair(Correct((12, 12, 12)), Correct((12, 12, 12)), None)(grey, {"quality": None})
    assert np.all(out == 112)  # a grey photo: no chroma to read, all of it
    light = repair.GREY_RAMP[0]  # part of it for a colour photo, none for a grey one
    share = repair.noise_share(light, "lossless")
    assert share > 0 == repair.noise_share(light, "lossless", grey=True)
    monkeypatch.setattr(infer, "estimate_noise", lambda im: light)
    auto = repair.AutoRepair(Correct((8, 0, -8)), Correct((8, 0, -8)), None)  # (within NOISE_LIMITS)
    assert np.array_equal(auto(grey, {})[0], grey)
    assert np.array_equal(auto(colour, {})[0], colour + np.round(np.multiply((8, 0, -8), share)).astype(int))


@pytest.mark.slow
def test_the_default_leaves_a_film_scans_grain_and_removes_light_noise_beside_it(tmp_path, capsys):
    """The demo's scanned Grace Hopper photo (its grainiest part, lossless): clean, the default and `--damage noise`
    leave it as it is and say why (it read as light noise, and its grain was smoothed away); with noise of sigma 2
    and 4 the default comes back at least as close to it as its input, with sigma 4 1 dB closer (3.9 and 1.3 dB
    worse before `SPREAD_RAMP`)."""
    scan = to_tensor(sample_faces()["grace_hopper"])[:, 100:330, 40:270]
    clean = to_uint8(scan)
    auto = repair.AutoRepair.noise_steps()
    assert repair.estimate_noise(clean) > repair.NOISE_RAMPS["lossless"][0]  # its grain reads as noise
    assert np.array_equal(auto(clean, {})[0], clean)
    Image.fromarray(clean).save(tmp_path / "scan.png")
    assert cli.main(["repair", "--damage", "noise", "--no-progress", str(tmp_path / "scan.png"),
                     str(tmp_path / "out.png")]) == 0
    assert "lies in the luma alone" in capsys.readouterr().err
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out.png")), clean)
    for sigma in (2, 4):
        noisy = to_uint8(damage.apply("noise", scan, seed=1, sigma=sigma / 255).image)
        out = auto(noisy, {})[0]
        assert metrics.psnr(out, clean) >= metrics.psnr(noisy, clean) + (sigma > 2)  # (sigma 2: left as it is)


def test_light_noise_read_through_a_jpeg_is_removed_where_the_correction_spreads_evenly(monkeypatch):
    """Below JPEG_NOISE_RAMP, noise read through a fine JPEG gets EVEN_NOISE_RAMP's share times EVEN_RAMP's on
    `evenness`: a correction in every patch (noise) is applied, one in a few patches (a clean face's texture
    smoothed) is not, and the model runs once either way."""
    pattern = np.random.default_rng(0).normal(0, 4, (64, 64))
    patchy = np.where(np.arange(64)[:, None] + np.arange(64)[None] < 24, pattern, 0.0)  # one corner alone
    runs = []

    class Correct(torch.nn.Module):  # a noise model whose correction is a fixed pattern
        told = None

        def __init__(self, change):
            super().__init__()
            self.change = torch.from_numpy(change / 255).float()

        def forward(self, x):
            runs.append(1)
            return x[:, :3] + self.change

    photo = np.full((64, 64, 3), 100, np.uint8)
    even, uneven = (np.clip(np.round(100 + c[..., None].repeat(3, 2)), 0, 255).astype(np.uint8)
                    for c in (pattern, patchy))
    assert repair.evenness(photo, even) > 0.8 and repair.evenness(photo, uneven) == 0.0
    assert repair.evenness(photo, photo) == 0.0 and repair.EVEN_NOISE_RAMP[1] < repair.JPEG_NOISE_RAMP[0]
    monkeypatch.setattr(infer, "estimate_noise", lambda im: 0.0)
    monkeypatch.setattr(infer, "estimate_jpeg_noise", lambda im, q, steps: repair.EVEN_NOISE_RAMP[1])
    for change, expected in ((pattern, even), (patchy, photo)):
        runs.clear()
        out, done = repair.AutoRepair(Correct(change), Correct(change), None)(photo, {"quality": 90})
        assert np.array_equal(out, expected) and len(done) == (expected is even) and len(runs) == 1


@pytest.mark.slow
def test_film_grain_is_not_taken_for_noise_by_the_evenness_ramp(tmp_path):
    """Film grain spreads over a photo as evenly as light noise (the demo's scanned Grace Hopper reads 0.34-0.55):
    EVEN_RAMP starts above that, so the default leaves a clean, grainy photo saved as a fine JPEG as it is."""
    face = np.asarray(sample_faces()["grace_hopper"].convert("RGB"))[100:330, 40:270]  # the grainiest part
    auto = repair.AutoRepair.shipped()
    for quality in (95, 90, 75):
        Image.fromarray(face).save(tmp_path / "grain.jpg", quality=quality)
        raw = Image.open(tmp_path / "grain.jpg")
        im = np.asarray(raw.convert("RGB"))
        out, done = auto(im, {"quality": quality, "steps": jpeg_luma_steps(raw)})
        assert repair.estimate_jpeg_noise(im, quality) >= repair.EVEN_NOISE_RAMP[1]  # read as light noise
        assert np.array_equal(out, im) and not done


def test_a_noise_sigma_given_removes_light_noise_the_default_leaves_in_a_fine_jpeg(tmp_path, capsys):
    """`--damage noise --strength SIGMA`: light noise in a fine JPEG, which the default leaves, is removed (the
    shipped models, a real photo: +1.2 dB); a sigma below GIVEN_RAMPS' first level runs the default; the model is
    told the sigma given up to GIVEN_CAP; a sigma past the training range is refused in one line."""
    face = np.asarray(sample_faces()["astronaut"].convert("RGB"))
    noisy = to_uint8(damage.apply("noise", to_tensor(Image.fromarray(face)), seed=1, sigma=8 / 255).image)
    Image.fromarray(noisy).save(tmp_path / "noisy.jpg", quality=70)
    before = metrics.psnr(np.asarray(Image.open(tmp_path / "noisy.jpg").convert("RGB")), face)
    args = ["repair", "--damage", "noise", "--no-progress", str(tmp_path / "noisy.jpg")]
    with levels_told() as seen:
        assert cli.main([*args, str(tmp_path / "default.png")]) == 0
        assert cli.main([*args, str(tmp_path / "given.png"), "--strength", "8"]) == 0
    assert seen[-1] == pytest.approx(8 / 75)
    assert "sigma 8 levels as given" in capsys.readouterr().err
    default, given = (metrics.psnr(np.asarray(Image.open(tmp_path / f"{n}.png")), face) for n in ("default", "given"))
    assert given > max(default, before) + 0.3
    assert cli.main([*args, str(tmp_path / "low.png"), "--strength", "2"]) == 0
    assert "no noise found" in capsys.readouterr().err
    low, default = (np.asarray(Image.open(tmp_path / f"{n}.png")) for n in ("low", "default"))
    assert np.array_equal(low, default)
    with levels_told() as seen:
        heavy = repair.denoise_given(repair.AutoRepair.shipped(), face, 60 / 255, {})[1]
    assert seen == [pytest.approx(repair.GIVEN_CAP * 255 / 75)] and "sigma 60 levels as given" in heavy[0]
    assert cli.main([*args, str(tmp_path / "bad.png"), "--strength", "80"]) == 2
    err = capsys.readouterr().err
    assert "up to 75" in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "bad.png").exists()


@pytest.mark.slow
def test_the_default_repair_leaves_clean_photos_and_removes_noise_through_the_cli(tmp_path):
    """`aeutils repair` without --damage, the shipped models: a clean PNG and a quality-95 JPEG come
    back unchanged, a noisy photo closer to the clean one; --mask without --damage is refused."""
    import subprocess
    import sys

    face = to_tensor(sample_faces()["grace_hopper"])  # a real photo: the fixtures read as lightly noisy
    gt = to_uint8(damage.sweep_damage("noise", face, None).image)
    noisy = to_uint8(damage.sweep_damage("noise", face, 15 / 255, seed=3).image)
    Image.fromarray(gt).save(tmp_path / "clean.png")
    Image.fromarray(gt).save(tmp_path / "fine.jpg", quality=95)
    Image.fromarray(noisy).save(tmp_path / "noisy.png")

    def repair_cli(*args):
        return subprocess.run([sys.executable, "-m", "aeutils", "repair", *map(str, args), "--no-progress"],
                              capture_output=True, text=True, timeout=300)

    for name in ("clean.png", "fine.jpg", "noisy.png"):
        r = repair_cli(tmp_path / name, tmp_path / f"out-{name}.png")
        assert r.returncode == 0, r.stderr
        res = np.asarray(Image.open(tmp_path / f"out-{name}.png"))
        if name == "noisy.png":
            assert "undid noise" in r.stderr and metrics.psnr(res, gt) >= metrics.psnr(noisy, gt) + 3
        else:
            assert "written unchanged" in r.stderr
            assert np.array_equal(res, np.asarray(Image.open(tmp_path / name).convert("RGB")))
    r = repair_cli(tmp_path / "clean.png", tmp_path / "x.png", "--mask", tmp_path / "clean.png")
    assert r.returncode == 2 and "--damage" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_the_blur_model_is_told_the_sigma_given_or_estimated(tmp_path, face, capsys):
    """`--damage blur` reads the blur's sigma from --strength (as sigma / 3 in the fourth channel,
    trained the same way); without it, the photo's own low estimate (`blur_estimate.blur_sigma`),
    said in one line, and a photo that measures no blur is written unchanged."""
    model, summary = repair.train_wide("blur", "smoke", tmp_path / "run", steps=2, progress=False)
    assert model.told == "blur" and model.keep_mean
    ship = tmp_path / "repair-blur.pt"
    zoo.save_shipped(ship, "repair", repair.wide_arch("blur", "smoke"), model, {"val": summary["best"]},
                     damage="blur", inputs=repair.INPUTS_TOLD["blur"], strengths="wide")
    d = damage.sweep_damage("blur", face, 1.5, seed=1)
    Image.fromarray(to_uint8(d.image)).save(tmp_path / "soft.png")
    heavy = to_uint8(damage.sweep_damage("blur", face, 3.0, seed=1).image)
    Image.fromarray(heavy).save(tmp_path / "heavy.png")
    sharp = to_uint8(damage.sweep_damage("blur", face, None).image)
    Image.fromarray(sharp).save(tmp_path / "sharp.png")
    Image.fromarray(heavy).save(tmp_path / "heavy.jpg", quality=90)
    assert damage.told_level("blur", d.params) == pytest.approx(0.5)
    estimate = blur_estimate.blur_sigma(heavy)
    assert 0.5 < estimate < 3.0 and blur_estimate.blur_sigma(sharp) == 0
    args = ["repair", "--damage", "blur", "--model", str(ship), "--no-progress"]
    with levels_told() as seen:
        assert cli.main([*args, str(tmp_path / "soft.png"), str(tmp_path / "a.png"), "--strength", "1.5"]) == 0
        assert cli.main([*args, str(tmp_path / "heavy.png"), str(tmp_path / "b.png")]) == 0
        err = capsys.readouterr().err
        assert f"estimated blur sigma {estimate:.2f} px" in err and len(err.strip().splitlines()) == 1
        assert cli.main([*args, str(tmp_path / "sharp.png"), str(tmp_path / "c.png")]) == 0
        assert "0.00 px" in capsys.readouterr().err
        assert np.array_equal(np.asarray(Image.open(tmp_path / "c.png")), sharp)
        for extra in ([], ["--strength", "3"]):  # a JPEG's blocks would be sharpened with its blur
            assert cli.main([*args, str(tmp_path / "heavy.jpg"), str(tmp_path / "e.png"), "--force", *extra]) == 0
            err = capsys.readouterr().err
            assert "JPEG file (quality 90)" in err and "unchanged" in err and len(err.strip().splitlines()) == 1
            assert np.array_equal(np.asarray(Image.open(tmp_path / "e.png")),
                                  np.asarray(Image.open(tmp_path / "heavy.jpg").convert("RGB")))
        assert cli.main([*args, str(tmp_path / "soft.png"), str(tmp_path / "d.png"), "--strength", "4"]) == 2
        err = capsys.readouterr().err
        assert "up to 3" in err and len(err.strip().splitlines()) == 1
    assert seen == [pytest.approx(0.5), pytest.approx(estimate / 3)] and not (tmp_path / "d.png").exists()


def test_the_noise_model_is_told_the_noise_it_estimates(tmp_path, capsys):
    """The wide noise model reads the noise's sigma / (75 / 255) in its fourth channel: the estimate
    the command reads in the photo (`repair.estimate_noise`), as each training crop was told its own, not a
    sweep's true sigma (it reads higher wherever noise clips); with `--strength`, the sigma the user gives.
    Started from a model whose fourth channel only ever held zeros, it starts as that model; a file that says
    its fourth channel holds a mask is read untold."""
    model, _ = repair.train_wide("noise", "smoke", tmp_path / "run", steps=2, progress=False)
    assert model.told == "noise"
    arch = repair.wide_arch("noise", "smoke")
    ship, plain = tmp_path / "repair-noise.pt", tmp_path / "plain.pt"
    zoo.save_shipped(ship, "repair", arch, model, {}, damage="noise", inputs=repair.INPUTS_TOLD["noise"],
                     strengths="wide")
    zoo.save_shipped(plain, "repair", arch, model, {}, damage="noise", inputs=repair.INPUTS, strengths="wide")
    assert repair.load_model(str(ship))[0].told == "noise" and repair.load_model(str(plain))[0].told is None
    started, _ = _start(arch, tmp_path / "run2", str(plain), reads_level=True)
    x = torch.rand(1, 4, 32, 32)
    with torch.no_grad():
        as_shipped = repair.load_model(str(plain))[0](torch.cat([x[:, :3], torch.zeros_like(x[:, 3:])], 1))
        assert torch.allclose(started.eval()(x), as_shipped, atol=1e-6)
    crops = photos.PhotoCrops([FaceImages(smoke_images(n=2, size=64, seed=0))], 32)
    spec = damage.WIDE["noise"]
    for share, quality in ((0.0, None), (1.0, 90)):  # each crop told what the command reads in its file
        with pytest.MonkeyPatch.context() as mp:
            mp.setitem(damage.WIDE, "noise", dict(spec, none=0.0, jpeg_after=(share, 90, 91)))
            _, inp = repair.WidePairs(crops, "noise")[0]
        level = repair.noise_level(to_uint8(inp[:3]), quality)
        assert torch.allclose(inp[3], torch.full_like(inp[3], level))
    assert damage.told_level("noise", {"sigma": 100 / 255}) == 1.0 and damage.told_level("noise", {}) == 0.0

    face = to_tensor(sample_faces()["grace_hopper"])
    noisy = to_uint8(damage.sweep_damage("noise", face, 25 / 255, seed=1).image)
    Image.fromarray(noisy).save(tmp_path / "noisy.png")
    args = ["repair", "--damage", "noise", "--model", str(ship), "--no-progress"]
    with levels_told() as seen:
        assert cli.main([*args, str(tmp_path / "noisy.png"), str(tmp_path / "a.png")]) == 0
        assert "estimated sigma" in capsys.readouterr().err  # (applied or not as its correction lies)
        repair.repair_known(repair.load_model(str(ship))[0], noisy, {"sigma": 25 / 255})  # a sweep's truth
        assert cli.main([*args, str(tmp_path / "noisy.png"), str(tmp_path / "b.png"), "--strength", "25"]) == 0
        assert "sigma 25 levels as given" in capsys.readouterr().err
    estimate = repair.estimate_noise(noisy)
    assert seen == [pytest.approx(estimate * 255 / 75)] * 2 + [pytest.approx(25 / 75)] and 15 < 255 * estimate < 25


def test_blur_estimate_is_low_and_reads_a_central_window(face, monkeypatch):
    """The measurement follows the blur of a fixture face; the estimate told to the model is never
    above the truth (sharp, lossless or JPEG-saved, noisy; a JPEG file read as one too), and reads a bounded
    window of a large photo."""
    big = to_tensor(smoke_images(1, size=128, seed=5)[0])
    previous = 0.0
    for sigma in (0.0, 0.5, 1.0, 1.5, 2.0, 3.0):
        blurred = damage.sweep_damage("blur", big, sigma or None, seed=1).image
        im = to_uint8(blurred)
        measured = blur_estimate.measure(im)
        assert measured > previous and 0.7 * sigma <= measured <= 1.05 * sigma + 0.5, (sigma, measured)
        previous = measured
        saved = to_uint8(damage.jpeg_roundtrip(blurred, 70))
        for version in (im, saved, to_uint8(damage.apply("noise", blurred, seed=2, sigma=3 / 255).image)):
            assert blur_estimate.blur_sigma(version) <= sigma
        assert blur_estimate.blur_sigma(saved, jpeg=True) <= sigma
    assert blur_estimate.blur_sigma(im) > 1.0
    assert blur_estimate.blur_sigma(np.full((80, 60, 3), 128, np.uint8)) == 0.0  # no edges: no blur claimed
    monkeypatch.setattr(blur_estimate, "BLUR_PROBE", 32)
    shapes = []
    monkeypatch.setattr(blur_estimate, "edge_sigmas", lambda im, scales: shapes.append(im.shape) or np.zeros(0))
    blur_estimate.blur_sigma(np.zeros((100, 40, 3), np.uint8))
    assert shapes == [(32, 32, 3)]


@pytest.mark.slow
def test_shipped_blur_model_repairs_without_strength_through_the_cli(tmp_path):
    """The shipped `aeutils repair --damage blur` without --strength, and the default without --damage,
    as a user runs them: a heavily blurred face comes back closer to the sharp one, a sharp face unchanged."""
    import subprocess
    import sys

    x = to_tensor(sample_faces()["grace_hopper"])  # a real photo: the fixtures read as lightly noisy
    gt = to_uint8(x)
    for sigma in (None, 3.0):
        inp = to_uint8(damage.sweep_damage("blur", x, sigma, seed=0).image)
        src = tmp_path / f"in-{sigma}.png"
        Image.fromarray(inp).save(src)
        for extra in (["--damage", "blur"], []):
            out = tmp_path / f"out-{sigma}-{len(extra)}.png"
            r = subprocess.run([sys.executable, "-m", "aeutils", "repair", str(src), str(out), *extra, "--no-progress"],
                               capture_output=True, text=True, timeout=300)
            assert r.returncode == 0, r.stderr
            res = np.asarray(Image.open(out))
            if sigma is None:
                assert np.array_equal(res, inp) and "unchanged" in r.stderr
            else:
                assert ("estimated blur sigma" if extra else "undid blur") in r.stderr
                assert metrics.psnr(res, gt) >= metrics.psnr(inp, gt) + 0.3
                assert np.abs((res.astype(float) - gt).reshape(-1, 3).mean(0)).max() < 1.0



@pytest.mark.slow
def test_shipped_blur_model_for_jpeg_files_repairs_a_blurred_jpeg_through_the_cli(tmp_path):
    """A blurred photo saved as a JPEG, as most users' photos are: `aeutils repair --damage blur --strength`
    picks repair-blur-jpeg for it (the lossless model sharpened its blocks, up to 10 dB worse) and gains."""
    import subprocess
    import sys

    x = to_tensor(sample_faces()["grace_hopper"])
    gt = to_uint8(x)
    src, out = tmp_path / "blurred.jpg", tmp_path / "out.png"
    Image.fromarray(to_uint8(damage.sweep_damage("blur", x, 2.0, seed=0).image)).save(src, quality=90)
    inp = np.asarray(Image.open(src).convert("RGB"))
    r = subprocess.run([sys.executable, "-m", "aeutils", "repair", str(src), str(out), "--damage", "blur",
                        "--strength", "2", "--no-progress"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "unchanged" not in r.stderr, r.stderr
    res = np.asarray(Image.open(out))
    assert metrics.psnr(res, gt) >= metrics.psnr(inp, gt) + 1.0
    assert np.abs((res.astype(float) - gt).reshape(-1, 3).mean(0)).max() < 1.0

def test_a_jpeg_s_square_at_the_border_is_a_hole_but_a_dark_band_along_it_is_not(tmp_path):
    rng = np.random.default_rng(0)
    photo = np.clip(170 + 20 * np.sin(np.arange(128) / 9)[:, None, None] + rng.normal(0, 4, (128, 128, 3)), 0, 255)

    def found(im: np.ndarray) -> np.ndarray:
        Image.fromarray(im.astype(np.uint8)).save(tmp_path / "f.jpg", quality=90)
        return holes.holes_in(np.asarray(Image.open(tmp_path / "f.jpg")), 90)

    square = photo.copy()
    square[50:70, :20] = 0  # a square dropped at the left edge
    assert found(square)[52:68, :18].all()
    band = photo.copy()
    band[:, :20] = 0  # a dark background along the whole left edge
    assert not found(band).any()
