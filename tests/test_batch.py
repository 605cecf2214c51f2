"""Folders in, folders out (`aeutils CMD IN... --out DIR`) and the pixel limit, through the real CLI."""
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from aeutils import cli, zoo
from aeutils.codec import coder
from aeutils.images import MAX_PIXELS

shipped = pytest.mark.skipif(coder.DEFAULT_CODEC not in zoo.list_names(), reason="no shipped face codec")


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "aeutils", *map(str, args)], capture_output=True, text=True,
                          timeout=600)


def faces(folder, n=3, size=(64, 80)):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(folder / f"face{i}.png")
    (folder / "notes.txt").write_text("not an image: a folder gives only its images")
    return sorted(folder.glob("*.png"))


def png_declaring(path, width, height):
    """A PNG of a few dozen bytes whose header declares width x height (no pixel data)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


@shipped
@pytest.mark.slow
def test_folder_glob_and_files_resume_and_match_single_files(tmp_path, capsys):
    """The entry point once, then the same `main` in-process (interpreter start-up is the slow part)."""
    files = faces(tmp_path / "in")
    r = run_cli("compress", tmp_path / "in", "--out", tmp_path / "aez", "--quality", 2, "--no-progress")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1].startswith("aeutils compress: 3 done, 0 skipped (output exists), 0 failed")
    assert sorted(p.name for p in (tmp_path / "aez").iterdir()) == ["face0.aez", "face1.aez", "face2.aez"]

    def main(*args):
        code = cli.main([*map(str, args), "--no-progress"])
        return code, capsys.readouterr().out
    # a batch writes what one file at a time writes
    assert main("compress", files[1], tmp_path / "one.aez", "--quality", 2)[0] == 0
    assert (tmp_path / "one.aez").read_bytes() == (tmp_path / "aez" / "face1.aez").read_bytes()
    # resume: outputs that exist are skipped, untouched
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "aez").iterdir()}
    assert main("compress", tmp_path / "in", "--out", tmp_path / "aez") == \
        (0, f"aeutils compress: 0 done, 3 skipped (output exists), 0 failed -> {tmp_path / 'aez'}\n")
    assert before == {p.name: p.stat().st_mtime_ns for p in (tmp_path / "aez").iterdir()}
    # a quoted glob, and several files with another extension
    code, out = main("decompress", tmp_path / "aez" / "face*.aez", "-o", tmp_path / "png")
    assert code == 0 and "3 done" in out
    assert Image.open(tmp_path / "png" / "face0.png").size == (64, 80)
    code, out = main("decompress", tmp_path / "aez" / "face0.aez", tmp_path / "aez" / "face2.aez", "--out",
                     tmp_path / "bmp", "--ext", "bmp")
    assert code == 0 and sorted(p.name for p in (tmp_path / "bmp").iterdir()) == ["face0.bmp", "face2.bmp"]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "bmp" / "face0.bmp")),
                          np.asarray(Image.open(tmp_path / "png" / "face0.png")))


@shipped
@pytest.mark.slow
def test_a_bad_file_is_one_line_and_the_batch_goes_on(tmp_path):
    faces(tmp_path / "in", n=2)
    (tmp_path / "in" / "broken.png").write_bytes(b"not a png")
    png_declaring(tmp_path / "in" / "huge.png", 30000, 30000)
    r = run_cli("compress", tmp_path / "in", tmp_path / "missing.png", "--out", tmp_path / "out", "--no-progress")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    failed = [line for line in r.stderr.splitlines() if "failed:" in line]
    assert len(failed) == 3 and all(line.startswith("aeutils compress: failed: ") for line in failed)
    assert any("broken.png" in line and "not a readable image" in line for line in failed)
    assert any("huge.png" in line and "too large" in line for line in failed)
    assert any("missing.png" in line and "no such file" in line for line in failed)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["face0.aez", "face1.aez"]
    assert "2 done, 0 skipped (output exists), 3 failed" in r.stdout


def test_batch_usage_errors_are_one_line(tmp_path, capsys):
    faces(tmp_path / "in", n=1)
    (tmp_path / "file").write_text("x")
    for args in (["compress", str(tmp_path / "in"), str(tmp_path / "o.aez")],  # a folder needs --out
                 ["compress", str(tmp_path / "in" / "face0.png")],  # one path and no --out
                 ["decompress", str(tmp_path / "nothing-*.aez"), "--out", str(tmp_path / "o")],  # matches nothing
                 ["colorize", str(tmp_path / "in"), "--out", str(tmp_path / "file")],  # --out is a file
                 ["colorize", str(tmp_path / "in"), "--out", str(tmp_path / "o"), "--ext", "xpm"]):  # read-only format
        assert cli.main(args) == 2, args
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.aez").exists()


@pytest.mark.parametrize("width, height", [(8000, 8000), (10000, 10000), (30000, 30000)])
def test_pixel_limit_is_a_one_line_error_in_every_command_that_reads_images(tmp_path, capsys, width, height):
    """Above MAX_PIXELS (8000x8000), Pillow's decompression-bomb warning (10000x10000) and its error
    (30000x30000): the same one-line message, from the header, before any pixel is decoded."""
    assert width * height > MAX_PIXELS
    big = png_declaring(tmp_path / "big.png", width, height)
    Image.new("RGB", (32, 32)).save(tmp_path / "ok.png")
    for args in (["compress", big, tmp_path / "o.aez"], ["repair", big, tmp_path / "o.png"],
                 ["repair", tmp_path / "ok.png", tmp_path / "o.png", "--damage", "blocks", "--mask", big],
                 ["colorize", big, tmp_path / "o.png"], ["upscale", big, tmp_path / "o.png"],
                 ["demo", big, "--out", tmp_path / "report"]):
        assert cli.main([*map(str, args), "--no-progress"]) == 2, args
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "too large" in err and "the limit is 50" in err, err
    assert not any(tmp_path.glob("o.*")) and not (tmp_path / "report").exists()


@shipped
def test_pixel_limit_through_the_entry_point(tmp_path):
    r = run_cli("compress", png_declaring(tmp_path / "big.png", 20000, 20000), tmp_path / "big.aez")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "Warning" not in r.stderr
    assert r.stderr.strip().splitlines() == [f"aeutils compress: error: {tmp_path / 'big.png'} is too large: "
                                             "more than 89 megapixels, the limit is 50"]
