"""`aeutils demo`: the report's files exist, its numbers are the measured ones, and missing models
or bad input are reported rather than crashing."""
import json
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from aeutils import cli, config, metrics
from aeutils.demo import jobs
from aeutils.images import sample_faces

SECTIONS = ("compression", "repair", "colorize", "upscale")


def aeutils(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "aeutils", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def small_face(path, size=(64, 80)):
    sample_faces()["astronaut"].resize(size, Image.LANCZOS).save(path)
    return path


def pixels(path):
    return np.array(Image.open(path).convert("RGB"))


def check_report(out, results, page):
    """Every number in results.json is what the written files give, and the page shows it."""
    assert re.findall(r'<img src="([^"]*)"', page) and all(
        s.startswith("data:image/png;base64,") for s in re.findall(r'<img src="([^"]*)"', page))
    for face in results["faces"]:
        original = pixels(out / face["original"])
        assert original.shape == (face["height"], face["width"], 3)
        for job in SECTIONS:
            sec = face[job]
            if not sec["available"]:
                assert "no shipped" in sec["note"] and sec["note"] in page
                if job != "compression":
                    continue
            assert sec["groups"] and (out / sec["panel"]).is_file()
            for group in sec["groups"]:
                for item in group["items"]:
                    im = pixels(out / item["image"])
                    if "psnr" in item:
                        assert item["psnr"] == pytest.approx(metrics.psnr(original, im), abs=1e-9)
                        assert item["ssim"] == pytest.approx(metrics.ssim(original, im), abs=1e-9)
                        assert f"{item['psnr']:.2f}" in page
                    if "bytes" in item:
                        coded = out / item["file"]
                        assert coded.stat().st_size == item["bytes"]
                        assert item["bpp"] == pytest.approx(8 * item["bytes"] / (face["width"] * face["height"]))
                        assert f">{item['bytes']}" in page
                        if coded.suffix != ".aez":  # a real JPEG / J2K / WebP / AVIF file of the panel
                            assert np.array_equal(pixels(coded), im)
            if job == "compression" and sec["available"]:
                for group in sec["groups"]:
                    learned, *classical = group["items"][1:]
                    assert learned["label"] == jobs.CODEC
                    assert [c["label"] for c in classical] == list(jobs.CLASSICAL)
                    for c in classical:  # the same file size: at most the face codec's, or flagged
                        assert c["over_budget"] == (c["bytes"] > learned["bytes"])


@pytest.mark.slow
def test_demo_end_to_end(tmp_path):
    img = small_face(tmp_path / "face.png")
    out = tmp_path / "report"
    r = aeutils("demo", img, "--out", out, "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) <= 24 and lines[-1].startswith("report: ")
    results = json.loads((out / "results.json").read_text())
    page = (out / "index.html").read_text()
    assert [f["name"] for f in results["faces"]] == ["face"]
    assert (results["faces"][0]["width"], results["faces"][0]["height"]) == (64, 80)
    check_report(out, results, page)
    for name, m in results["models"].items():
        assert m["shipped"] == (config.WEIGHTS_DIR / f"{name}.pt").is_file()
        if not m["shipped"]:
            assert any(line.startswith("not shipped: ") and name in line for line in lines)


def test_missing_models_are_reported(tmp_path, monkeypatch):
    """With no shipped model at all, the demo still compares the classical codecs and says what is missing."""
    monkeypatch.setattr(config, "WEIGHTS_DIR", tmp_path / "empty")
    face = jobs.prepare(sample_faces()["grace_hopper"], 48)
    results = jobs.run_demo([("hopper", "test", face)], tmp_path / "out", progress=False)
    sec = results["faces"][0]
    for job, what in [("compression", "compression"), ("repair", "repair"), ("colorize", "colorization"),
                      ("upscale", "upscale")]:
        assert not sec[job]["available"] and f"no shipped {what} model" in sec[job]["note"]
    assert len(sec["compression"]["groups"]) == len(jobs.FALLBACK_BPP)
    page = (tmp_path / "out" / "index.html").read_text()
    check_report(tmp_path / "out", results, page)
    text = jobs.summary(results, tmp_path / "out")
    assert "no shipped repair model" in text and "not shipped: face-codec" in text


def test_prepare_shrinks_and_crops():
    im = Image.new("RGB", (300, 401))
    assert jobs.prepare(im, 192).size == (144, 192)
    assert jobs.prepare(im, 0).size == (296, 400)
    with pytest.raises(Exception, match="too small"):
        jobs.prepare(Image.new("RGB", (40, 20)), 192)


def test_bad_input_through_the_entry_point(tmp_path):
    junk = tmp_path / "junk.png"
    junk.write_text("not an image")
    r = aeutils("demo", junk, "--out", tmp_path / "out", "--no-progress")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [f"aeutils demo: error: not a readable image: {junk} "
                                             "(UnidentifiedImageError)"]
    assert not (tmp_path / "out").exists()  # nothing is written before the inputs are checked


@pytest.mark.parametrize("case", ["missing", "bad_size", "out_exists", "out_is_file"])
def test_bad_input_is_one_line(tmp_path, capsys, case):
    face = small_face(tmp_path / "f.png")
    out = tmp_path / "out"
    args = {"missing": [tmp_path / "nope.png"], "bad_size": [face, "--size", "5"], "out_exists": [face],
            "out_is_file": [face]}[case]
    if case == "out_exists":
        out.mkdir()
    if case == "out_is_file":
        out.write_text("x")
    assert cli.main(["demo", *map(str, args), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("aeutils demo: error: ")
    if case in ("missing", "bad_size"):
        assert not out.exists()
    if case == "out_exists":
        assert "--force" in err and not any(out.iterdir())
