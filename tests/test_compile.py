"""The dataset compiler: clip discovery in both VoxCeleb2 layouts, identity-disjoint splits, the
10-second sampling rule checked frame by frame, lossless PNGs, resume after a kill, unreadable clips,
the CelebA-style image compiler and the manifest Dataset.

Runs on clips encoded at test time (aeutils.datasets.fixtures); the kill-and-resume test uses real VoxCeleb2
clips from ../shared/data where they exist."""
from __future__ import annotations

import csv
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from aeutils import cli, config
from aeutils.datasets import compile as comp, fixtures, sources

REPO = Path(__file__).resolve().parents[1]


def aeutils_cli(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aeutils", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, timeout=300, **kw)


def expected_times(path: Path, interval: float = 10.0) -> list[float]:
    """The sampling rule from the clip's header alone: its frames sit at k / fps, the first is kept
    and then one at or after every `interval` seconds up to the last frame."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        last = (s.frames - 1) / float(s.average_rate)
    return [k * interval for k in range(math.floor(last / interval + 1e-9) + 1)]


def manifest_by_clip(out: Path) -> dict[tuple[str, str, str], list[dict]]:
    clips: dict = {}
    for r in sources.read_manifest(out):
        clips.setdefault((r["identity"], r["video"], r["utterance"]), []).append(r)
    return clips


def source_frame(path: Path, index: int) -> np.ndarray:
    """Frame `index` of a clip, decoded independently of the compiler, as RGB uint8 (H, W, 3)."""
    with av.open(str(path)) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i == index:
                return frame.to_ndarray(format="rgb24")
    raise IndexError(index)


def png_files(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in (out / "frames").rglob("*.png")}


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return fixtures.voxceleb2_tree(tmp_path_factory.mktemp("voxceleb2"))


@pytest.fixture(scope="module")
def compiled(tree, tmp_path_factory):
    out = tmp_path_factory.mktemp("compiled") / "frames"
    return out, comp.compile_voxceleb2(tree, out, workers=1, progress=False)


# --- Discovery and splitting --------------------------------------------------------------------

def test_find_clips_with_and_without_the_mp4_level(tree, tmp_path):
    flat = fixtures.voxceleb2_tree(tmp_path / "flat", mp4_level=False)
    with_level = [(c.partition, c.key) for c in comp.find_clips(tree)]
    without = [(c.partition, c.key) for c in comp.find_clips(flat)]
    assert with_level == without
    assert len(with_level) == 7 and {p for p, _ in with_level} == {"dev", "test"}
    assert all("/mp4/" in str(c.path) for c in comp.find_clips(tree))


def test_split_identities_is_seeded_disjoint_and_never_empty_or_total():
    ids = ["id3", "id1", "id2"]
    train, val = comp.split_identities(ids, 0.05, seed=0)
    assert len(val) == 1 and sorted(train + val) == ["id1", "id2", "id3"] and not set(train) & set(val)
    assert comp.split_identities(ids, 0.05, seed=0) == (train, val)
    assert comp.split_identities(["a"], 0.5, seed=0) == (["a"], [])
    assert comp.split_identities(ids, 0.0, seed=0) == (sorted(ids), [])
    many = [f"id{i:03d}" for i in range(100)]
    assert len(comp.split_identities(many, 0.1, seed=1)[1]) == 10
    assert len(comp.split_identities(["a", "b"], 0.9, seed=0)[1]) == 1
    vals = {tuple(comp.split_identities(many, 0.1, seed=s)[1]) for s in range(3)}
    assert len(vals) == 3


def test_choose_clips_caps_counts_and_keeps_partitions(tree):
    clips = comp.find_clips(tree)
    everything = comp.choose_clips(clips, {"train": 99, "val": 99, "test": 99})
    assert len(everything) == len(clips)
    few = comp.choose_clips(clips, {"train": 1, "val": 1, "test": 1}, seed=3)
    assert [s for s, _ in few] == ["train", "val", "test"]
    assert comp.choose_clips(clips, {"train": 1, "val": 1, "test": 1}, seed=3) == few
    more_test = comp.choose_clips(clips, {"train": 1, "val": 1, "test": 2}, seed=3)
    assert [c for s, c in more_test if s == "train"] == [c for s, c in few if s == "train"]
    for split, clip in everything:
        assert clip.partition == ("test" if split == "test" else "dev")


# --- Compiling the fixture ------------------------------------------------------------------------

def test_compiled_frames_follow_the_sampling_rule(compiled, tree):
    out, result = compiled
    clips = {c.key: c for c in comp.find_clips(tree)}
    by_clip = manifest_by_clip(out)
    assert result.compiled == 7 and not result.errors and result.frames == 10
    assert len(by_clip) == 7
    for (identity, video, utterance), rows in by_clip.items():
        clip = clips[comp.clip_key(identity, video, utterance)]
        times = [float(r["time_s"]) for r in rows]
        assert times == expected_times(clip.path), clip.key
        seconds = fixtures.LAYOUT[clip.partition][identity][video][utterance]
        assert len(times) == math.floor((seconds - 0.2) / 10) + 1
        for r, t in zip(rows, times):
            png = out / r["path"]
            with Image.open(png) as im:
                assert im.format == "PNG" and im.mode == "RGB" and im.size == (64, 64)
                level = np.asarray(im)[:fixtures.MARKER, :fixtures.MARKER].mean()
            assert abs(level - fixtures.marker_level(round(t * 5))) <= 1.5, (png, level)
    assert png_files(out) == {r["path"] for rows in by_clip.values() for r in rows}


def test_splits_are_identity_disjoint_and_val_comes_from_dev(compiled, tree):
    out, result = compiled
    rows = sources.read_manifest(out)
    ids = {s: {r["identity"] for r in rows if r["split"] == s} for s in comp.SPLITS}
    assert ids == {"train": {"id90001", "id90003"}, "val": {"id90002"}, "test": {"id90004"}}
    assert result.summary["shared_identities"] == []
    assert result.summary["splits"]["test"] == {"identities": 1, "clips": 2, "frames": 4}
    assert result.summary["identities"]["id90002"] == {"split": "val", "clips": 2, "frames": 2}
    assert list(rows[0]) == list(sources.MANIFEST_FIELDS)
    text = comp.format_summary(result.summary)
    assert "val" in text and "id90004" in text and "WARNING" not in text


def test_rerun_resumes_without_redoing_clips(compiled, tree):
    out, _ = compiled
    stamps = {p: (out / p).stat().st_mtime_ns for p in png_files(out)}
    again = comp.compile_voxceleb2(tree, out, workers=1, progress=False)
    assert (again.compiled, again.skipped, again.frames) == (0, 7, 0)
    assert {p: (out / p).stat().st_mtime_ns for p in png_files(out)} == stamps


def test_interval_option_changes_the_sampling(tree, tmp_path):
    result = comp.compile_voxceleb2(tree, tmp_path / "o", interval=5, workers=1, progress=False,
                                    counts={"train": 0, "val": 0, "test": 1})
    times = [float(r["time_s"]) for r in sources.read_manifest(tmp_path / "o")]
    assert result.compiled == 1 and times in ([0.0, 5.0, 10.0, 15.0, 20.0], [0.0])


# --- Interruptions and unreadable clips ----------------------------------------------------------

def _kill_tree(tmp_path: Path) -> Path:
    """A tree for the kill test: a subset of the real clips (symlinked, with the longest ones) where
    ../shared/data has them, else 48 short fixture clips; plus a truncated copy of one clip."""
    root = tmp_path / "vox"
    real = config.voxceleb2_dir()
    if real.is_dir():
        clips = comp.find_clips(real)
        for identity in sorted({c.identity for c in clips}):
            mine = sorted((c for c in clips if c.identity == identity), key=lambda c: (-c.path.stat().st_size, c.key))
            for c in mine[:2] + mine[-6:]:
                link = root / c.partition / "mp4" / c.identity / c.video / f"{c.utterance}.mp4"
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(c.path)
    else:
        layout = {"dev": {f"id8000{i}": {"v": {f"{k:05d}": 3.0 for k in range(12)}} for i in range(3)},
                  "test": {"id80009": {"v": {f"{k:05d}": 11.0 if k < 3 else 3.0 for k in range(12)}}}}
        fixtures.voxceleb2_tree(root, layout=layout)
    source = max(comp.find_clips(root), key=lambda c: c.path.stat().st_size)
    truncated = root / "test" / "mp4" / "id_corrupt" / "vid" / "00001.mp4"
    truncated.parent.mkdir(parents=True)
    payload = source.path.read_bytes()
    truncated.write_bytes(payload[: len(payload) // 2])
    return root


def test_resume_after_kill_and_a_truncated_clip(tmp_path, capsys):
    root, out = _kill_tree(tmp_path), tmp_path / "frames"
    clips = comp.find_clips(root)
    proc = subprocess.Popen([sys.executable, "-m", "aeutils", "compile-voxceleb2", root, out, "--workers", "2",
                             "--no-progress"], cwd=REPO, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None and len(sources.read_manifest(out)) < 2:
        time.sleep(0.002)
    os.killpg(proc.pid, signal.SIGKILL)  # the main process and its workers, mid-run
    proc.wait()
    first = sources.read_manifest(out)
    stamps = {r["path"]: (out / r["path"]).stat().st_mtime_ns for r in first}
    assert 0 < len(manifest_by_clip(out)) < len(clips) - 1, "the kill should land mid-run"

    capsys.readouterr()
    assert cli.main(["compile-voxceleb2", str(root), str(out), "--workers", "2", "--no-progress"]) == 0
    resumed = capsys.readouterr()
    assert "already compiled (resumed)" in resumed.out
    assert "id_corrupt" in resumed.err and "Traceback" not in resumed.err
    with open(out / "errors.csv", newline="") as f:
        errors = list(csv.DictReader(f))
    assert [Path(e["source"]).parent.parent.name for e in errors] == ["id_corrupt"]

    by_clip = manifest_by_clip(out)
    assert len(by_clip) == len(clips) - 1 and ("id_corrupt", "vid", "00001") not in by_clip
    for c in clips:
        if c.identity != "id_corrupt":
            assert [float(r["time_s"]) for r in by_clip[(c.identity, c.video, c.utterance)]] == expected_times(c.path)
    rows = sources.read_manifest(out)
    assert len({r["path"] for r in rows}) == len(rows)  # no clip written twice
    assert png_files(out) == {r["path"] for r in rows}  # no stray or half-written frame
    assert not list(out.rglob("*.tmp"))
    assert {p: (out / p).stat().st_mtime_ns for p in stamps} == stamps  # finished clips not redone
    # Lossless: a frame kept at 10 s is pixel for pixel the decoder's frame 10 s in.
    r = next(r for r in rows if float(r["time_s"]) == 10.0)
    clip = next(c for c in clips if (c.identity, c.video, c.utterance) == (r["identity"], r["video"], r["utterance"]))
    with av.open(str(clip.path)) as c:
        index = round(10 * float(c.streams.video[0].average_rate))
    assert np.array_equal(np.asarray(Image.open(out / r["path"])), source_frame(clip.path, index))
    ids = {s: {r["identity"] for r in rows if r["split"] == s} for s in comp.SPLITS}
    assert not (ids["train"] & ids["val"] or ids["train"] & ids["test"] or ids["val"] & ids["test"])
    assert ids["test"] == {c.identity for c in clips if c.partition == "test"} - {"id_corrupt"}


def test_unreadable_clips_are_skipped_not_fatal(tree, tmp_path):
    root = tmp_path / "vox"
    shutil.copytree(tree, root)
    bad = root / "test" / "mp4" / "id90004" / "vidD0001"
    (bad / "00003.mp4").write_bytes(b"")
    (bad / "00004.mp4").write_text("not a video")
    result = comp.compile_voxceleb2(root, tmp_path / "o", workers=2, progress=False)
    assert result.compiled == 7 and sorted(Path(s).name for s, _ in result.errors) == ["00003.mp4", "00004.mp4"]
    assert "unreadable clips skipped" in comp.report(result, 2)
    assert not list((tmp_path / "o").rglob("*.tmp"))


# --- Command line -----------------------------------------------------------------------------------

def test_cli_bad_input_is_one_line_and_exit_2(tmp_path):
    missing = aeutils_cli("compile-voxceleb2", tmp_path / "nope", tmp_path / "out", "--no-progress")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "no such folder" in missing.stderr
    assert "Traceback" not in missing.stderr and not (tmp_path / "out").exists()


def test_cli_refuses_other_settings_without_force(tree, tmp_path, capsys):
    out = tmp_path / "o"
    assert cli.main(["compile-voxceleb2", str(tree), str(out), "--test", "1", "--train", "0", "--val", "0",
                     "--no-progress", "--workers", "1"]) == 0
    before = (out / "manifest.csv").read_bytes()
    capsys.readouterr()
    assert cli.main(["compile-voxceleb2", str(tree), str(out), "--interval", "5", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--force" in err and "interval" in err
    assert (out / "manifest.csv").read_bytes() == before
    assert cli.main(["compile-voxceleb2", str(tree), str(out), "--interval", "5", "--no-progress", "--force",
                     "--workers", "1"]) == 0
    assert len(manifest_by_clip(out)) == 7


@pytest.mark.parametrize("argv, message", [
    (["--workers", "0"], "--workers"),
    (["--interval", "0"], "--interval"),
    (["--interval", "nan"], "--interval"),
    (["--interval", "inf"], "--interval"),
    (["--train", "-1"], "counts"),
    (["--val-fraction", "1"], "--val-fraction"),
])
def test_cli_rejects_bad_options(tree, tmp_path, capsys, argv, message):
    assert cli.main(["compile-voxceleb2", str(tree), str(tmp_path / "o"), "--no-progress", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()  # refused before anything is created


def test_cli_will_not_write_into_a_foreign_folder(tree, tmp_path, capsys):
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "notes.txt").write_text("mine")
    assert cli.main(["compile-voxceleb2", str(tree), str(tmp_path / "o"), "--no-progress", "--force"]) == 2
    assert "not empty" in capsys.readouterr().err and os.listdir(tmp_path / "o") == ["notes.txt"]


def test_cli_output_under_a_file_is_one_line(tree, tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    assert cli.main(["compile-voxceleb2", str(tree), str(tmp_path / "file" / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "cannot create" in err and err.count("\n") == 1


# --- Image folders -----------------------------------------------------------------------------------

@pytest.fixture
def celeba_like(tmp_path) -> tuple[Path, Path]:
    """12 JPEG faces of 6 identities (0-5), an identity.csv, and one listed file that is not an image."""
    src = tmp_path / "img"
    src.mkdir()
    rows = [("image", "identity")]
    for i, im in enumerate(sources.smoke_images(n=12, size=48, seed=3)):
        im.save(src / f"{i:06d}.jpg", quality=90)
        rows.append((f"{i:06d}.jpg", str(i // 2)))
    (src / "999999.jpg").write_text("broken")
    rows.append(("999999.jpg", "5"))
    ident = tmp_path / "identity.csv"
    with open(ident, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return src, ident


def test_compile_images_splits_by_identity_losslessly(celeba_like, tmp_path):
    src, ident = celeba_like
    result = comp.compile_images(src, tmp_path / "o", ident, workers=1, progress=False)
    rows = sources.read_manifest(tmp_path / "o")
    assert {s: sorted({r["identity"] for r in rows if r["split"] == s}) for s in comp.SPLITS} == \
        {"train": ["0", "1", "2", "3"], "val": ["4"], "test": ["5"]}
    assert result.compiled == 12 and [Path(s).name for s, _ in result.errors] == ["999999.jpg"]
    for r in rows:
        assert r["video"] == "" and r["time_s"] == ""
        src_pixels = np.asarray(Image.open(src / f"{r['utterance']}.jpg").convert("RGB"))
        with Image.open(tmp_path / "o" / r["path"]) as im:
            assert im.format == "PNG" and np.array_equal(np.asarray(im), src_pixels)


def test_compile_images_cli_with_ranges(celeba_like, tmp_path):
    src, ident = celeba_like
    out = tmp_path / "o"
    assert cli.main(["compile-images", str(src), str(out), "--identity-file", str(ident),
                     "--ranges", "train=0-2,test=4-5", "--no-progress", "--workers", "2"]) == 0
    rows = sources.read_manifest(out)
    assert sorted({(r["split"], r["identity"]) for r in rows}) == \
        [("test", "4"), ("test", "5"), ("train", "0"), ("train", "1"), ("train", "2")]


def test_split_image_identities_matches_the_celeba_ranges():
    split = comp.split_image_identities([str(i) for i in range(200)])
    assert {s: [int(i) for i in split if split[i] == s] for s in comp.SPLITS} == \
        {s: list(r) for s, r in sources.CELEBA_SPLITS.items()}
    assert comp.split_image_identities(["b", "a", "c"], (0.8, 0.05, 0.15)) == {"a": "train", "b": "val", "c": "test"}


@pytest.mark.parametrize("argv, message", [
    (["--identity-file", "missing.csv"], "no such file"),
    (["--identity-file", "IDENT", "--fractions", "0.5,0.1"], "--fractions"),
    (["--identity-file", "IDENT", "--ranges", "train=a-b"], "--ranges"),
])
def test_compile_images_bad_input(celeba_like, tmp_path, capsys, argv, message):
    src, ident = celeba_like
    argv = [str(ident) if a == "IDENT" else a for a in argv]
    assert cli.main(["compile-images", str(src), str(tmp_path / "o"), "--no-progress", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_compile_images_needs_an_identity_file(celeba_like, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["compile-images", str(celeba_like[0]), str(tmp_path / "o")])
    assert e.value.code == 2 and "--identity-file" in capsys.readouterr().err


# --- The manifest Dataset --------------------------------------------------------------------------

def test_voxceleb2_frames_dataset(compiled):
    out, _ = compiled
    test = sources.VoxCeleb2Frames("test", root=out)
    assert len(test) == 4 and test.identities == ["id90004"]
    x = test[0]
    assert x.shape == (3, 64, 64) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert torch.equal(x, torch.from_numpy(np.array(Image.open(out / test.rows[0]["path"]))).permute(2, 0, 1) / 255)
    crops = sources.VoxCeleb2Frames("train", root=out, crop=32, resize=(48, 48), limit=2, cache=False)
    assert len(crops) == 2 and crops[1].shape == (3, 32, 32) and not crops._cache
    flipped = sources.VoxCeleb2Frames("val", root=out, crop=64)
    random.seed(0)
    seen = {bool(torch.equal(flipped[0], flipped.image(0))) for _ in range(20)}
    assert seen == {True, False}  # the full-size crop is either the frame or its mirror
    with pytest.raises(FileNotFoundError, match="compile-voxceleb2"):
        sources.VoxCeleb2Frames("val", root=out.parent / "nothing")
