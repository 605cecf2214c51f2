"""The foundation: profiles and data root, metrics, image I/O, the training loop, the CLI shell."""
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.metrics import structural_similarity as sk_ssim

from aeutils import checkpoint, config, images, metrics
from aeutils.datasets import photos, sources
from aeutils.errors import UserError
from aeutils.train import LoopConfig, fit, infinite, learning_rate, load_best, trained_sessions


def test_profile_from_override_env_and_default(monkeypatch):
    monkeypatch.setenv("AEUTILS_PROFILE", "paper")
    assert config.get_profile() == "paper"
    assert config.get_profile("smoke") == "smoke"
    monkeypatch.delenv("AEUTILS_PROFILE")
    assert config.get_profile() == "cpu"
    with pytest.raises(UserError, match="unknown profile"):
        config.get_profile("gpu")


def test_data_root_prefers_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("AEUTILS_DATA", str(tmp_path))
    assert config.data_root() == tmp_path and config.kodak_dir() == tmp_path / "kodak"
    monkeypatch.delenv("AEUTILS_DATA")
    shared = config.REPO_ROOT.parent / "shared" / "data"
    assert config.data_root() == (shared if shared.is_dir() else config.REPO_ROOT / "data")


def test_psnr_on_known_errors():
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 255  # MSE = 255^2 / 48
    assert metrics.psnr(a, b) == pytest.approx(10 * np.log10(48))
    assert metrics.psnr(a, a) == float("inf")


@pytest.mark.parametrize("shape", [(64, 48, 3), (120, 100, 3)])
def test_ssim_matches_scikit_image(shape):
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 40, shape), 0, 255).astype(np.uint8)
    ref = sk_ssim(a, b, channel_axis=2, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                  data_range=255)
    assert metrics.ssim(a, b) == pytest.approx(ref, abs=2e-3)
    assert metrics.ssim_and_ms_ssim(a, a) == pytest.approx((1.0, 1.0))
    assert 0 < metrics.ms_ssim(a, b) < 1


def test_colorfulness_and_rate_helpers():
    gray = np.full((8, 8, 3), 128, np.uint8)
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    assert metrics.colorfulness(gray) == 0 and metrics.colorfulness(red) > 50
    assert metrics.bpp(1000, 100, 80) == 1.0 and metrics.compression_ratio(2.25) == pytest.approx(10.667, abs=1e-3)


def test_load_rgb_applies_exif_orientation_and_flattens_alpha(tmp_path):
    arr = np.zeros((10, 20, 3), np.uint8)
    arr[:, :10] = 255
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    im.save(tmp_path / "rot.jpg", exif=exif)
    assert images.load_rgb(tmp_path / "rot.jpg").size == (10, 20)
    rgba = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    rgba.save(tmp_path / "clear.png")
    assert np.asarray(images.load_rgb(tmp_path / "clear.png")).min() == 255
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(UserError):
        images.load_rgb(tmp_path / "bad.png")


def test_outputs_are_never_overwritten_without_force(tmp_path):
    out = tmp_path / "x.png"
    out.write_bytes(b"keep")
    with pytest.raises(UserError, match="--force"):
        images.check_output(out, force=False)
    assert images.check_output(out, force=True) == out
    images.atomic_write_bytes(out, b"new")
    assert out.read_bytes() == b"new" and len(list(tmp_path.iterdir())) == 1


def test_to_uint8_clamps_and_rounds():
    x = torch.tensor([[[-0.1, 0.6 / 255, 1.2]]]).repeat(3, 1, 1)
    assert images.to_uint8(x)[0, :, 0].tolist() == [0, 1, 255]


def test_pad_to_multiple_replicates_the_border():
    x = torch.arange(6.0).view(1, 2, 3)
    p = images.pad_to_multiple(x, 4)
    assert p.shape == (1, 4, 4) and p[0, 3, 3] == x[0, 1, 2]


def _tiny_fit(run_dir, steps, lr=1e-2):
    torch.manual_seed(0)
    model = torch.nn.Conv2d(3, 3, 1)
    data = [torch.rand(2, 3, 8, 8) for _ in range(4)]

    def step(m, x):
        return {"loss": ((m(x) - x) ** 2).mean()}

    def evaluate(m):
        return {"psnr": float(-10 * torch.log10(((m(data[0]) - data[0]) ** 2).mean()))}

    cfg = LoopConfig(max_steps=steps, lr=lr, val_every=2, ckpt_every=1, progress=False)
    return model, fit(model, step, data, evaluate, run_dir, cfg)


def test_loader_workers_are_capped_by_the_cores_and_start_from_a_fork_server(monkeypatch):
    monkeypatch.setattr(sources.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    counts = [sources.worker_options(n)["num_workers"] for n in (4, 1, 0)]
    assert counts == [2, 1, 0]
    assert sources.worker_options(4)["multiprocessing_context"] == "forkserver"
    assert sources.worker_options(0)["multiprocessing_context"] is None  # no workers: nothing to start


def test_a_worker_from_the_fork_server_loads_batches():
    """The data sets must pickle to reach a fork-server worker (a plain fork never checked it)."""
    crops = photos.PhotoCrops(photos.training_faces("smoke"), 64)
    loader = torch.utils.data.DataLoader(crops, batch_size=2, **sources.worker_options(1))
    assert next(iter(loader)).shape == (2, 3, 64, 64)


def test_grouped_batches_never_mix_sizes_and_cover_every_full_batch():
    faces = [torch.zeros(3, 218, 178)] * 7
    frames = [torch.zeros(3, 224, 224)] * 5
    dataset = torch.utils.data.ConcatDataset([faces, frames])
    sampler = sources.GroupedBatches([range(7), range(7, 12)], batch_size=2)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 3 + 2
    assert all(len(b) == 2 and (max(b) < 7 or min(b) >= 7) for b in batches)
    assert len({i for b in batches for i in b}) == 10  # one image per group left over, none repeated
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler)
    assert sorted(tuple(x.shape) for x in loader) == [(2, 3, 218, 178)] * 3 + [(2, 3, 224, 224)] * 2


def test_training_loop_checkpoints_resumes_and_selects_on_validation(tmp_path):
    _, first = _tiny_fit(tmp_path, 4)
    assert first["steps"] == 4 and (tmp_path / "last.pt").exists() and (tmp_path / "best.pt").exists()
    model, second = _tiny_fit(tmp_path, 10)  # resumes at step 4
    assert second["steps"] == 10
    metrics_best = load_best(model, tmp_path)
    assert metrics_best["psnr"] == second["best"]["psnr"] >= first["best"]["psnr"]


def test_resumed_training_takes_the_learning_rate_asked_for_now(tmp_path):
    _tiny_fit(tmp_path, 2)
    assert checkpoint.load(tmp_path / "last.pt")["optimizer"]["param_groups"][0]["lr"] == 1e-2
    _tiny_fit(tmp_path, 3, lr=1e-3)  # e.g. a final low-learning-rate phase
    assert checkpoint.load(tmp_path / "last.pt")["optimizer"]["param_groups"][0]["lr"] == 1e-3


def test_a_session_that_only_resumed_to_ship_is_not_a_training_session(tmp_path):
    _tiny_fit(tmp_path, 2)
    _tiny_fit(tmp_path, 2)  # resumed at its last step: trains nothing (e.g. to ship the best checkpoint)
    _tiny_fit(tmp_path, 3, lr=1e-3)
    _tiny_fit(tmp_path, 3)
    sessions = checkpoint.load(tmp_path / "last.pt")["state"]["sessions"]
    assert [s["from_step"] for s in sessions] == [0, 2, 2, 3]
    assert [(s["from_step"], s["lr"]) for s in trained_sessions(sessions, 3)] == [(0, 1e-2), (2, 1e-3)]


def test_cosine_schedule_decays_to_its_final_rate_and_resumes_on_it(tmp_path):
    cfg = LoopConfig(max_steps=10, lr=1e-2, lr_final=1e-4)
    rates = [learning_rate(cfg, t) for t in range(11)]
    assert rates[0] == 1e-2 and rates[10] == pytest.approx(1e-4) and rates[5] == pytest.approx((1e-2 + 1e-4) / 2)
    assert all(a > b for a, b in zip(rates, rates[1:]))
    assert learning_rate(LoopConfig(max_steps=10, lr=1e-3), 7) == 1e-3  # no lr_final: constant

    model, data = torch.nn.Conv2d(3, 3, 1), [torch.rand(1, 3, 4, 4)]
    fit(model, lambda m, x: {"loss": m(x).pow(2).mean()}, data, lambda m: {"psnr": 0.0}, tmp_path,
        replace(cfg, ckpt_every=1, val_every=5, progress=False))
    last = checkpoint.load(tmp_path / "last.pt")
    assert last["optimizer"]["param_groups"][0]["lr"] == pytest.approx(learning_rate(cfg, 9))  # the step taken last


def test_resumed_runs_keep_what_earlier_sessions_recorded(tmp_path):
    torch.manual_seed(0)
    model, data = torch.nn.Conv2d(3, 3, 1), [torch.rand(1, 3, 4, 4)]

    def session(steps, lr, **hparams):
        cfg = LoopConfig(max_steps=steps, lr=lr, val_every=1, progress=False, hparams=hparams)
        return fit(model, lambda m, x: {"loss": m(x).pow(2).mean()}, data, lambda m: {"psnr": 0.0}, tmp_path, cfg)

    session(2, 1e-2, init="some-shipped-model", crop=32)
    summary = session(3, 1e-3, crop=32)
    assert summary["hparams"]["init"] == "some-shipped-model"
    threads = torch.get_num_threads()
    assert summary["sessions"] == [{"from_step": 0, "lr": 1e-2, "threads": threads},
                                   {"from_step": 2, "lr": 1e-3, "threads": threads}]


def test_a_run_resumed_with_another_selection_metric_chooses_best_pt_anew(tmp_path):
    """A best.pt chosen on mean PSNR is not kept over checkpoints scored on a stricter metric (a
    wide repair run moved to `select`) just because the two scales differ."""
    model, data = torch.nn.Conv2d(3, 3, 1), [torch.rand(1, 3, 4, 4)]

    def session(steps, key):
        cfg = LoopConfig(max_steps=steps, lr=1e-3, val_every=1, progress=False, select_key=key)
        return fit(model, lambda m, x: {"loss": m(x).pow(2).mean()}, data,
                   lambda m: {"psnr": 30.0, "select": -1.0}, tmp_path, cfg)

    assert session(2, "psnr")["best"]["step"] == 1
    assert session(4, "select")["best"] == {"psnr": 30.0, "select": -1.0, "step": 3}


def test_a_fine_tune_that_only_hurts_keeps_the_weights_it_started_from(tmp_path):
    """With validate_start the starting weights compete for best.pt (a second training stage whose
    every checkpoint scores below its start ships the start)."""
    torch.manual_seed(0)
    model, data = torch.nn.Conv2d(3, 3, 1), [torch.rand(1, 3, 4, 4)]
    start = {k: v.clone() for k, v in model.state_dict().items()}

    def evaluate(m):  # every step away from the start scores lower
        return {"psnr": -sum(float((v - start[k]).abs().sum()) for k, v in m.state_dict().items())}

    cfg = LoopConfig(max_steps=4, lr=1e-2, val_every=2, progress=False, validate_start=True)
    summary = fit(model, lambda m, x: {"loss": m(x).pow(2).mean()}, data, evaluate, tmp_path, cfg)
    assert summary["steps"] == 4 and summary["best"] == {"psnr": 0.0, "step": 0}
    load_best(model, tmp_path)
    assert all(torch.equal(v, start[k]) for k, v in model.state_dict().items())


def test_a_run_folder_of_another_architecture_is_a_user_error(tmp_path):
    _tiny_fit(tmp_path, 2)
    wider = torch.nn.Conv2d(3, 4, 1)
    with pytest.raises(UserError, match="another model architecture"):
        load_best(wider, tmp_path)
    with pytest.raises(UserError, match="new --run-dir"):
        fit(wider, lambda m, x: {"loss": m(x).mean()}, [torch.rand(1, 3, 4, 4)], lambda m: {"psnr": 0.0},
            tmp_path, LoopConfig(max_steps=3, progress=False))


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "aeutils", *args], capture_output=True, text=True)


def test_cli_help_and_usage_errors():
    r = run_cli("--help")
    assert r.returncode == 0 and "compress" in r.stdout and "demo" in r.stdout
    r = run_cli("no-such-command")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    r = run_cli("train", "no-such-task")
    assert r.returncode == 2 and "unknown task" in r.stderr and "Traceback" not in r.stderr


def test_tensorboard_reader_merges_sessions_in_step_order(tmp_path):
    import time

    from aeutils.tb import Logger, read_images, read_scalars

    first = Logger(tmp_path)
    first.scalars({"val/psnr": 20.0}, 1)
    first.scalars({"val/psnr": 21.0}, 2)
    first.images("val/grid", torch.zeros(2, 3, 4, 4), 2)
    first.close()
    time.sleep(1.1)  # event files are named by the second they were opened
    second = Logger(tmp_path, purge_step=2)  # a resumed run logs step 2 again
    second.scalars({"val/psnr": 22.0}, 2)
    second.scalars({"val/psnr": 23.0}, 3)
    second.close()
    assert read_scalars(tmp_path, "val/psnr") == ([1, 2, 3], [20.0, 22.0, 23.0])
    assert read_scalars(tmp_path, "val/missing") == ([], [])
    (step, grid), = read_images(tmp_path, "val/grid")
    assert step == 2 and grid.dtype == np.uint8 and grid.shape[2] == 3


def test_an_empty_training_loader_is_an_error_not_a_hang():
    batches = infinite([[1], [2]])
    assert [next(batches) for _ in range(3)] == [[1], [2], [1]]
    with pytest.raises(UserError, match="no batch"):
        next(infinite([]))
