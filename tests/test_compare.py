"""Codec comparison: BD-rate on known curves, the classical codecs, the sweep and its JSON files,
tables, figures and the `compare-codecs` command."""
import json
import os
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from aeutils import config
from aeutils.benchmark import compare, curves, figures
from aeutils.benchmark.classical import Codec, classical_codecs
from aeutils.benchmark.hevc import unavailable as hevc_unavailable
from aeutils.datasets import sources
from aeutils.datasets.sources import smoke_images
from aeutils.metrics import bd_rate

RATES = [0.25, 0.5, 1.0, 2.0, 4.0]
PSNRS = [30.0, 33.5, 37.0, 40.5, 44.0]


# ------------------------------------------------------------------------------------- BD-rate
def test_bd_rate_of_a_curve_against_itself_is_zero():
    assert bd_rate(RATES, PSNRS, RATES, PSNRS) == pytest.approx(0.0, abs=1e-9)


def test_bd_rate_of_scaled_rates_is_the_scale():
    assert bd_rate(RATES, PSNRS, [0.8 * r for r in RATES], PSNRS) == pytest.approx(-20.0, abs=1e-6)
    assert bd_rate(RATES, PSNRS, [1.5 * r for r in RATES], PSNRS) == pytest.approx(50.0, abs=1e-6)


def test_bd_rate_is_negative_for_a_better_curve_and_antisymmetric():
    better = [p + 1.0 for p in PSNRS]
    forward = bd_rate(RATES, PSNRS, RATES, better)
    assert forward < 0
    # A against B and B against A are reciprocal rate ratios.
    backward = bd_rate(RATES, better, RATES, PSNRS)
    assert (1 + forward / 100) * (1 + backward / 100) == pytest.approx(1.0, rel=1e-6)


def test_bd_rate_refuses_curves_without_overlap_or_with_too_few_points():
    with pytest.raises(ValueError, match="no PSNR range"):
        bd_rate(RATES, PSNRS, RATES, [p + 20 for p in PSNRS])
    with pytest.raises(ValueError, match="at least 4"):
        bd_rate(RATES[:3], PSNRS[:3], RATES, PSNRS)


# ----------------------------------------------------------------------------- classical codecs
@pytest.fixture(scope="module")
def face():
    return smoke_images(n=1, size=96, seed=3)[0]


def test_classical_codecs_follow_the_protocol_and_sweep_in_rate_order(face):
    codecs = classical_codecs()
    hevc = [] if hevc_unavailable() else ["hevc444"]
    assert [c.name for c in codecs] == ["jpeg420", "jpeg444", "jpeg2000", "webp", "avif444", "avif444-slow",
                                        "jpegxl"] + hevc
    for c in codecs:
        assert isinstance(c, Codec)
        sizes = []
        for q in (c.qualities[0], c.qualities[len(c.qualities) // 2], c.qualities[-1]):
            data = c.encode(face, q)
            out = c.decode(data)
            assert out.mode == "RGB" and out.size == face.size
            sizes.append(len(data))
        assert sizes == sorted(sizes) and sizes[0] < sizes[-1], c.name


def test_jpeg2000_hits_its_target_rate_with_the_colour_transform():
    im = smoke_images(n=1, size=160, seed=4)[0]
    j2k = {c.name: c for c in classical_codecs()}["jpeg2000"]
    for target in (0.25, 1.0, 2.25):
        data = j2k.encode(im, target)
        assert compare.bpp(len(data), *im.size) == pytest.approx(target, rel=0.1)
    # mct=1 is in the codestream: the COD marker's multiple-component-transform byte is 1.
    data = j2k.encode(im, 1.0)
    cod = data.index(b"\xff\x52")
    assert data[cod + 8] == 1


# ---------------------------------------------------------------------------- a fake codec
class QuantCodec:
    """A tiny lossless-container codec for tests: keeps `quality` grey levels, zlib-compressed."""

    name, description, qualities, kind = "quant", "levels + zlib", [2, 4, 8, 16, 64], "learned"

    def encode(self, im, q):
        a = np.asarray(im, dtype=np.float64)
        levels = np.round(a / 255 * (q - 1)).astype(np.uint8)
        h, w, _ = levels.shape
        return bytes([q]) + h.to_bytes(2, "big") + w.to_bytes(2, "big") + zlib.compress(levels.tobytes(), 9)

    def decode(self, data):
        q, h, w = data[0], int.from_bytes(data[1:3], "big"), int.from_bytes(data[3:5], "big")
        levels = np.frombuffer(zlib.decompress(data[5:]), np.uint8).reshape(h, w, 3)
        return Image.fromarray(np.round(levels / (q - 1) * 255).astype(np.uint8), "RGB")


def fake_result(name, rates, psnrs, dataset="faces", kind="classical"):
    n = len(rates)
    return {"name": name, "description": name, "kind": kind, "dataset": dataset, "images": 2,
            "image_sizes": ["96x96"], "machine": "test",
            "results": {"quality": list(range(n)), "bpp": list(rates), "psnr": list(psnrs),
                        "ssim": [0.8 + 0.03 * i for i in range(n)], "ms_ssim": [0.85 + 0.02 * i for i in range(n)],
                        "encode_ms": [1.0 + i for i in range(n)], "decode_ms": [0.5] * n}}


def test_sweep_writes_one_schema_and_reads_back(tmp_path):
    images = [(f"f{i}", im) for i, im in enumerate(smoke_images(n=2, size=48, seed=5))]
    result = compare.sweep(QuantCodec(), images, "faces")
    res = result["results"]
    assert set(res) == set(compare.RESULT_KEYS)
    assert len(res["bpp"]) == len(QuantCodec.qualities) == len(res["psnr"])
    assert res["bpp"] == sorted(res["bpp"]) and res["psnr"] == sorted(res["psnr"])
    # bpp is the whole file's: the mean over images of 8 * bytes / pixels.
    sizes = [len(QuantCodec().encode(im, 2)) for _, im in images]
    assert res["bpp"][0] == pytest.approx(np.mean([8 * s / (48 * 48) for s in sizes]))
    assert result["images"] == 2 and result["image_sizes"] == ["48x48"] and result["kind"] == "learned"
    path = compare.save_result(result, tmp_path)
    assert path == tmp_path / "faces" / "quant.json"
    assert compare.load_results(tmp_path, "faces") == [json.loads(path.read_text())]


def test_load_results_rejects_files_outside_the_schema(tmp_path):
    (tmp_path / "faces").mkdir()
    (tmp_path / "faces" / "bad.json").write_text(json.dumps({"name": "bad", "results": {}}))
    with pytest.raises(compare.UserError, match="not a codec result file"):
        compare.load_results(tmp_path, "faces")
    (tmp_path / "faces" / "bad.json").write_text("{")
    with pytest.raises(compare.UserError, match="not valid JSON"):
        compare.load_results(tmp_path, "faces")


def test_tables_from_known_curves():
    anchor = fake_result("jpeg420", RATES, PSNRS)
    scaled = fake_result("jpeg2000", [0.8 * r for r in RATES], PSNRS)
    apart = fake_result("far", RATES, [p + 30 for p in PSNRS])
    by_dataset = {"faces": [anchor, scaled, apart]}
    table = compare.bd_rate_table(by_dataset)
    assert "| jpeg2000 | -20.0% |" in table and "| far | n/a |" in table and "| jpeg420 |" not in table
    assert compare.bd_rate_of(anchor, scaled, "ms_ssim") == pytest.approx(-20.0, abs=1e-6)
    assert curves.msssim_db([0.9, 0.99]) == pytest.approx([10.0, 20.0])
    assert compare.psnr_at(anchor, 1.0) == pytest.approx(37.0)
    assert compare.psnr_at(anchor, np.sqrt(0.5)) == pytest.approx(35.25)  # halfway in log-rate
    assert compare.psnr_at(anchor, 8.0) is None
    assert "| jpeg420 | 30.0 | 33.5 | 37.0 | 41.1 |" in compare.psnr_table([anchor])
    assert "| jpeg420 | 3.0 / 0.5 |" in compare.timing_table(by_dataset)
    full = compare.tables_markdown(by_dataset)
    assert "BD-rate against JPEG 2000" in full and "| jpeg420 | +25.0% |" in full
    assert "BD-rate against AVIF" not in full  # an anchor gets a table where it was measured
    with_avif = {"faces": [anchor, fake_result("avif444", [0.5 * r for r in RATES], PSNRS)]}
    assert "| jpeg420 | +100.0% |" in compare.bd_rate_table(with_avif, "avif444")
    assert "BD-rate against AVIF 4:4:4 (speed 6)" in compare.tables_markdown(with_avif)


def test_at_size_picks_the_largest_file_within_the_budget(face):
    codec = QuantCodec()
    sizes = {q: len(codec.encode(face, q)) for q in codec.qualities}
    budget = (sizes[8] + sizes[16]) // 2
    q, data = compare.at_size(codec, face, budget)
    assert q == 8 and len(data) == sizes[8]
    q, _ = compare.at_size(codec, face, 1)  # nothing fits: the smallest file
    assert q == 2


def test_select_codecs_by_name_and_the_learned_hook():
    codecs = classical_codecs() + [QuantCodec()]
    assert [c.name for c in compare.select_codecs("quant,jpeg2000", codecs)] == ["quant", "jpeg2000"]
    with pytest.raises(compare.UserError, match="unknown codec 'nope'"):
        compare.select_codecs("jpeg420,nope", codecs)
    assert {c.name for c in classical_codecs()} <= {c.name for c in compare.all_codecs()}


def test_voxceleb2_test_frames_reads_the_manifest(tmp_path):
    rows = ["split,identity,video,utterance,time_s,path",
            "test,id00067,v1,00002,0.000,frames/test/id00067/v1/00002_000000ms.png",
            "test,id00067,v1,00001,10.000,frames/test/id00067/v1/00001_010000ms.png",
            "test,id00067,v1,00001,0.000,frames/test/id00067/v1/00001_000000ms.png",
            "train,id00019,v9,00001,0.000,frames/train/id00019/v9/00001_000000ms.png"]
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    paths = sources.voxceleb2_test_frames(tmp_path)
    assert [p.name for p in paths] == ["00001_000000ms.png", "00002_000000ms.png"]
    assert paths[0] == tmp_path / "frames/test/id00067/v1/00001_000000ms.png"
    with pytest.raises(compare.UserError, match="compile-voxceleb2"):
        sources.voxceleb2_test_frames(tmp_path / "missing")


# ------------------------------------------------------------------------------------- figures
def test_figures_are_drawn_from_the_json_files_alone(tmp_path, face):
    for r in (fake_result("jpeg420", RATES, PSNRS, "voxceleb2"),
              fake_result("face-codec", [0.8 * r for r in RATES], PSNRS, "voxceleb2", kind="learned")):
        compare.save_result(r, tmp_path)
    compare.write_grid_entries([QuantCodec()], ("f0", face), "voxceleb2", 4.0, tmp_path)
    by_dataset = compare.draw(tmp_path)
    assert list(by_dataset) == ["voxceleb2"]
    for name in ("rd_voxceleb2.png", "face_grid.png"):
        assert (tmp_path / name).stat().st_size > 10_000
    with Image.open(tmp_path / "rd_voxceleb2.png") as im:
        assert im.width > 800
    grid = json.loads((tmp_path / "grid" / "grid.json").read_text())
    assert grid["entries"]["quant"]["bpp"] <= 4.0 and (tmp_path / "grid" / "quant.png").is_file()
    assert "| face-codec | -20.0% |" in (tmp_path / "tables.md").read_text()


def test_reference_curves_read_at_run_time():
    curves = figures.ebrahimi2004()
    if not curves:
        pytest.skip("no ../shared/reference here")
    jpeg = curves[0]
    assert jpeg["label"] == "JPEG (other images, 2004)"
    assert jpeg["bpp"][0] == pytest.approx(24 / 3.457621396552682)
    assert {c["label"] for c in figures.published_kodak()} >= {"JPEG (published)", "Balle 2018 hyperprior (published)"}


# ------------------------------------------------------------------------------------ the CLI
def cli(*args):
    """The real entry point in a fresh interpreter."""
    return subprocess.run([sys.executable, "-m", "aeutils", "compare-codecs", *args], capture_output=True,
                          text=True, env={**os.environ, "AEUTILS_PROFILE": "smoke"})


def main(capsys, *args):
    """The same entry point in-process (cheaper): (exit status, stdout, stderr)."""
    from aeutils.cli import main as aeutils_main

    status = aeutils_main(["compare-codecs", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.slow
def test_cli_runs_redraws_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "codecs"
    r = cli("--datasets", "faces", "--limit", "1", "--codecs", "jpeg420,webp,jpeg2000", "--out", str(out),
            "--no-progress")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (out / "faces").iterdir()) == ["jpeg2000.json", "jpeg420.json", "webp.json"]
    assert (out / "rd_faces.png").is_file() and (out / "face_grid.png").is_file()
    assert "webp" in (out / "tables.md").read_text()
    before = (out / "faces" / "webp.json").read_text()

    status, _, err = main(capsys, "--datasets", "faces", "--limit", "1", "--codecs", "jpeg420", "--out", str(out),
                          "--no-progress")
    assert status == 2 and "exists; pass --force" in err and len(err.strip().splitlines()) == 1

    # Adding or redoing one codec leaves the others' files alone.
    status, _, _ = main(capsys, "--datasets", "faces", "--limit", "1", "--codecs", "jpeg420", "--out", str(out),
                        "--no-progress", "--force")
    assert status == 0
    assert (out / "faces" / "webp.json").read_text() == before

    (out / "rd_faces.png").unlink()
    status, _, err = main(capsys, "--plot-only", "--out", str(out))
    assert status == 2 and "exists; pass --force" in err
    status, _, _ = main(capsys, "--plot-only", "--out", str(out), "--force")
    assert status == 0 and (out / "rd_faces.png").is_file()


def test_cli_bad_input_in_a_fresh_process_is_one_line_and_exit_2(tmp_path):
    r = cli("--limit", "0", "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "--limit must be at least 1" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


@pytest.mark.parametrize("args,message", [
    (["--datasets", "no-such-set"], "unknown dataset 'no-such-set'"),
    (["--codecs", "jpeg420,nope"], "unknown codec 'nope'"),
    (["--grid-bpp", "0"], "--grid-bpp must be positive"),
    (["--profile", "huge"], "unknown profile"),
    (["--plot-only"], "no codec results"),
])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    status, _, err = main(capsys, "--out", str(tmp_path / "o"), "--no-progress", *args)
    assert status == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_cli_lists_the_codecs(capsys):
    status, out, _ = main(capsys, "--list")
    assert status == 0 and "jpeg2000" in out and "avif444" in out


# ------------------------------------------------------------------------- the committed results
COMMITTED = config.RESOURCES_DIR / "codecs"


@pytest.mark.skipif(not any(COMMITTED.glob("*/*.json")), reason="no committed benchmark results yet")
def test_committed_results_follow_the_schema_and_draw_tables():
    by_dataset = {d: compare.load_results(COMMITTED, d) for d in compare.saved_datasets(COMMITTED)}
    assert set(by_dataset) >= {"voxceleb2", "celeba", "kodak"}
    for d, results in by_dataset.items():
        names = {r["name"] for r in results}
        assert {"jpeg420", "jpeg2000", "avif444"} <= names, d
        for r in results:
            assert r["dataset"] == d and all(len(v) == len(r["results"]["bpp"]) for v in r["results"].values())
    assert "%" in compare.bd_rate_table(by_dataset)


@pytest.mark.skipif(not (COMMITTED / "voxceleb2" / "jpeg2000.json").is_file(), reason="no committed VoxCeleb2 results")
def test_committed_voxceleb2_wrappers_agree_with_the_design_notes():
    """Design notes, section 5: JPEG 2000 (mct=1) reaches about 42.3 dB at 0.5 bpp and 46.3 dB at
    1 bpp on these frames, JPEG 4:2:0 about 39.1 dB at 0.5 bpp."""
    res = {r["name"]: r for r in compare.load_results(COMMITTED, "voxceleb2")}
    assert compare.psnr_at(res["jpeg2000"], 0.5) == pytest.approx(42.3, abs=1.5)
    assert compare.psnr_at(res["jpeg2000"], 1.0) == pytest.approx(46.3, abs=1.5)
    assert compare.psnr_at(res["jpeg420"], 0.5) == pytest.approx(39.1, abs=1.5)
