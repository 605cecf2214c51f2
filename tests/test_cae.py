"""The compressive autoencoder, its quantizer, the seven experiments' hparams and the `cae` trainer
(including two-stage training and a two-process DistributedDataParallel run on CPU with gloo)."""
import json
import os
import subprocess
import sys

import pytest
import torch

from aeutils import checkpoint
from aeutils.errors import UserError
from aeutils.models.cae import ChannelQuantizer, CompressiveAutoencoder, fp16_round
from aeutils.models.layers import ResidualBlock, SubPixelUpsample, TransposedUpsample
from aeutils.tasks import cae


def run_cli(args, tmp_path, timeout=180):
    env = dict(os.environ, AEUTILS_RUNS=str(tmp_path / "runs"), AEUTILS_PROFILE="smoke")
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=timeout)


def test_layers_shapes():
    x = torch.rand(2, 8, 5, 7)
    assert ResidualBlock(8)(x).shape == x.shape
    assert SubPixelUpsample(8, 4)(x).shape == (2, 4, 10, 14)
    assert TransposedUpsample(8, 4)(x).shape == (2, 4, 10, 14)


@pytest.mark.parametrize("channels,fraction", [(96, 1 / 2), (48, 1 / 4), (24, 1 / 8)])
@pytest.mark.parametrize("upsample", ["subpixel", "transposed"])
def test_sparsity_and_shapes(channels, fraction, upsample):
    m = CompressiveAutoencoder(channels, width=16, upsample=upsample).eval()
    x = torch.rand(2, 3, 32, 48)
    out = m(x)
    assert out["x_hat"].shape == x.shape
    assert out["y"].shape == (2, channels, 4, 6)
    assert out["y"][0].numel() / x[0].numel() == fraction


def test_quantizer_codes_error_and_straight_through():
    q = ChannelQuantizer(6)
    y = (torch.randn(2, 4, 5, 5) * 3).requires_grad_()
    lo, hi = q.ranges(y.detach())
    codes = q.codes(y.detach(), lo, hi)
    assert codes.min() >= 0 and codes.max() <= 63 and torch.equal(codes, codes.round())
    # Each channel's min and max are coded exactly to 0 and 63 (up to the float16 rounding of lo/hi).
    assert (codes.amin(dim=(2, 3)) == 0).all() and (codes.amax(dim=(2, 3)) == 63).all()
    y_hat = q.dequantize(codes, lo, hi)
    step = ((hi - lo) / 63)[..., None, None]
    assert ((y_hat - y.detach()).abs() <= step / 2 + 1e-2 * step + 1e-3).all()
    q.train()
    out = q(y)
    out.sum().backward()
    assert torch.allclose(y.grad, torch.ones_like(y))  # gradients pass the rounding
    assert torch.allclose(out.detach(), y_hat, atol=1e-6)  # while the forward pass is quantized


def test_codes_interface_matches_forward():
    torch.manual_seed(0)
    m = CompressiveAutoencoder(24, width=16, num_bits=6, quantize=True).eval()
    x = torch.rand(3, 40, 56)
    codes, lo, hi = m.quantized_latent(x)
    assert codes.dtype == torch.uint8 and codes.shape == (24, 5, 7)
    assert int(codes.max()) <= 63
    assert lo.shape == hi.shape == (24,)
    assert torch.equal(lo, fp16_round(lo)) and torch.equal(hi, fp16_round(hi))
    # What the decoder rebuilds from the stored codes (lo/hi as float16) is what the model outputs.
    x_hat = m.reconstruct_from_codes(codes, lo.half(), hi.half())
    assert x_hat.shape == x.shape
    assert torch.allclose(x_hat, m(x[None])["x_hat"][0], atol=1e-5)
    with pytest.raises(ValueError):
        m.quantized_latent(torch.rand(3, 41, 56))
    with pytest.raises(RuntimeError):
        m.train().quantized_latent(x)
    with pytest.raises(RuntimeError):
        CompressiveAutoencoder(24, width=16).eval().quantized_latent(x)


def test_frozen_encoder_stays_fixed_in_second_stage():
    torch.manual_seed(0)
    m = CompressiveAutoencoder(24, width=16, num_bits=3, quantize=True)
    m.freeze_encoder()
    m.train()
    enc = {k: v.clone() for k, v in m.encoder.state_dict().items()}
    dec = {k: v.clone() for k, v in m.decoder.state_dict().items()}
    opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], 1e-2)
    x = torch.rand(4, 3, 32, 32)
    loss = torch.nn.functional.mse_loss(m(x)["x_hat"], x)
    loss.backward()
    opt.step()
    assert all(torch.equal(v, m.encoder.state_dict()[k]) for k, v in enc.items())  # BN stats too
    assert any(not torch.equal(v, m.decoder.state_dict()[k]) for k, v in dec.items())


def test_paper_profile_is_the_original_tables():
    h = cae.hparams(7, "paper")
    assert (h.batch_size, h.lr, h.block_size, h.hidden_state_num_channels, h.quantize, h.num_bits) == \
        (40, 1e-8, 224, 24, True, 6)
    assert (h.train_dataset_size, h.num_epochs, h.port, h.start_from, h.width) == (60000, 350, 6700, 6, 128)
    assert h.steps == 350 * 1500
    h1 = cae.hparams(1, "paper")
    assert (h1.batch_size, h1.block_size, h1.hidden_state_num_channels, h1.port) == (32, 128, 96, 6100)
    assert [cae.hparams(n, "paper").start_from for n in range(1, 8)] == [None, None, 2, None, 4, None, 6]
    # The cpu profile's rate decays along a cosine to 1/100 of its start; the paper profile's is constant.
    h6 = cae.hparams(6, "cpu")
    assert h6.lr_final == pytest.approx(h6.lr * cae.CPU_LR_FINAL_SHARE) and h.lr_final is None


def test_gpu_schedule_changes_only_the_rates_steps_and_validation():
    paper, gpu = cae.hparams(7, "paper"), cae.hparams(7, "paper", schedule="gpu")
    same = ("batch_size", "block_size", "hidden_state_num_channels", "width", "num_bits", "num_workers", "sources")
    assert all(getattr(paper, k) == getattr(gpu, k) for k in same)
    assert (gpu.lr, gpu.steps) == cae.GPU_SCHEDULE[7] and gpu.val_size == cae.GPU_VAL_SIZE
    assert cae.run_dir_for(gpu, "paper").parent.name == "paper-gpu"
    run_dir = cae.run_dir_for(gpu, "paper")
    assert cae.results_path(gpu, "paper", run_dir).parent == run_dir  # not resources/: untested
    with pytest.raises(UserError):
        cae.hparams(7, "cpu", schedule="gpu")


def test_latent_bpp_counts_side_information():
    h = cae.hparams(7, "paper")
    bpp, counted = cae.latent_bpp(h, 224, 224)
    assert bpp == pytest.approx(2.25 + 2 * 24 * 16 / 224**2)
    assert "min/max" in counted
    assert cae.latent_bpp(cae.hparams(4, "paper"), 224, 224)[0] == 6.0  # float16 latent


@pytest.mark.slow
def test_train_second_stage_through_cli(tmp_path):
    """Experiment 3 in smoke trains experiment 2 first, starts from its best weights with the
    encoder frozen, writes its results JSON; a second run resumes from last.pt."""
    r = run_cli(["-m", "aeutils", "train", "cae", "--experiment", "3", "--no-progress"], tmp_path)
    assert r.returncode == 0, r.stderr
    runs = tmp_path / "runs" / "smoke"
    res = json.loads((runs / "experiment3" / "experiment3.json").read_text())
    assert res["steps"] == 3 and res["hparams"]["num_bits"] == 3
    assert "val_psnr_quantized_before_stage2" in res
    t = res["test"]["fixtures"]
    assert 5 < t["psnr"] < 60 and 0 < t["bpp"] < 24 and t["jpeg2000"]["psnr"] > 20
    first = checkpoint.load(runs / "experiment2" / "best.pt")["model"]
    second = checkpoint.load(runs / "experiment3" / "best.pt")["model"]
    enc = [k for k in first if k.startswith("encoder.")]
    assert enc and all(torch.equal(first[k], second[k]) for k in enc)
    assert any(not torch.equal(first[k], second[k]) for k in first if k.startswith("decoder."))
    r = run_cli(["-m", "aeutils", "train", "cae", "--experiment", "3", "--steps", "5", "--no-progress",
                 "--no-test"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads((runs / "experiment3" / "summary.json").read_text())["steps"] == 5


@pytest.mark.slow
def test_cli_bad_input(tmp_path):
    r = run_cli(["-m", "aeutils", "train", "cae", "--experiment", "9"], tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    if not torch.cuda.is_available():
        r = run_cli(["-m", "aeutils", "train", "cae", "--experiment", "1", "--device", "cuda"], tmp_path)
        assert r.returncode == 2 and "CUDA" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_distributed_two_processes_gloo(tmp_path):
    """torchrun with two CPU processes: one DDP model, identical weights on both ranks after training."""
    run_dir = tmp_path / "ddp"
    r = run_cli(["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                 "-m", "aeutils", "train", "cae", "--experiment", "1", "--steps", "4", "--device", "cpu",
                 "--run-dir", str(run_dir), "--no-progress"], tmp_path, timeout=240)
    assert r.returncode == 0, r.stderr[-2000:]
    rank0 = checkpoint.load(run_dir / "last.pt")
    rank1 = checkpoint.load(run_dir / ".rank1" / "last.pt")
    assert rank0["state"]["step"] == rank1["state"]["step"] == 4
    params = [k for k in rank0["model"] if "running" not in k and "num_batches" not in k]
    assert all(torch.allclose(rank0["model"][k], rank1["model"][k], atol=1e-6) for k in params)
    assert json.loads((run_dir / "experiment1.json").read_text())["hparams"]["device"] == "cpu"


def test_shipped_round_trip(tmp_path):
    from aeutils import zoo

    torch.manual_seed(0)
    m = CompressiveAutoencoder(24, width=16, num_bits=6, quantize=True).eval()
    zoo.save_shipped(tmp_path / "cae-test.pt", "cae", m.arch, m, {"psnr": 1.0})
    back = CompressiveAutoencoder.from_shipped(str(tmp_path / "cae-test.pt"))
    assert back.arch == m.arch and not back.training
    x = torch.rand(3, 32, 32)
    codes, lo, hi = back.quantized_latent(x)
    assert codes.shape == (24, 4, 4)
    # float16 storage of the weights changes the output only slightly
    assert (back(x[None])["x_hat"] - m(x[None])["x_hat"]).abs().max() < 0.05


@pytest.mark.slow
def test_throughput_benchmark_script(tmp_path):
    out = tmp_path / "throughput.json"
    script = os.path.join(os.path.dirname(__file__), "..", "scripts", "bench_training.py")
    r = run_cli([script, "--profile", "cpu", "--sizes", "16", "--batch", "2", "--repeats", "1", "--out", str(out)],
                tmp_path)
    assert r.returncode == 0, r.stderr
    (rec,) = json.loads(out.read_text()).values()
    assert set(rec["models"]) == {f"experiment{n}" for n in range(1, 8)}
    assert all(m["images_per_s_16"] > 0 for m in rec["models"].values())
    assert rec["models"]["experiment7"]["frozen_encoder"] and not rec["models"]["experiment6"]["frozen_encoder"]


def test_results_name_the_threads_the_run_trained_with():
    """A finished run evaluated again (a notebook re-rendered with more threads) keeps the count it
    trained with: the session that started at the last step trained nothing."""
    summary = {"steps": 10, "sessions": [{"from_step": 0, "lr": 1e-3, "threads": 1},
                                         {"from_step": 10, "lr": 1e-3, "threads": 2}]}
    assert cae.training_threads(summary) == 1
