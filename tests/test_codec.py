"""The learned codec: bitstream format, exact entropy parameters, round trips, fuzzing, CLI."""
import json
import random
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from aeutils import checkpoint, zoo
from aeutils.codec import bitstream, coder, refine, train as codec_train
from aeutils.codec.refine import refine_latent
from aeutils.errors import UserError
from aeutils.images import to_tensor, to_uint8, to_uint8_tensor
from aeutils.models.cae import CompressiveAutoencoder
from aeutils.models.hyperprior import DEFAULT_LAMBDAS, MeanScaleHyperprior, rate_distortion_loss
from aeutils.tiles import tiled


def tiny_model(context: bool, post_filter: int = 0, slices: int = 1) -> MeanScaleHyperprior:
    """A small randomly initialised model; its context models and post-filter (whose last layers start
    at zero) made to change the means and scales, and the image."""
    torch.manual_seed(0)
    model = MeanScaleHyperprior(N=8, M=16, context=context, post_filter=post_filter, slices=slices)
    if context:
        torch.nn.init.normal_(model.context_model.params[-1].weight, std=0.1)
    for net in model.channel_context.nets if slices > 1 else []:
        torch.nn.init.normal_(net[-1].weight, std=0.1)
    if post_filter:
        torch.nn.init.normal_(model.post.tail.weight, std=0.05)
    return model.eval()


@pytest.fixture(scope="module", params=[(False, 0), (True, 4), (False, 0, 4)],
                ids=["hyperprior", "context-post", "slices"])
def tiny_codec(request, tmp_path_factory):
    """A small codec, without and with a checkerboard context and a post-filter, or with channel
    slices, exported exactly as shipped models are."""
    path = tmp_path_factory.mktemp("w") / "tiny-codec.pt"
    coder.export(tiny_model(*request.param), path)
    return coder.FaceCodec(zoo.load_shipped(str(path)))


def face(w=70, h=90, seed=0):
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 255, w)[None, :, None] * np.ones((h, 1, 3))
    return Image.fromarray(np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8))


def test_bitstream_round_trip_and_checks():
    header = bitstream.Header(bitstream.ENTROPY_CODED, "m", b"abcd", 70, 90, 3)
    data = bitstream.pack(header, b"payload")
    assert bitstream.unpack(data) == (header, b"payload")
    with pytest.raises(UserError, match="magic"):
        bitstream.unpack(b"\x89PNG" + data[4:])
    with pytest.raises(UserError, match="checksum"):
        bitstream.unpack(data[:-5] + bytes([data[-5] ^ 1]) + data[-4:])
    with pytest.raises(UserError):
        bitstream.unpack(data[:12])


def test_round_trip_matches_encoder_reconstruction(tiny_codec):
    im = face()
    for q in (1, 5, 8):
        data = tiny_codec.encode(im, q)
        out = tiny_codec.decode(data)
        _, rec = tiny_codec.analyse(im, q)
        assert out.size == im.size
        assert np.array_equal(np.asarray(out), to_uint8(rec))


def test_rate_grows_with_quality(tiny_codec):
    im = face()
    sizes = [len(tiny_codec.encode(im, q)) for q in (1, 8)]
    assert sizes[0] < sizes[1]


def test_decoding_is_deterministic_across_thread_counts(tiny_codec):
    im = face(100, 80, seed=1)
    data = tiny_codec.encode(im, 6)
    z = torch.randint(-3, 4, (1, 8, 2, 2)).double()
    outs = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        outs.append(np.asarray(tiny_codec.decode(data)))
        outs.append(tiny_codec._gained(tiny_codec._hyper_parameters(z), 3)[0].numpy())
    assert np.array_equal(outs[0], outs[2]) and np.array_equal(outs[1], outs[3])


def test_integer_entropy_parameters_track_the_float_model(tiny_codec):
    torch.manual_seed(1)
    z = torch.randint(-2, 3, (1, 8, 2, 2)).float()
    mu_q, index = tiny_codec._gained(tiny_codec._hyper_parameters(z), 4)
    m = tiny_codec.model
    with torch.no_grad():
        mu, sigma = m.entropy_parameters(z)
        gain = m.log_gain[4].exp().view(1, -1, 1, 1)
    assert torch.allclose(mu_q.float(), mu * gain, atol=0.05)
    table = torch.as_tensor(coder.SCALE_TABLE)[index]
    assert ((table.float() >= (sigma * gain).clamp(max=63) * 0.98)).all()


@pytest.mark.parametrize("slices", [1, 4])
def test_integer_context_model_tracks_the_float_model(tmp_path, slices):
    """The coder's fixed-point decoding, pass by pass, reconstructs what the float model does (the same
    symbols but for a few rounded the other way at a boundary), and the context changes the file."""
    model = tiny_model(context=True, slices=slices)
    coder.export(model, tmp_path / "c.pt")
    codec = coder.FaceCodec(zoo.load_shipped(str(tmp_path / "c.pt")))
    im = face(128, 128, seed=2)
    with torch.no_grad():
        x_float = model(to_tensor(im)[None], torch.tensor([6]))["x_hat"][0].clamp(0, 1)
    _, x_int = codec.analyse(im, 7)
    assert (x_float - x_int).abs().mean() < 2e-3
    model.context_model.params[-1].weight.data.zero_()
    coder.export(model, tmp_path / "plain.pt")
    plain = coder.FaceCodec(zoo.load_shipped(str(tmp_path / "plain.pt")))
    assert len(plain.encode(im, 7)) != len(codec.encode(im, 7))


@pytest.mark.parametrize("grown", [{"context": True}, {"slices": 4}, {"context": True, "slices": 4}])
def test_context_starts_as_the_model_it_grows_from(grown):
    torch.manual_seed(0)
    old = MeanScaleHyperprior(N=8, M=16, context=grown.get("slices", 1) > 1 and grown.get("context", False)).eval()
    new = MeanScaleHyperprior(N=8, M=16, **grown).eval()
    new.load_grown(old.state_dict())
    x = torch.rand(1, 3, 64, 128)
    with torch.no_grad():
        a, b = old(x, torch.tensor([4])), new(x, torch.tensor([4]))
    assert torch.equal(a["x_hat"], b["x_hat"]) and torch.equal(a["likelihoods"]["y"], b["likelihoods"]["y"])
    new.train()
    rate_distortion_loss(new(x, torch.tensor([4])), x, torch.tensor([0.05]))["loss"].backward()
    last = new.channel_context.nets[-1][-1] if "slices" in grown else new.context_model.params[-1]
    assert last.weight.grad.abs().sum() > 0  # it learns from the first step


def test_refined_latent_lowers_the_cost_and_is_repeatable(tiny_codec):
    m, im, level = tiny_codec.model, face(), 4
    x = coder.pad_to_multiple(to_tensor(im), m.stride)[None]
    y = m.g_a(x).detach()

    def cost(y):
        out = m.from_latent(y, torch.tensor([level]), noisy=False)
        out["x_hat"] = out["x_hat"][..., :im.height, :im.width]
        return rate_distortion_loss(out, x[..., :im.height, :im.width], torch.tensor([DEFAULT_LAMBDAS[level]]))["loss"]

    # an untrained model's latent is near 0, its bins wide: larger steps than a trained one needs
    refined = refine_latent(m, x, y, level, im.height, im.width, steps=30, lr=0.3)
    assert cost(refined) < cost(y) - 1e-3
    assert torch.equal(refined, refine_latent(m, x, y, level, im.height, im.width, steps=30, lr=0.3))
    assert torch.allclose(refine_latent(m, x, y, level, im.height, im.width, steps=0), y, atol=1e-5)


def test_refined_files_decode_as_any_and_cost_less(tiny_codec, monkeypatch):
    im, q = face(140, 60, seed=3), 7
    monkeypatch.setattr(coder, "REFINE_TILE", 4)  # 3 tiles: the refinement is tiled like the transforms
    monkeypatch.setattr(refine, "REFINE_LR", 0.3)  # the untrained model's wide bins (above)
    refined = coder.RefinedEncoder(tiny_codec, 10)
    assert refined.name == f"{tiny_codec.name}-refined" and refined.qualities == tiny_codec.qualities
    costs = []
    for codec in (tiny_codec, refined):  # bpp + lambda * 255^2 * MSE of real files
        data = codec.encode(im, q)
        a, b = (np.asarray(v, dtype=np.float64) / 255 for v in (im, codec.decode(data)))
        costs.append(8 * len(data) / (im.width * im.height) + DEFAULT_LAMBDAS[q - 1] * 255**2 * ((a - b) ** 2).mean())
    assert costs[1] < costs[0]


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "I;16"])
def test_any_image_mode_codes(tiny_codec, mode):
    im = face(33, 47)
    im = im.convert(mode) if mode != "I;16" else Image.fromarray(np.asarray(im.convert("L")).astype(np.uint16) * 257)
    from aeutils.images import to_rgb
    out = tiny_codec.decode(tiny_codec.encode(to_rgb(im), 2))
    assert out.size == (33, 47) and out.mode == "RGB"


def test_fuzzed_files_fail_cleanly(tiny_codec):
    rng = random.Random(0)
    good = tiny_codec.encode(face(), 4)
    header_len = len(good) - len(bitstream.unpack(good)[1]) - 4
    for trial in range(60):
        data = bytearray(good)
        if trial % 3 == 0:
            data = bytearray(rng.randbytes(rng.randint(0, 200)))
        elif trial % 3 == 1:
            data = data[: rng.randint(0, len(data) - 1)]
        else:  # mutate the payload and fix the CRC, so the decoder itself must cope
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(header_len, len(data) - 4)
                data[i] = rng.randrange(256)
            body = bytes(data[:-4])
            data = bytearray(body + struct.pack(">I", zlib.crc32(body)))
        try:
            out = tiny_codec.decode(bytes(data))
            assert out.size == (70, 90)
        except UserError:
            pass


def test_fixed_length_payload_layout(monkeypatch):
    """FixedLengthCodec's payload: float16 min then max per channel, then every code in `bits` bits,
    most significant first, zero-padded to a byte; its decoder reads back the very same codes."""
    torch.manual_seed(0)
    arch = {"hidden_state_num_channels": 2, "width": 8, "num_bits": 6, "quantize": True}
    c = coder.FixedLengthCodec({"name": "tiny-cae", "arch": arch, "state_dict": CompressiveAutoencoder(**arch)
                                .state_dict()})
    codes = (torch.arange(50) * 37 % 64).to(torch.uint8).view(2, 5, 5)  # 37x35 pads to 40x40: 5x5 latents
    lo, hi = torch.tensor([-1.5, 0.0]), torch.tensor([2.0, 0.25])
    monkeypatch.setattr(c.model, "quantize_latent", lambda y: (codes, lo, hi))
    data = c.encode(face(37, 35), 6)
    bits = "".join(format(int(v), "06b") for v in codes.flatten()) + "0000"  # 300 bits, padded to 304
    side = struct.pack(">4e", -1.5, 0.0, 2.0, 0.25)
    assert bitstream.unpack(data)[1] == side + int(bits, 2).to_bytes(38, "big")
    read = []

    def dequantized_latent(*args):
        read.append(args)
        return torch.zeros(1, 2, 5, 5)

    monkeypatch.setattr(c.model, "dequantized_latent", dequantized_latent)
    assert c.decode(data).size == (37, 35)
    (codes_read, lo_read, hi_read), = read
    assert torch.equal(codes_read, codes.long()) and torch.equal(lo_read, lo) and torch.equal(hi_read, hi)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "aeutils", *map(str, args)], capture_output=True, text=True)


shipped = pytest.mark.skipif(coder.DEFAULT_CODEC not in zoo.list_names(), reason="no shipped face codec yet")


@shipped
@pytest.mark.slow
def test_cli_round_trip_with_shipped_model(tmp_path):
    src = tmp_path / "face.png"
    face(64, 80).save(src)
    r = run_cli("compress", src, tmp_path / "f.aez", "--quality", 3)
    assert r.returncode == 0, r.stderr
    size = (tmp_path / "f.aez").stat().st_size
    assert f"{size} bytes" in r.stdout
    assert run_cli("decompress", tmp_path / "f.aez", tmp_path / "out.png").returncode == 0
    out = Image.open(tmp_path / "out.png")
    shipped_codec = coder.load_codec(coder.DEFAULT_CODEC)
    _, rec = shipped_codec.analyse(Image.open(src).convert("RGB"), 3)
    assert np.array_equal(np.asarray(out), to_uint8(rec))
    # never overwrite without --force
    r = run_cli("decompress", tmp_path / "f.aez", tmp_path / "out.png")
    assert r.returncode == 2 and "--force" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    # the refined encoder: a file the same decoder reads, as the encoder predicted
    assert run_cli("compress", src, tmp_path / "r.aez", "--quality", 3, "--refine", 4).returncode == 0
    assert run_cli("decompress", tmp_path / "r.aez", tmp_path / "r.png").returncode == 0
    _, rec = shipped_codec.analyse(Image.open(src).convert("RGB"), 3, refine=4)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "r.png")), to_uint8(rec))
    if "cae-exp7" in zoo.list_names():  # a fixed-length code has no latent to refine
        r = run_cli("compress", src, tmp_path / "c.aez", "--model", "cae-exp7", "--refine", 2)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "--refine" in r.stderr


@pytest.mark.slow
def test_cli_bad_inputs_exit_2_with_one_line(tmp_path):
    (tmp_path / "notimage.png").write_bytes(b"hello")
    (tmp_path / "foreign.aez").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    cases = [
        ("compress", tmp_path / "missing.png", tmp_path / "a.aez"),
        ("compress", tmp_path / "notimage.png", tmp_path / "b.aez"),
        ("decompress", tmp_path / "foreign.aez", tmp_path / "c.png"),
        ("decompress", tmp_path / "missing.aez", tmp_path / "d.png"),
        ("compress", tmp_path / "notimage.png", tmp_path / "e.aez", "--model", "no-such-model"),
        ("compress", tmp_path / "notimage.png", tmp_path / "f.aez", "--refine", "-1"),
        ("compress", tmp_path / "notimage.png", tmp_path / "g.aez", "--refine", "1001"),
    ]
    for args in cases:
        r = run_cli(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


@pytest.mark.skipif("cae-exp7" not in zoo.list_names(), reason="no shipped experiment-7 model")
def test_fixed_length_files_count_every_bit_and_round_trip():
    c = coder.load_codec("cae-exp7")
    im = face(70, 90)
    data = c.encode(im, c.qualities[0])
    header, payload = bitstream.unpack(data)
    symbols = c.channels * 9 * 12  # 70x90 padded to 72x96, latent at 1/8
    assert len(payload) == 4 * c.channels + -(-symbols * c.bits // 8)
    x = coder.pad_to_multiple(to_tensor(im), 8)
    codes, lo, hi = c.model.quantized_latent(x)
    expected = c.model.reconstruct_from_codes(codes, lo.half().float(), hi.half().float())[:, :90, :70]
    assert np.array_equal(np.asarray(c.decode(data)), to_uint8(expected))


def test_loading_fewer_levels_extrapolates_the_highest_gains():
    torch.manual_seed(0)
    old = MeanScaleHyperprior(N=8, M=16, levels=8)
    new = MeanScaleHyperprior(N=8, M=16, levels=10)
    new.load_grown(old.state_dict())
    assert torch.equal(new.log_gain[:8], old.log_gain)
    assert torch.equal(new.log_inv_gain[:8], old.log_inv_gain)
    # the new levels continue the spacing upwards: larger gains, so more bits
    assert (new.log_gain[7:].diff(dim=0) > 0).all() and (new.log_inv_gain[7:].diff(dim=0) < 0).all()


def test_growing_residual_blocks_starts_where_the_smaller_model_ended():
    torch.manual_seed(0)
    old = MeanScaleHyperprior(N=8, M=16, levels=8).eval()
    new = MeanScaleHyperprior(N=8, M=16, levels=10, res_blocks=True).eval()
    new.load_grown(old.state_dict())
    assert len(new.g_a) == len(old.g_a) + 2 and len(new.g_s) == len(old.g_s) + 2
    x = torch.rand(1, 3, 64, 128)
    with torch.no_grad():
        assert torch.equal(new(x, torch.tensor([7]))["x_hat"], old(x, torch.tensor([7]))["x_hat"])
    new.train()
    rate_distortion_loss(new(x, torch.tensor([9])), x, torch.tensor([0.05]))["loss"].backward()
    block = new.g_s[2]
    assert block.conv2.weight.grad.abs().sum() > 0  # the blocks learn from the first step
    # a model that has the blocks loads as it is
    again = MeanScaleHyperprior(N=8, M=16, levels=10, res_blocks=True)
    again.load_grown(new.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), new.state_dict().values()))


@pytest.mark.slow
def test_training_pads_like_the_coder_and_counts_bits_over_the_image(tmp_path):
    """`--crop 0` trains on whole fixture faces that are not multiples of the stride."""
    r = run_cli("train", "codec", "--profile", "smoke", "--crop", "0", "--batch-size", "1", "--steps", "2",
                "--res-blocks", "--context", "--run-dir", tmp_path / "run", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "run" / "best.pt").is_file()
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["hparams"]["res_blocks"] is True and summary["hparams"]["crop"] == 0
    assert summary["hparams"]["context"] is True
    codec_train.export_checkpoint(tmp_path / "run" / "best.pt", tmp_path / "c.pt")  # a context model ships
    codec = coder.FaceCodec(zoo.load_shipped(str(tmp_path / "c.pt")))
    assert codec.context and codec.decode(codec.encode(face(), 2)).size == (70, 90)
    r = run_cli("train", "codec", "--profile", "smoke", "--crop", "100", "--run-dir", tmp_path / "bad")
    assert r.returncode == 2 and "multiple of 64" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("train", "codec", "--profile", "smoke", "--photos", "--crop", "0", "--run-dir", tmp_path / "bad")
    assert r.returncode == 2 and "--photos needs --crop" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_only_context_trains_a_grown_context_and_nothing_else(tmp_path):
    coder.export(tiny_model(context=False), tmp_path / "init.pt")
    r = run_cli("train", "codec", "--profile", "smoke", "--init", tmp_path / "init.pt", "--only-context",
                "--slices", "2", "--steps", "2", "--run-dir", tmp_path / "run", "--no-progress")
    assert r.returncode == 0, r.stderr
    init = zoo.load_shipped(str(tmp_path / "init.pt"))["state_dict"]
    trained = checkpoint.load(tmp_path / "run" / "last.pt")["model"]
    assert all(torch.equal(trained[k], v) for k, v in init.items())
    for grown in ("context_model.params.2.weight", "channel_context.nets.0.4.weight"):
        assert trained[grown].abs().sum() > 0  # grown at zero, then trained
    codec_train.export_checkpoint(tmp_path / "run" / "last.pt", tmp_path / "c.pt")  # a sliced model ships
    codec = coder.FaceCodec(zoo.load_shipped(str(tmp_path / "c.pt")))
    assert codec.slices == 2 and codec.decode(codec.encode(face(), 2)).size == (70, 90)


@pytest.mark.slow
def test_only_post_trains_a_grown_post_filter_and_nothing_else(tmp_path):
    coder.export(tiny_model(context=True), tmp_path / "init.pt")
    r = run_cli("train", "codec", "--profile", "smoke", "--only-post", "--run-dir", tmp_path / "bad")
    assert r.returncode == 2 and "needs a post-filter" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("train", "codec", "--profile", "smoke", "--init", tmp_path / "init.pt", "--post-filter", "4",
                "--only-post", "--steps", "2", "--run-dir", tmp_path / "run", "--no-progress")
    assert r.returncode == 0, r.stderr
    init = zoo.load_shipped(str(tmp_path / "init.pt"))["state_dict"]
    ck = checkpoint.load(tmp_path / "run" / "last.pt")
    assert all(torch.equal(ck["model"][k], v) for k, v in init.items())
    assert ck["model"]["post.tail.weight"].abs().sum() > 0  # grown at zero, then trained
    assert ck["hparams"]["post_filter"] == 4 and ck["hparams"]["only_post"] is True
    assert "psnr_mean" in json.loads((tmp_path / "run" / "summary.json").read_text())["best"]
    codec_train.export_checkpoint(tmp_path / "run" / "last.pt", tmp_path / "c.pt")
    codec = coder.FaceCodec(zoo.load_shipped(str(tmp_path / "c.pt")))
    assert codec.model.post_filter == 4 and "post-filter" in codec.description


@pytest.mark.slow
def test_only_decoder_trains_the_decoder_side_and_keeps_every_bit_of_a_file(tmp_path):
    coder.export(tiny_model(context=True, post_filter=4), tmp_path / "init.pt")
    r = run_cli("train", "codec", "--profile", "smoke", "--init", tmp_path / "init.pt", "--only-decoder",
                "--steps", "2", "--run-dir", tmp_path / "run", "--no-progress")
    assert r.returncode == 0, r.stderr
    init = zoo.load_shipped(str(tmp_path / "init.pt"))["state_dict"]
    trained = checkpoint.load(tmp_path / "run" / "last.pt")["model"]
    decoder_side = [k for k in init if k.startswith(("g_s.", "post.")) or k == "log_inv_gain"]
    assert all(torch.equal(trained[k], init[k]) for k in init if k not in decoder_side)
    assert not all(torch.equal(trained[k], init[k]) for k in decoder_side)
    codec_train.export_checkpoint(tmp_path / "run" / "last.pt", tmp_path / "c.pt")
    before, after = (coder.FaceCodec(zoo.load_shipped(str(tmp_path / n))) for n in ("init.pt", "c.pt"))
    im = Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 80, 3), dtype=np.uint8))
    files = [codec.encode(im, 6) for codec in (before, after)]
    assert bitstream.unpack(files[0])[1] == bitstream.unpack(files[1])[1]  # the same payload, a new tag


@pytest.mark.slow
def test_a_continued_run_keeps_its_start_unless_a_step_is_better_by_the_log_cost(tmp_path):
    """--init: the weights a run starts from are validated at step 0 and compete for best.pt, so a
    continued run can never ship worse than it started; --log-cost trains and selects on the mean log cost."""
    coder.export(tiny_model(context=True), tmp_path / "init.pt")
    r = run_cli("train", "codec", "--profile", "smoke", "--init", tmp_path / "init.pt", "--only-context",
                "--log-cost", "--steps", "2", "--run-dir", tmp_path / "run", "--no-progress")
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["config"]["select_key"] == "log_rd_cost" and summary["config"]["validate_start"]
    assert summary["hparams"]["log_cost"] is True and "log_rd_cost" in summary["best"]
    events = EventAccumulator(str(tmp_path / "run"))
    events.Reload()
    validated = {e.step: e.value for e in events.Scalars("val/log_rd_cost")}
    assert sorted(validated) == [0, 2]
    assert summary["best"]["log_rd_cost"] == pytest.approx(min(validated.values()), rel=1e-6)


def test_the_log_cost_weighs_each_images_relative_change_alike():
    """With `log`, the loss is the mean log of each image's cost: halving any one image's cost lowers it
    by the same amount, where the plain mean is moved by the costliest image."""
    x = torch.full((2, 3, 8, 8), 0.5)
    out = {"x_hat": x + torch.tensor([0.01, 0.1]).view(2, 1, 1, 1),
           "likelihoods": {"y": torch.full((2, 1, 8, 8), 0.5)}}  # 1 bit a pixel
    lambdas = torch.tensor([0.01, 0.01])
    cost = 1 + 0.01 * 255**2 * torch.tensor([0.01, 0.1]) ** 2
    assert rate_distortion_loss(out, x, lambdas)["loss"].item() == pytest.approx(cost.mean().item(), rel=1e-5)
    assert rate_distortion_loss(out, x, lambdas, log=True)["loss"].item() == pytest.approx(
        cost.log().mean().item(), rel=1e-5)

def test_a_grown_post_filter_first_decodes_as_before():
    """load_grown adds a missing post-filter at zero: the same images until it trains; it then learns
    from the first step, and its dB loss weighs every level's distortion alike."""
    old = tiny_model(context=True)
    new = MeanScaleHyperprior(N=8, M=16, context=True, post_filter=4).eval()
    new.load_grown(old.state_dict())
    x = torch.rand(2, 3, 64, 128)
    q = torch.tensor([0, 12])
    with torch.no_grad():
        assert torch.equal(new(x, q)["x_hat"], old(x, q)["x_hat"])
    new.train()
    loss = codec_train.decibel_loss(new(x, q), x)
    loss["loss"].backward()
    assert new.post.tail.weight.grad.abs().sum() > 0
    assert loss["psnr"].item() == pytest.approx(-loss["loss"].item())


@pytest.mark.slow
def test_only_gains_fits_grown_levels_and_nothing_else(tmp_path):
    torch.manual_seed(0)
    old = MeanScaleHyperprior(N=8, M=16, levels=len(DEFAULT_LAMBDAS) - 3).eval()
    coder.export(old, tmp_path / "init.pt")
    r = run_cli("train", "codec", "--profile", "smoke", "--init", tmp_path / "init.pt", "--only-gains",
                "--steps", "3", "--run-dir", tmp_path / "run", "--no-progress")
    assert r.returncode == 0, r.stderr
    init = zoo.load_shipped(str(tmp_path / "init.pt"))["state_dict"]
    trained = checkpoint.load(tmp_path / "run" / "last.pt")["model"]
    assert trained["log_gain"].shape[0] == len(DEFAULT_LAMBDAS)
    assert not torch.equal(trained["log_gain"][:-3], init["log_gain"].float())
    assert all(torch.equal(trained[k], v) for k, v in init.items() if "gain" not in k)
    r = run_cli("train", "codec", "--profile", "smoke", "--only-gains", "--only-context", "--run-dir",
                tmp_path / "both")
    assert r.returncode == 2 and "give one" in r.stderr


@pytest.mark.slow
def test_tiled_transforms_equal_the_whole_image_pass(tiny_codec, monkeypatch):
    """Tiles of 3 latents (48 px) with a 4-latent margin: the stitched latent and synthesis are the
    whole-image pass up to float rounding, so the file is the same; a margin short of the receptive
    field is not."""
    im = face(200, 170, seed=3)
    x = coder.pad_to_multiple(to_uint8_tensor(im), 64)  # 192x256: 12x16 latents
    with torch.no_grad():
        y_whole = tiny_codec.model.g_a(x[None].float() / 255)
        x_whole = tiny_codec.model.g_s(y_whole)
    whole_file = tiny_codec.encode(im, 5)
    monkeypatch.setattr(coder, "TILE", 3)
    with torch.no_grad():
        y = tiny_codec._analysis(x)
        x_hat = tiled(lambda t, b, l, r: tiny_codec.model.g_s(y_whole[..., t:b, l:r]), 12, 16, coder.TILE,
                      coder.TILE_MARGIN, scale=16)
    assert torch.allclose(y, y_whole, atol=1e-5) and torch.allclose(x_hat, x_whole, atol=1e-5)
    assert tiny_codec.encode(im, 5) == whole_file
    decoded = []
    for n in (1, 2):  # the tiled decoder is deterministic too
        torch.set_num_threads(n)
        decoded.append(np.asarray(tiny_codec.decode(whole_file)))
    assert np.array_equal(*decoded)
    tiled_pixels = decoded[0]
    monkeypatch.setattr(coder, "TILE_MARGIN", 1)
    with torch.no_grad():
        assert not torch.allclose(tiny_codec._analysis(x), y_whole, atol=1e-3)
    monkeypatch.setattr(coder, "TILE", 1000)
    assert np.abs(np.asarray(tiny_codec.decode(whole_file)).astype(int) - tiled_pixels).max() <= 1


def test_a_file_declaring_too_many_pixels_is_refused(tiny_codec):
    """7800x7800 fits the format (bitstream.MAX_PIXELS) but not the commands' images.MAX_PIXELS."""
    header = bitstream.Header(bitstream.ENTROPY_CODED, tiny_codec.name, tiny_codec.tag, 7800, 7800, 3)
    with pytest.raises(UserError, match="too large"):
        tiny_codec.decode(bitstream.pack(header, bytes(64)))


@pytest.mark.skipif("face-codec" not in zoo.list_names(), reason="face-codec not shipped")
def test_candidates_are_compared_under_the_shipped_name(tmp_path):
    """scripts/select_codec.py: a file's header carries the model's name, so every candidate is
    exported as `face-codec`; the shipped weights then write exactly the shipped codec's files."""
    import importlib.util
    from pathlib import Path
    script = Path(__file__).resolve().parents[1] / "scripts" / "select_codec.py"
    spec = importlib.util.spec_from_file_location("select_codec", script)
    select = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(select)
    candidates = [select.candidate_codec(zoo.resolve("face-codec"), tmp_path) for _ in range(2)]
    face = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8))
    shipped = coder.load_codec("face-codec").encode(face, 3)
    assert all(c.name == "face-codec" and c.encode(face, 3) == shipped for c in candidates)
