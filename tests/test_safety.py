"""Hostile and unusual input: crafted and fuzzed bitstreams, model files that would run code, outputs
that are not regular files, racing writers, bad options, deep images, interrupted training."""
import os
import random
import resource
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from aeutils import checkpoint, cli, config, images, zoo
from aeutils.codec import bitstream, coder
from aeutils.errors import UserError
from aeutils.train import LoopConfig, fit

shipped = pytest.mark.skipif(not {"face-codec", "cae-exp7"} <= set(zoo.list_names()),
                             reason="the shipped face-codec and cae-exp7 models are needed")


def run_cli(*args):
    """`python -m aeutils ARGS` in a fresh process: (exit status, stderr, peak memory in bytes)."""
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen([sys.executable, "-m", "aeutils", *map(str, args)], stdout=subprocess.DEVNULL,
                             stderr=err)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return p.returncode, err.read().decode(), usage.ru_maxrss * 1024


def main_in_process(capsys, *args) -> tuple[int, str]:
    """The CLI entry point in this process: (exit status, stderr)."""
    status = cli.main([str(a) for a in args])
    return status, capsys.readouterr().err


def assert_one_line(status, err, *words):
    assert status == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert all(w in err for w in words), err


def face(w=64, h=80):
    return images.sample_faces()["astronaut"].resize((w, h))


# --- crafted files: header fields rewritten under a recomputed CRC, so the decoder itself must judge ---

def seal(body) -> bytes:
    return bytes(body) + struct.pack(">I", zlib.crc32(bytes(body)))


def header_length(data: bytes) -> int:
    return 6 + data[5] + 4 + 5  # magic, version, kind, name length | name | tag | width, height, quality


def rewrite(data: bytes, width=None, height=None, quality=None) -> bytes:
    body = bytearray(data[:-4])
    at = 6 + body[5] + 4  # magic, version, kind, name length, name, tag
    w, h, q = struct.unpack_from(">HHB", body, at)
    struct.pack_into(">HHB", body, at, w if width is None else width, h if height is None else height,
                     q if quality is None else quality)
    return seal(body)


def with_payload(data: bytes, payload: bytes) -> bytes:
    return seal(data[:header_length(data)] + payload)


@pytest.fixture(scope="module")
def codecs():
    if not {"face-codec", "cae-exp7"} <= set(zoo.list_names()):
        pytest.skip("the shipped face-codec and cae-exp7 models are needed")
    return {name: coder.load_codec(name) for name in ("face-codec", "cae-exp7")}


@pytest.fixture(scope="module")
def files(codecs):
    """Valid files of both shipped codecs (small payloads: a fuzzed size can claim only as much)."""
    return {"face": codecs["face-codec"].encode(face(48, 60), 3),
            "face-q8": codecs["face-codec"].encode(face(64, 64), 8),
            "cae": codecs["cae-exp7"].encode(face(40, 40), 6)}


def decode(codecs, data: bytes):
    """What `aeutils decompress` does with a file's bytes, without the disk."""
    header, _ = bitstream.unpack(data)
    if header.model not in codecs:
        raise UserError(f"file needs model {header.model!r}")
    return codecs[header.model].decode(data)


def crafted(files) -> dict[str, bytes]:
    face_file, cae_file = files["face"], files["cae"]
    face_payload, cae_payload = (bitstream.unpack(files[k])[1] for k in ("face", "cae"))
    return {
        "41 bytes declaring 8000x8000": with_payload(rewrite(face_file, 8000, 8000), face_payload[:8]),
        "65535x65535": rewrite(face_file, 65535, 65535),
        "4000x4000": rewrite(face_file, 4000, 4000),
        "a larger size": rewrite(face_file, 200, 200),
        "another quality": rewrite(face_file, quality=7),
        "an appended byte": seal(face_file[:-4] + b"\x00"),
        "an appended word": seal(face_file[:-4] + b"\x01\x02\x03\x04"),
        "an empty payload": with_payload(face_file, b""),
        "the other model's payload": with_payload(face_file, cae_payload),
        "a face payload in a cae file": with_payload(cae_file, face_payload),
        "a cae file with a byte appended": seal(cae_file[:-4] + b"\x00"),
        "a cae file of another quality": rewrite(cae_file, quality=5),
    }


@shipped
def test_crafted_files_are_refused_in_process_fast(codecs, files):
    for name, data in crafted(files).items():
        start = time.process_time()  # CPU time: the machine may be shared
        with pytest.raises(UserError):
            decode(codecs, data)
            pytest.fail(f"{name} was decoded")
        assert time.process_time() - start < 2, name


@pytest.fixture(scope="module")
def baseline_memory(tmp_path_factory):
    """Peak memory of a decompress process that fails at once: the imports (torch) alone."""
    folder = tmp_path_factory.mktemp("baseline")
    return run_cli("decompress", folder / "missing.aez", folder / "out.png")[2]


@shipped
@pytest.mark.parametrize("name", ["41 bytes declaring 8000x8000", "65535x65535", "an appended byte",
                                  "the other model's payload"])
def test_crafted_files_through_the_cli_exit_2_in_bounded_memory(files, tmp_path, baseline_memory, name):
    src = tmp_path / "in.aez"
    src.write_bytes(crafted(files)[name])
    status, err, peak = run_cli("decompress", src, tmp_path / "out.png")
    assert_one_line(status, err, "aeutils decompress: error")
    assert not (tmp_path / "out.png").exists()
    assert peak - baseline_memory < 500e6  # what decoding added to the imports


def fuzzed(files, rng: random.Random) -> bytes:
    """One file mutated the way an attacker or a broken disk would: sizes, quality, payload
    (truncated, extended, emptied, swapped, flipped) or any header byte; the CRC always recomputed."""
    data = rng.choice(list(files.values()))
    payload = data[header_length(data):-4]

    def side():
        return rng.choice([rng.randint(0, 300), rng.randint(300, 65535), rng.choice([0, 1, 63, 64, 65, 8000, 65535])])

    kind = rng.randrange(6)
    if kind in (0, 5):
        data = rewrite(data, side(), side()) if rng.random() < 0.8 else rewrite(data, width=side())
    if kind == 1:
        data = rewrite(data, quality=rng.randrange(256))
    if kind in (2, 5):
        n = rng.randint(1, 12)
        other = rng.choice(list(files.values()))
        other = other[header_length(other):-4]
        data = seal(data[:header_length(data)] + rng.choice(
            [payload[n:], payload[:-n], payload + rng.randbytes(n), b"", other]))
    if kind == 3:
        body, start = bytearray(data[:-4]), header_length(data)
        for _ in range(rng.randint(1, 8)):
            body[rng.randrange(start, len(body))] = rng.randrange(256)
        data = seal(body)
    if kind == 4:
        body = bytearray(data[:-4])
        body[rng.randrange(3, header_length(data))] = rng.randrange(256)
        data = seal(body)
    return data


@shipped
def test_fuzz_1000_files_no_traceback_each_fast_and_bounded(codecs, files):
    rng = random.Random(19)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    outcomes = {"refused": 0, "decoded": 0}
    for trial in range(1000):
        data = fuzzed(files, rng)
        start = time.process_time()  # CPU time: the machine may be shared
        try:
            out = decode(codecs, data)  # anything but UserError fails the test: a traceback
        except UserError:
            outcomes["refused"] += 1
        else:
            header, _ = bitstream.unpack(data)
            assert out.size == (header.width, header.height), trial
            outcomes["decoded"] += 1
        assert time.process_time() - start < 2, trial
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - peak_before < 500e6
    assert outcomes["refused"] > 800, outcomes  # most mutations are detectable; the rest decode honestly


@shipped
def test_fuzzed_files_through_the_cli_entry_point(files, tmp_path, capsys):
    rng = random.Random(7)
    src = tmp_path / "f.aez"
    for trial in range(25):
        src.write_bytes(fuzzed(files, rng))
        out = tmp_path / f"out{trial}.png"
        status, err = main_in_process(capsys, "decompress", src, out)
        if status == 0:
            header, _ = bitstream.unpack(src.read_bytes())
            assert Image.open(out).size == (header.width, header.height)
        else:
            assert_one_line(status, err)
            assert not out.exists()


@shipped
def test_honest_files_still_round_trip_at_every_quality(codecs):
    im = face(70, 90)
    for q in codecs["face-codec"].qualities:
        data = codecs["face-codec"].encode(im, q)
        assert decode(codecs, data).size == im.size
    for bad in crafted({"face": data, "cae": codecs["cae-exp7"].encode(im, 6)}).values():
        with pytest.raises(UserError):
            decode(codecs, bad)


def test_the_size_limit_is_documented_and_enforced():
    assert bitstream.MAX_PIXELS == 8192 * 8192
    bitstream.check_size(8192, 8192)
    for w, h in [(0, 5), (8193, 8192), (65535, 65535), (65536, 1)]:
        with pytest.raises(UserError, match="outside the format's limits"):
            bitstream.check_size(w, h)


# --- model files never run code ------------------------------------------------------------------

class _CreatesAFile:
    """Unpickling this calls open(path, "w"): a stand-in for any code a crafted .pt could run."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def crafted_model(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"task": "codec", "arch": {}, "state_dict": {}, "x": _CreatesAFile(marker)}, evil)
    return evil, marker


def test_a_model_file_that_would_run_code_is_refused_by_the_cli(tmp_path):
    evil, marker = crafted_model(tmp_path)
    face().save(tmp_path / "face.png")
    status, err, _ = run_cli("compress", tmp_path / "face.png", tmp_path / "out.aez", "--model", evil)
    assert_one_line(status, err, "could run code")
    assert not marker.exists() and not (tmp_path / "out.aez").exists()
    torch.load(evil, weights_only=False)  # what the old loader did: the file is live
    assert marker.exists()


@pytest.mark.parametrize("command", [["repair", "--model"], ["colorize", "--model"], ["upscale", "--model"]])
def test_every_model_option_loads_without_running_code(tmp_path, capsys, command):
    evil, marker = crafted_model(tmp_path)
    face().save(tmp_path / "face.png")
    status, err = main_in_process(capsys, command[0], tmp_path / "face.png", tmp_path / "out.png", command[1], evil)
    assert_one_line(status, err, "could run code")
    assert not marker.exists()


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path, capsys):
    evil, marker = crafted_model(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(evil, run / "last.pt")
    status, err = main_in_process(capsys, "train", "codec", "--profile", "smoke", "--run-dir", run, "--no-progress")
    assert_one_line(status, err, "last.pt", "could run code")
    assert not marker.exists()
    with pytest.raises(UserError, match="could run code"):
        checkpoint.load(evil)


def test_shipped_models_and_fresh_checkpoints_load_as_weights_only(tmp_path):
    for name in zoo.list_names():
        assert zoo.load_shipped(name)["state_dict"]
    model = torch.nn.Conv2d(3, 3, 1)
    fit(model, lambda m, x: {"loss": m(x).pow(2).mean()}, [torch.rand(1, 3, 4, 4)],
        lambda m: {"psnr": np.float64(1.0)}, tmp_path, LoopConfig(max_steps=2, progress=False))
    assert checkpoint.load(tmp_path / "last.pt")["state"]["step"] == 2
    assert checkpoint.load(tmp_path / "best.pt")["metrics"]["psnr"] == 1.0


# --- outputs --------------------------------------------------------------------------------------

@pytest.fixture
def aez(tmp_path, codecs):
    path = tmp_path / "in.aez"
    path.write_bytes(codecs["face-codec"].encode(face(48, 60), 4))
    return path


def special_files(tmp_path):
    """A FIFO, a folder and, where the system lets us make one, a device (a private /dev/null)."""
    os.mkfifo(tmp_path / "fifo.png")
    (tmp_path / "folder.png").mkdir()
    found = [tmp_path / "fifo.png", tmp_path / "folder.png"]
    try:
        os.mknod(tmp_path / "null.png", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        found.append(tmp_path / "null.png")
    except (PermissionError, OSError):
        pass
    return found


@shipped
def test_force_never_replaces_what_is_not_a_regular_file(aez, tmp_path, capsys):
    for target in special_files(tmp_path):
        kind = stat.S_IFMT(os.lstat(target).st_mode)
        status, err = main_in_process(capsys, "decompress", aez, target, "--force")
        assert_one_line(status, err, "refusing to replace it, even with --force")
        assert stat.S_IFMT(os.lstat(target).st_mode) == kind
    face().save(tmp_path / "face.png")
    status, err = main_in_process(capsys, "compress", tmp_path / "face.png", tmp_path / "fifo.png", "--force")
    assert_one_line(status, err, "is a FIFO")
    assert stat.S_ISFIFO(os.lstat(tmp_path / "fifo.png").st_mode)


@shipped
def test_symlinks_need_force_and_only_the_link_is_replaced(aez, tmp_path, capsys):
    target = tmp_path / "target.png"
    target.write_bytes(b"keep me")
    (tmp_path / "link.png").symlink_to(target)
    (tmp_path / "dangling.png").symlink_to(tmp_path / "nowhere.png")
    for link in ("link.png", "dangling.png"):
        status, err = main_in_process(capsys, "decompress", aez, tmp_path / link)
        assert_one_line(status, err, "symbolic link", "--force")
        assert (tmp_path / link).is_symlink()
        assert main_in_process(capsys, "decompress", aez, tmp_path / link, "--force")[0] == 0
        assert not (tmp_path / link).is_symlink() and Image.open(tmp_path / link).size == (48, 60)
    assert target.read_bytes() == b"keep me" and not (tmp_path / "nowhere.png").exists()


@pytest.mark.parametrize("command", ["decompress", "repair", "colorize", "upscale"])
@pytest.mark.parametrize("ext", [".xpm", ".psd", ".cur"])
def test_unwritable_formats_are_refused_before_the_work(tmp_path, capsys, monkeypatch, command, ext):
    def no_work(*args, **kwargs):
        raise AssertionError("the work started before the output was checked")

    for loader in ("aeutils.codec.coder.load_codec", "aeutils.tasks.repair.infer.load_model",
                   "aeutils.tasks.repair.cli.load_model", "aeutils.zoo.load"):
        monkeypatch.setattr(loader, no_work, raising=False)
    src = tmp_path / ("in.aez" if command == "decompress" else "in.png")
    face().save(tmp_path / "in.png")
    if command == "decompress":
        src.write_bytes(bitstream.pack(bitstream.Header(1, "face-codec", b"abcd", 8, 8, 1), b"\x01\x00\x00\x00"))
    status, err = main_in_process(capsys, command, src, tmp_path / f"out{ext}")
    assert_one_line(status, err, f"cannot write RGB images as {ext}")
    assert not (tmp_path / f"out{ext}").exists()


def unwritable_folder(tmp_path):
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o500)
    return folder if not os.access(folder, os.W_OK) else "/proc"  # root writes anywhere, but not in /proc


def unreadable_file(tmp_path):
    path = tmp_path / "secret.png"
    face().save(path)
    path.chmod(0)
    return path if not os.access(path, os.R_OK) else "/proc/self/mem"  # unreadable even for root


@shipped
@pytest.mark.parametrize("case", ["under a file", "missing folder", "unwritable folder", "unreadable input"])
def test_bad_paths_are_one_line_errors(aez, tmp_path, capsys, case):
    (tmp_path / "file.txt").write_text("a file")
    face().save(tmp_path / "face.png")
    argv = {
        "under a file": ["decompress", aez, tmp_path / "file.txt" / "out.png"],
        "missing folder": ["compress", tmp_path / "face.png", tmp_path / "nope" / "out.aez"],
        "unwritable folder": ["decompress", aez, f"{unwritable_folder(tmp_path)}/out.png"],
        "unreadable input": ["compress", unreadable_file(tmp_path), tmp_path / "out.aez"],
    }[case]
    assert_one_line(*main_in_process(capsys, *argv))
    if case == "unreadable input":
        assert_one_line(*main_in_process(capsys, "decompress", argv[1], tmp_path / "out.png"))


@shipped
def test_of_two_writers_the_second_gets_exists(aez, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out.png"
    real = coder.load_codec

    def rival_finishes_first(name):
        out.write_bytes(b"the first result")  # another command wrote the output meanwhile
        return real(name)

    monkeypatch.setattr(coder, "load_codec", rival_finishes_first)
    status, err = main_in_process(capsys, "decompress", aez, out)
    assert_one_line(status, err, "exists")
    assert out.read_bytes() == b"the first result"


@shipped
def test_two_concurrent_commands_one_wins(aez, tmp_path):
    out = tmp_path / "out.png"
    procs = [subprocess.Popen([sys.executable, "-m", "aeutils", "decompress", str(aez), str(out)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = sorted((p.wait(), p.stderr.read()) for p in procs)
    assert [r[0] for r in results] == [0, 2] and "exists" in results[1][1]
    assert Image.open(out).size == (48, 60)


def test_exclusive_write_works_without_hard_links(tmp_path, monkeypatch):
    def no_links(src, dst):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    images.atomic_write_bytes(tmp_path / "a", b"first", exclusive=True)
    with pytest.raises(UserError, match="exists"):
        images.atomic_write_bytes(tmp_path / "a", b"second", exclusive=True)
    assert (tmp_path / "a").read_bytes() == b"first" and os.listdir(tmp_path) == ["a"]


def test_ship_refuses_an_existing_file_without_force(tmp_path, capsys):
    existing = tmp_path / "model.pt"
    existing.write_bytes(b"shipped earlier")
    status, err = main_in_process(capsys, "train", "repair", "--profile", "smoke", "--run-dir", tmp_path / "run",
                                  "--ship", existing, "--no-progress")
    assert_one_line(status, err, "exists", "--force")
    assert existing.read_bytes() == b"shipped earlier" and not (tmp_path / "run").exists()
    status, _ = main_in_process(capsys, "train", "repair", "--profile", "smoke", "--run-dir", tmp_path / "run",
                                "--steps", "1", "--ship", existing, "--force", "--no-progress")
    assert status == 0 and zoo.load_shipped(str(existing), task="repair")["state_dict"]


def test_colorize_and_superres_ship_refuse_existing_weights(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(config, "WEIGHTS_DIR", tmp_path)
    for name in ("colorize-faces.pt", "sr-x4-srresnet.pt"):
        (tmp_path / name).write_bytes(b"shipped earlier")
    status, err = main_in_process(capsys, "train", "colorize", "--profile", "smoke", "--run-dir", tmp_path / "run",
                                  "--ship", "colorize-faces")
    assert_one_line(status, err, "colorize-faces.pt exists")
    status, err = main_in_process(capsys, "train", "superres", "--phase", "evaluate", "--profile", "smoke",
                                  "--run-dir", tmp_path / "sr", "--ship")
    assert_one_line(status, err, "sr-x4-srresnet.pt exists")
    assert (tmp_path / "colorize-faces.pt").read_bytes() == b"shipped earlier"


# --- one-line errors for options ------------------------------------------------------------------

@pytest.mark.parametrize("argv, env, words", [
    (["train", "codec", "--profile", "bogus"], {}, ["unknown profile 'bogus'"]),
    (["train", "repair"], {"AEUTILS_PROFILE": "bogus"}, ["unknown profile 'bogus'", "AEUTILS_PROFILE"]),
    (["train", "codec", "--threads", "0"], {}, ["--threads"]),
    (["train", "repair", "--threads", "0"], {}, ["--threads"]),
    (["train", "colorize", "--threads", "0"], {}, ["--threads"]),
    (["train", "cae", "--experiment", "1", "--threads", "0"], {}, ["--threads"]),
    (["train", "codec", "--steps", "-5"], {}, ["--steps"]),
    (["train", "superres", "--steps", "-1"], {}, ["--steps"]),
    (["train", "colorize", "--minutes", "-1"], {}, ["--minutes"]),
    (["train", "repair", "--minutes", "nan"], {}, ["--minutes"]),
    (["train", "cae", "--experiment", "1", "--steps", "-5"], {}, ["--steps"]),
])
def test_trainer_options_are_one_line_errors(capsys, monkeypatch, argv, env, words):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    try:
        status = cli.main(argv)
    except SystemExit as e:  # argparse's own exit, after its one line
        status = e.code
    assert_one_line(status, capsys.readouterr().err, *words)


UNKNOWN = "--bogus-option"
BAD_OPTIONS = [  # (command line, words its one-line error must hold)
    ([UNKNOWN], ["COMMAND"]),
    (["bogus-command"], ["bogus-command"]),
    (["train", "bogus-task"], ["bogus-task"]),
    (["train", "codec", "--profile", "bogus"], ["unknown profile 'bogus'"]),
    (["train", "colorize", "--profile", "bogus"], ["bogus"]),
    (["train", "codec", UNKNOWN], [UNKNOWN]),
    (["train", "cae", "--experiment", "7", UNKNOWN], [UNKNOWN]),
    (["train", "repair", UNKNOWN], [UNKNOWN]),
    (["train", "colorize", UNKNOWN], [UNKNOWN]),
    (["train", "superres", UNKNOWN], [UNKNOWN]),
    *[([command, "in.png", "out.png", UNKNOWN], [UNKNOWN])
      for command in ("compress", "decompress", "repair", "colorize", "upscale", "compile-voxceleb2")],
    (["compile-images", "in", "out", "--identity-file", "ids.txt", UNKNOWN], [UNKNOWN]),
    (["demo", "--out", "report", UNKNOWN], [UNKNOWN]),
    *[([command, UNKNOWN], [UNKNOWN]) for command in ("compare-codecs", "models")],
]


@pytest.mark.slow
@pytest.mark.parametrize("argv, words", BAD_OPTIONS, ids=[" ".join(argv) for argv, _ in BAD_OPTIONS])
def test_every_entry_point_refuses_bad_options_in_one_line(argv, words):
    """Through `python -m aeutils`, as users meet it: exit status 2, one line, no usage block."""
    status, err, _ = run_cli(*argv)
    assert_one_line(status, err, *words)
    assert "usage:" not in err


def test_run_dir_naming_a_file_and_a_corrupt_last_pt(tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    status, err = main_in_process(capsys, "train", "codec", "--profile", "smoke", "--run-dir", tmp_path / "file",
                                  "--no-progress")
    assert_one_line(status, err, "run folder")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "last.pt").write_bytes(b"\x80\x02 truncated by a crash")
    status, err = main_in_process(capsys, "train", "codec", "--profile", "smoke", "--run-dir", tmp_path / "run",
                                  "--no-progress")
    assert_one_line(status, err, "cannot load", "last.pt")


@shipped
def test_quality_is_checked_against_the_models_levels(tmp_path, capsys):
    face().save(tmp_path / "face.png")
    top = coder.load_codec("face-codec").levels
    for model, quality in [("cae-exp7", 99), ("face-codec", top + 1), ("face-codec", 0)]:
        status, err = main_in_process(capsys, "compress", tmp_path / "face.png", tmp_path / "o.aez",
                                      "--model", model, "--quality", quality)
        assert_one_line(status, err, "quality")
        assert not (tmp_path / "o.aez").exists()


# --- images of any depth --------------------------------------------------------------------------

def test_16_bit_png_is_scaled_by_its_type_not_its_content(tmp_path):
    dark = (np.arange(64 * 64).reshape(64, 64) % 200).astype(np.uint16)  # at most 200 of 65535
    Image.fromarray(dark).save(tmp_path / "dark.png")
    assert (tmp_path / "dark.png").read_bytes()[24] == 16  # a real 16-bit PNG (IHDR bit depth)
    out = np.asarray(images.load_rgb(tmp_path / "dark.png"))
    assert out.max() <= 1  # 200 / 65535 of white
    dark[0, 0] = 65535  # one white pixel changes that pixel only
    Image.fromarray(dark).save(tmp_path / "dark2.png")
    out2 = np.asarray(images.load_rgb(tmp_path / "dark2.png"))
    assert out2[0, 0].tolist() == [255] * 3 and np.array_equal(out2[1:], out[1:])
    mid = np.full((8, 8), 32768, np.uint16)
    Image.fromarray(mid).save(tmp_path / "mid.png")
    assert np.asarray(images.load_rgb(tmp_path / "mid.png")).max() == 128


def test_float_tiff_is_taken_as_zero_to_one(tmp_path):
    ramp = np.linspace(0, 1, 64, dtype=np.float32)[None].repeat(16, 0)
    Image.fromarray(ramp).save(tmp_path / "ramp.tif")
    assert Image.open(tmp_path / "ramp.tif").mode == "F"
    out = np.asarray(images.load_rgb(tmp_path / "ramp.tif"))[..., 0]
    assert np.abs(out.astype(float) - ramp * 255).max() <= 0.5 + 1e-6
    assert out.max() == 255 and out.min() == 0


def test_32_bit_integer_tiff_uses_its_declared_bits(tmp_path):
    half = np.full((8, 8), 2**30, np.int32)  # signed 32-bit: half of 2^31 - 1
    Image.fromarray(half).save(tmp_path / "half.tif")
    assert np.asarray(images.load_rgb(tmp_path / "half.tif")).max() == 128


@shipped
def test_a_dark_16_bit_face_stays_dark_through_the_codec(tmp_path, capsys):
    gray = np.asarray(face().convert("L"), dtype=np.uint16)  # values up to 255 of 65535: nearly black
    Image.fromarray(gray).save(tmp_path / "dark16.png")
    assert main_in_process(capsys, "compress", tmp_path / "dark16.png", tmp_path / "d.aez")[0] == 0
    assert main_in_process(capsys, "decompress", tmp_path / "d.aez", tmp_path / "d.png")[0] == 0
    assert np.asarray(Image.open(tmp_path / "d.png")).mean() < 12  # read as 8-bit it would be about 100


# --- training: resume, interrupt, logs ------------------------------------------------------------

def tiny_fit(run_dir, steps, scores=None, step_fn=None, **cfg):
    """A 1x1 convolution trained for `steps`; validation returns the next of `scores` when given."""
    torch.manual_seed(0)
    model = torch.nn.Conv2d(3, 3, 1)
    data = [torch.rand(2, 3, 8, 8) for _ in range(4)]
    scores = iter(scores) if scores is not None else None

    def evaluate(m):
        if scores is not None:
            return {"psnr": next(scores)}
        return {"psnr": float(-10 * torch.log10(((m(data[0]) - data[0]) ** 2).mean()))}

    step_fn = step_fn or (lambda m, x: {"loss": ((m(x) - x) ** 2).mean()})
    config_ = dict(max_steps=steps, lr=1e-2, val_every=2, ckpt_every=2, progress=False) | cfg
    return fit(model, step_fn, data, evaluate, run_dir, LoopConfig(**config_))


def test_best_never_regresses_after_resuming_from_an_older_last_pt(tmp_path):
    tiny_fit(tmp_path, 2, scores=[10.0])
    shutil.copy(tmp_path / "last.pt", tmp_path / "older-last.pt")
    tiny_fit(tmp_path, 4, scores=[30.0])  # best.pt improves at step 4...
    shutil.copy(tmp_path / "older-last.pt", tmp_path / "last.pt")  # ...but the run died before last.pt
    summary = tiny_fit(tmp_path, 4, scores=[20.0])  # the resumed run validates worse at step 4
    assert checkpoint.load(tmp_path / "best.pt")["metrics"]["psnr"] == 30.0
    assert summary["best"]["psnr"] == 30.0 and checkpoint.load(tmp_path / "last.pt")["state"]["best"] == 30.0


def test_stale_temporary_files_of_killed_runs_are_cleaned(tmp_path):
    tiny_fit(tmp_path, 2)
    stale = [tmp_path / ".last.pt.k1ll3d.tmp", tmp_path / ".best.pt.abc123.tmp"]
    for path in stale:
        path.write_bytes(b"half a checkpoint")
    tiny_fit(tmp_path, 3)
    assert not any(p.exists() for p in stale)
    assert not list(tmp_path.glob(".*.tmp"))


def test_ctrl_c_saves_last_pt_before_stopping(tmp_path):
    def step(m, x):
        step.calls += 1
        if step.calls == 6:
            raise KeyboardInterrupt
        return {"loss": ((m(x) - x) ** 2).mean()}

    step.calls = 0
    with pytest.raises(KeyboardInterrupt):
        tiny_fit(tmp_path, 1000, step_fn=step, ckpt_every=200, val_every=200)
    assert checkpoint.load(tmp_path / "last.pt")["state"]["step"] == 5
    assert tiny_fit(tmp_path, 7)["sessions"][-1]["from_step"] == 5


def test_ctrl_c_through_the_cli_saves_and_says_interrupted(tmp_path):
    run = tmp_path / "run"
    # the real entry point, with Python's Ctrl-C handler installed even where the suite runs as a
    # background job (which starts its children with SIGINT ignored)
    start = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
             "from aeutils.cli import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.Popen([sys.executable, "-c", start, "train", "codec", "--profile", "smoke", "--steps",
                             "100000", "--run-dir", str(run), "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list(run.glob("events.out.tfevents.*")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(3)  # some steps
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == "aeutils train: interrupted"
    assert checkpoint.load(run / "last.pt")["state"]["step"] > 0


def test_resumed_steps_are_not_logged_twice(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tiny_fit(tmp_path, 4, val_every=1)
    shutil.copy(tmp_path / "last.pt", tmp_path / "at-4.pt")
    time.sleep(1.1)  # event files are named by the second they were opened, and read in that order
    tiny_fit(tmp_path, 6, val_every=1)  # logs steps 5 and 6, then "dies" before...
    shutil.copy(tmp_path / "at-4.pt", tmp_path / "last.pt")  # ...its last.pt was saved
    time.sleep(1.1)
    tiny_fit(tmp_path, 8, val_every=1)  # steps 5..8 again
    events = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0})
    events.Reload()
    steps = [e.step for e in events.Scalars("val/psnr")]
    assert steps == sorted(set(steps)) == list(range(1, 9))
