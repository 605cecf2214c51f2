"""Compile face-frame datasets: frames sampled from VoxCeleb2 utterance clips, or a folder of face
images, written as lossless PNGs with one CSV manifest, split by identity.

As the original did, a VoxCeleb2 compile picks utterances at random (50K from dev for training, 5K
from test for testing), keeps each one's first frame and one more every 10 seconds. Training and
validation frames come from the dev partition (validation from a seeded choice of its identities),
test frames from the test partition only, so no identity is in two splits.

What OUT holds:
    manifest.csv   split,identity,video,utterance,time_s,path   (path relative to OUT)
    frames/<split>/<identity>/<video>/<utterance>_<ms>ms.png    (images: <split>/<identity>/<stem>.png)
    settings.json  the options it was compiled with: a re-run with the same ones resumes
    summary.json   clips and frames per split and per identity
    errors.csv     clips that could not be read (reported and skipped)

Interrupting is safe: a clip's frames are written under temporary names and renamed when all are
done, and only then are its manifest rows appended, so a re-run skips exactly the finished clips.
"""
from __future__ import annotations

import csv
import io
import json
import math
import multiprocessing
import os
import random
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image

from aeutils.datasets.sources import IMAGE_SUFFIXES, MANIFEST_FIELDS, read_manifest
from aeutils.errors import UserError
from aeutils.images import atomic_write_bytes, load_rgb
from aeutils.options import add_command

PARTITIONS = ("dev", "test")
SPLITS = ("train", "val", "test")
# The original's counts of utterances (the manifest holds what exists, when there are fewer).
DEFAULT_COUNTS = {"train": 50_000, "val": 5_000, "test": 5_000}
DEFAULT_INTERVAL = 10.0
DEFAULT_VAL_FRACTION = 0.05
DEFAULT_FRACTIONS = (0.8, 0.05, 0.15)  # on CelebA's 200 identities here: 0-159, 160-169, 170-199


class ClipError(Exception):
    """A clip that cannot be used (unreadable, truncated, no video)."""


@dataclass(frozen=True)
class Clip:
    """One VoxCeleb2 utterance: `partition/[mp4/]identity/video/utterance.mp4`."""
    partition: str
    identity: str
    video: str
    utterance: str
    path: Path

    @property
    def key(self) -> str:
        return clip_key(self.identity, self.video, self.utterance)


def clip_key(identity: str, video: str, utterance: str) -> str:
    """What identifies a clip (or an image) in the manifest, and so what a resumed run skips."""
    return f"{identity}/{video}/{utterance}"


# --- VoxCeleb2: finding, splitting and choosing clips -------------------------------------------

def find_clips(root: str | Path) -> list[Clip]:
    """All clips of a VoxCeleb2 tree, `{dev,test}/[mp4/]<identity>/<video>/<utterance>.mp4`
    (with or without the `mp4` level), sorted. UserError if there are none."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"no such folder: {root}")
    clips = []
    for partition in PARTITIONS:
        base = root / partition
        if (base / "mp4").is_dir():
            base = base / "mp4"
        for path in sorted(base.glob("*/*/*.mp4")):
            identity, video = path.parent.parent.name, path.parent.name
            clips.append(Clip(partition, identity, video, path.stem, path))
    if not clips:
        raise UserError(f"no clips under {root}: expected {{dev,test}}/[mp4/]<identity>/<video>/<utterance>.mp4")
    dev = {c.identity for c in clips if c.partition == "dev"}
    both = sorted(dev & {c.identity for c in clips if c.partition == "test"})
    if both:
        raise UserError(f"identities in both dev and test under {root}: {', '.join(both[:5])}")
    return clips


def split_identities(dev_identities, val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Carve validation identities out of dev: a seeded choice of `val_fraction` of them, at least
    one when there are two or more (and never all). Returns (train, val), each sorted."""
    ids = sorted(set(dev_identities))
    k = 0
    if val_fraction > 0 and len(ids) >= 2:
        k = min(len(ids) - 1, max(1, round(val_fraction * len(ids))))
    val = set(random.Random(f"val-identities:{seed}").sample(ids, k))
    return [i for i in ids if i not in val], sorted(val)


def choose_clips(clips: list[Clip], counts: dict[str, int], val_fraction: float = DEFAULT_VAL_FRACTION,
                 seed: int = 0) -> list[tuple[str, Clip]]:
    """(split, clip) pairs: `counts[split]` utterances drawn at random (seeded, independently per
    split) from the train / val identities of dev and from test; fewer where fewer exist."""
    train_ids, val_ids = split_identities({c.identity for c in clips if c.partition == "dev"},
                                          val_fraction, seed)
    pools = {
        "train": [c for c in clips if c.partition == "dev" and c.identity in set(train_ids)],
        "val": [c for c in clips if c.partition == "dev" and c.identity in set(val_ids)],
        "test": [c for c in clips if c.partition == "test"],
    }
    chosen = []
    for split in SPLITS:
        pool = sorted(pools[split], key=lambda c: c.key)
        picked = random.Random(f"{split}:{seed}").sample(pool, min(counts.get(split, 0), len(pool)))
        chosen += [(split, c) for c in sorted(picked, key=lambda c: c.key)]
    return chosen


# --- Decoding a clip --------------------------------------------------------------------------

def sample_frames(path: str | Path, interval: float = DEFAULT_INTERVAL) -> list[tuple[Fraction, Image.Image]]:
    """Decode a clip and keep its first frame and then the first frame at or after every further
    `interval` seconds. Returns [(time in seconds from the first frame, RGB PIL image)].

    Raises ClipError when the clip cannot be opened, has no video, or decodes fewer frames than its
    header declares (a truncated file)."""
    step = Fraction(str(interval))
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as e:
        raise ClipError(f"cannot open ({e.__class__.__name__}: {e})") from None
    with container:
        if not container.streams.video:
            raise ClipError("no video stream")
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1  # the worker processes are the parallelism
        kept, first, decoded, target = [], None, 0, Fraction(0)
        try:
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                first = frame.pts if first is None else first
                t = (frame.pts - first) * stream.time_base
                decoded += 1
                if t >= target:
                    kept.append((t, frame.to_image()))
                    while target <= t:
                        target += step
        except (av.FFmpegError, OSError, ValueError, EOFError) as e:
            raise ClipError(f"decoding failed after {decoded} frames ({e.__class__.__name__}: {e})") from None
        if decoded == 0:
            raise ClipError("no frames decoded")
        if stream.frames and decoded < stream.frames:
            raise ClipError(f"truncated: decoded {decoded} of {stream.frames} frames")
    return kept


def frame_name(utterance: str, t: Fraction) -> str:
    return f"{utterance}_{round(t * 1000):06d}ms.png"


def _write_pngs(images: list[tuple[str, Image.Image]], folder: Path) -> None:
    """Save [(name, image)] into `folder` as PNG under temporary names, then rename them all:
    an interruption leaves only `.*.tmp` files (removed by the next run), never a partial frame.
    A failure to write (disk full, no permission) stops the run: it is not the clip's fault."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, im in images:
            im.save(folder / f".{name}.tmp", format="PNG")
        for name, _ in images:
            os.replace(folder / f".{name}.tmp", folder / name)
    except BaseException as e:
        for name, _ in images:
            (folder / f".{name}.tmp").unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise UserError(f"cannot write frames to {folder} ({e.strerror or e})") from None
        raise


def _compile_clip(job) -> tuple[str, list[list[str]], str | None]:
    """Worker: one clip -> its frames on disk and its manifest rows, or the reason it was skipped."""
    split, clip, interval, out = job
    try:
        frames = sample_frames(clip.path, interval)
    except ClipError as e:
        return str(clip.path), [], str(e)
    rel = Path("frames", split, clip.identity, clip.video)
    named = [(frame_name(clip.utterance, t), im) for t, im in frames]
    _write_pngs(named, Path(out) / rel)
    rows = [[split, clip.identity, clip.video, clip.utterance, f"{float(t):.3f}", (rel / name).as_posix()]
            for (t, _), (name, _) in zip(frames, named)]
    return str(clip.path), rows, None


# --- Image folders (CelebA-style) -------------------------------------------------------------

def read_identity_file(path: str | Path) -> dict[str, str]:
    """image file name -> identity, from a CSV with columns `image,identity` (this project's
    identity.csv) or CelebA's `identity_CelebA.txt` (`000001.jpg 2880` per line)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no such file: {path}")
    text = path.read_text(errors="replace")
    first = text.splitlines()[0] if text.strip() else ""
    if "," in first:
        rows = list(csv.reader(io.StringIO(text)))
        header = [h.strip().lower() for h in rows[0]]
        if "image" in header and "identity" in header:
            i, j = header.index("image"), header.index("identity")
            rows = rows[1:]
        else:
            i, j = 0, 1
        pairs = [(r[i].strip(), r[j].strip()) for r in rows if len(r) > max(i, j)]
    else:
        pairs = [tuple(line.split()[:2]) for line in text.splitlines() if len(line.split()) >= 2]
    if not pairs:
        raise UserError(f"{path} lists no images (expected `image,identity` rows)")
    return dict(pairs)


def parse_ranges(text: str) -> dict[str, tuple[int, int]]:
    """'train=0-159,val=160-169,test=170-199' -> {split: (first, last)} (inclusive, integer ids)."""
    ranges = {}
    try:
        for part in text.split(","):
            split, span = part.split("=")
            lo, hi = span.split("-")
            ranges[split.strip()] = (int(lo), int(hi))
    except ValueError:
        raise UserError(f"bad --ranges {text!r}; expected e.g. train=0-159,val=160-169,test=170-199") from None
    unknown = set(ranges) - set(SPLITS)
    if unknown:
        raise UserError(f"bad --ranges: unknown split {sorted(unknown)[0]!r} (use train, val, test)")
    return ranges


def parse_fractions(text: str) -> tuple[float, float, float]:
    try:
        fractions = tuple(float(x) for x in text.split(","))
    except ValueError:
        fractions = ()
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6:
        raise UserError(f"bad --fractions {text!r}; expected three fractions summing to 1, e.g. 0.8,0.05,0.15")
    return fractions


def _identity_order(identity: str):
    return (0, int(identity), "") if identity.lstrip("-").isdigit() else (1, 0, identity)


def split_image_identities(identities, fractions=DEFAULT_FRACTIONS, ranges=None) -> dict[str, str]:
    """identity -> split. With `ranges` ({split: (first, last)}) by integer identity (others are left
    out); else contiguous blocks of the identities in sorted order: the first `fractions[0]` train,
    the next `fractions[1]` validation, the rest test (each non-empty split gets at least one when
    there are three or more identities). CelebA's 200 here with 0.8,0.05,0.15 give 0-159, 160-169, 170-199."""
    ids = sorted(set(identities), key=_identity_order)
    if ranges:
        out = {}
        for i in ids:
            if not i.lstrip("-").isdigit():
                raise UserError(f"--ranges needs integer identities, got {i!r}")
            for split, (lo, hi) in ranges.items():
                if lo <= int(i) <= hi:
                    out[i] = split
        return out
    n = len(ids)
    n_val, n_test = (round(f * n) for f in fractions[1:])
    if n >= 3:
        n_val = max(n_val, 1 if fractions[1] > 0 else 0)
        n_test = max(n_test, 1 if fractions[2] > 0 else 0)
    n_train = max(0, n - n_val - n_test)
    return {i: ("train" if k < n_train else "val" if k < n_train + n_val else "test")
            for k, i in enumerate(ids)}


def _compile_image(job) -> tuple[str, list[list[str]], str | None]:
    """Worker: one image -> a lossless PNG of its RGB pixels and its manifest row."""
    split, identity, src, out = job
    try:
        im = load_rgb(src)
    except UserError as e:
        return str(src), [], str(e)
    rel = Path("frames", split, identity)
    name = Path(src).stem + ".png"
    _write_pngs([(name, im)], Path(out) / rel)
    return str(src), [[split, identity, "", Path(src).stem, "", (rel / name).as_posix()]], None


# --- The resumable, parallel run --------------------------------------------------------------

@dataclass
class CompileResult:
    """What one run did (`compiled` clips and `frames` written now, `skipped` already done before)
    and the whole dataset's summary."""
    out: Path
    unit: str
    compiled: int
    skipped: int
    frames: int
    seconds: float
    errors: list[tuple[str, str]] = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    @property
    def clips_per_s(self) -> float:
        return self.compiled / self.seconds if self.seconds else 0.0

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


def _prepare_out(out: Path, settings: dict, force: bool) -> None:
    """Resume into OUT when it was compiled with the same settings; start over only with --force;
    never write into a folder that is not a compiled dataset."""
    marker = out / "settings.json"
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} is a file, not a folder")
    if marker.is_file():
        old = json.loads(marker.read_text())
        if old != settings and not force:
            changed = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
            raise UserError(f"{out} holds a dataset compiled with other settings ({', '.join(changed)}); "
                            f"pass --force to replace it")
        if force:
            for name in ("manifest.csv", "summary.json", "errors.csv", "settings.json"):
                (out / name).unlink(missing_ok=True)
            shutil.rmtree(out / "frames", ignore_errors=True)
    elif out.is_dir() and any(out.iterdir()):
        raise UserError(f"{out} is not empty and holds no compiled dataset (settings.json); choose a new folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # a file where a folder should be, no permission
        raise UserError(f"cannot create {out} ({e.strerror or e})") from None
    atomic_write_bytes(marker, (json.dumps(settings, indent=1) + "\n").encode())


def _clean_partial(out: Path) -> None:
    """Remove what an interrupted run left: temporary frames and a half-written last manifest line."""
    for tmp in (out / "frames").rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)
    manifest = out / "manifest.csv"
    if manifest.is_file():
        data = manifest.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(manifest, "r+b") as f:
                f.truncate(data.rfind(b"\n") + 1)


def _csv_text(rows) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def _run(out: Path, jobs: list[tuple[str, tuple]], worker, workers: int, progress: bool,
         unit: str) -> CompileResult:
    """Run `worker` over the (key, job) pairs whose key is not yet in the manifest, appending each
    finished job's rows as one write; then sort the manifest and write the summary."""
    from tqdm.auto import tqdm

    _clean_partial(out)
    done = {clip_key(r["identity"], r["video"], r["utterance"]) for r in read_manifest(out)}
    todo = [job for key, job in jobs if key not in done]
    manifest = out / "manifest.csv"
    result = CompileResult(out, unit, compiled=0, skipped=len(jobs) - len(todo), frames=0, seconds=0.0)
    start = time.perf_counter()
    new = not manifest.is_file() or manifest.stat().st_size == 0
    with open(manifest, "a", newline="") as f, \
            tqdm(total=len(jobs), initial=result.skipped, disable=not progress, unit=unit,
                 desc=f"compiling {out.name}", file=sys.stderr) as bar:
        if new:
            f.write(_csv_text([MANIFEST_FIELDS]))
            f.flush()
        # Workers start from a fork server, not a fork of this process: a fork copies any lock that
        # another thread (FFmpeg's, torch's) held at that moment, and a worker then waited on it forever.
        pool = multiprocessing.get_context("forkserver").Pool(workers, _ignore_sigint) \
            if workers > 1 and len(todo) > 1 else None
        try:
            results = pool.imap_unordered(worker, todo, chunksize=1) if pool else map(worker, todo)
            for source, rows, error in results:
                if error:
                    result.errors.append((source, error))
                    bar.write(f"skipped {source}: {error}", file=sys.stderr)
                else:
                    f.write(_csv_text(rows))
                    f.flush()
                    result.compiled += 1
                    result.frames += len(rows)
                bar.update()
        finally:
            if pool:
                pool.terminate()
                pool.join()
    result.seconds = time.perf_counter() - start
    _finish(out, result)
    return result


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to the main process, which stops them (one message, no tracebacks)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _finish(out: Path, result: CompileResult) -> None:
    """Sort the manifest (split, then path) so that it does not depend on worker timing; write the
    summary and the list of unreadable clips."""
    rows = sorted(read_manifest(out), key=lambda r: (SPLITS.index(r["split"]), r["path"]))
    atomic_write_bytes(out / "manifest.csv",
                       _csv_text([MANIFEST_FIELDS] + [[r[k] for k in MANIFEST_FIELDS] for r in rows]).encode())
    result.summary = summarize(out)
    atomic_write_bytes(out / "summary.json", (json.dumps(result.summary, indent=1) + "\n").encode())
    errors = out / "errors.csv"
    if result.errors:
        atomic_write_bytes(errors, _csv_text([("source", "error")] + result.errors).encode())
    else:
        errors.unlink(missing_ok=True)


def compile_voxceleb2(root: str | Path, out: str | Path, counts: dict[str, int] | None = None,
                      interval: float = DEFAULT_INTERVAL, val_fraction: float = DEFAULT_VAL_FRACTION,
                      seed: int = 0, workers: int = 2, progress: bool = True,
                      force: bool = False) -> CompileResult:
    """Sample frames from a VoxCeleb2 tree into OUT (see the module docstring); resumes a previous
    run with the same settings. `counts`: utterances per split (default the original's 50K/5K/5K)."""
    counts = {**DEFAULT_COUNTS, **(counts or {})}
    if not (math.isfinite(interval) and interval > 0):
        raise UserError(f"--interval must be a finite number of seconds above 0, got {interval}")
    if min(counts.values()) < 0:
        raise UserError(f"utterance counts must be 0 or more, got {counts}")
    if not 0 <= val_fraction < 1:
        raise UserError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    root, out = Path(root), Path(out)
    chosen = choose_clips(find_clips(root), counts, val_fraction, seed)
    settings = {"command": "compile-voxceleb2", "root": str(root.resolve()), "counts": counts,
                "interval": interval, "val_fraction": val_fraction, "seed": seed}
    _prepare_out(out, settings, force)
    jobs = [(clip.key, (split, clip, interval, out)) for split, clip in chosen]
    return _run(out, jobs, _compile_clip, workers, progress, unit="clip")


def compile_images(src: str | Path, out: str | Path, identity_file: str | Path,
                   fractions=DEFAULT_FRACTIONS, ranges: dict | None = None, workers: int = 2,
                   progress: bool = True, force: bool = False) -> CompileResult:
    """Re-encode a folder of face images (CelebA-style) losslessly into OUT, split by the identities
    of `identity_file` (see split_image_identities); images it does not list are left out."""
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise UserError(f"no such folder: {src}")
    identities = read_identity_file(identity_file)
    files = sorted(p for p in src.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.name in identities)
    if not files:
        raise UserError(f"none of the images in {src} is listed in {identity_file}")
    # Split over every identity the file names, so that the split does not depend on which images are present.
    splits = split_image_identities(set(identities.values()), fractions, ranges)
    settings = {"command": "compile-images", "src": str(src.resolve()),
                "identity_file": str(Path(identity_file).resolve()),
                "fractions": list(fractions), "ranges": ranges}
    _prepare_out(out, settings, force)
    jobs = [(clip_key(identities[p.name], "", p.stem), (splits[identities[p.name]], identities[p.name], p, out))
            for p in files if identities[p.name] in splits]
    return _run(out, jobs, _compile_image, workers, progress, unit="image")


# --- Summary ----------------------------------------------------------------------------------

def summarize(out: str | Path) -> dict:
    """Clips, frames and identities per split, clips and frames per identity, and the identities
    found in more than one split (empty, unless something is wrong)."""
    rows = read_manifest(out)
    splits = {s: {"identities": set(), "clips": set(), "frames": 0} for s in SPLITS}
    identities: dict[str, dict] = {}
    for r in rows:
        key = clip_key(r["identity"], r["video"], r["utterance"])
        s = splits[r["split"]]
        s["identities"].add(r["identity"])
        s["clips"].add(key)
        s["frames"] += 1
        ident = identities.setdefault(r["identity"], {"splits": set(), "clips": set(), "frames": 0})
        ident["splits"].add(r["split"])
        ident["clips"].add(key)
        ident["frames"] += 1
    return {
        "splits": {s: {"identities": len(v["identities"]), "clips": len(v["clips"]), "frames": v["frames"]}
                   for s, v in splits.items()},
        "identities": {i: {"split": "+".join(sorted(v["splits"])), "clips": len(v["clips"]), "frames": v["frames"]}
                       for i, v in sorted(identities.items())},
        "shared_identities": sorted(i for i, v in identities.items() if len(v["splits"]) > 1),
    }


def format_summary(summary: dict, max_identities: int = 20) -> str:
    """The summary as two small text tables (per split, then per identity, the largest first)."""
    lines = [f"{'split':<8}{'identities':>11}{'clips':>9}{'frames':>9}"]
    for s, v in summary["splits"].items():
        lines.append(f"{s:<8}{v['identities']:>11}{v['clips']:>9}{v['frames']:>9}")
    ids = sorted(summary["identities"].items(), key=lambda kv: (-kv[1]["frames"], kv[0]))
    lines += ["", f"{'identity':<12}{'split':<7}{'clips':>7}{'frames':>8}"]
    for i, v in ids[:max_identities]:
        lines.append(f"{i:<12}{v['split']:<7}{v['clips']:>7}{v['frames']:>8}")
    if len(ids) > max_identities:
        lines.append(f"... and {len(ids) - max_identities} more identities (summary.json)")
    if summary["shared_identities"]:
        lines.append(f"WARNING: identities in more than one split: {', '.join(summary['shared_identities'])}")
    return "\n".join(lines)


def report(result: CompileResult, workers: int) -> str:
    """What a run did, in a few lines: the summary, the throughput and the skipped clips."""
    lines = [format_summary(result.summary), ""]
    if result.compiled:
        lines.append(f"compiled {result.compiled} {result.unit}s ({result.frames} frames) in {result.seconds:.1f} s: "
                     f"{result.clips_per_s:.1f} {result.unit}s/s, {result.frames_per_s:.1f} frames/s, "
                     f"{workers} workers")
    if result.skipped:
        lines.append(f"{result.skipped} {result.unit}s were already compiled (resumed)")
    if result.errors:
        lines.append(f"{len(result.errors)} unreadable {result.unit}s skipped, listed in {result.out / 'errors.csv'}")
    lines.append(f"manifest: {result.out / 'manifest.csv'}")
    return "\n".join(lines)


def frames_figure(out: str | Path, per_split: int = 8, seed: int = 0):
    """A matplotlib figure of `per_split` frames from each split of a compiled dataset (one row per
    split), drawn at random but taking the identities in turn, each titled with identity and time."""
    import matplotlib.pyplot as plt

    out = Path(out)
    rows = read_manifest(out)
    splits = [s for s in SPLITS if any(r["split"] == s for r in rows)]
    fig, axes = plt.subplots(len(splits), per_split, figsize=(1.5 * per_split, 1.8 * len(splits)), squeeze=False)
    rng = random.Random(seed)
    for ax_row, split in zip(axes, splits):
        by_identity: dict[str, list[dict]] = {}
        for r in rows:
            if r["split"] == split:
                by_identity.setdefault(r["identity"], []).append(r)
        for frames in by_identity.values():
            rng.shuffle(frames)
        queues = [by_identity[i] for i in sorted(by_identity)]
        picked = [q.pop() for _ in range(per_split) for q in queues if q][:per_split]
        for k, ax in enumerate(ax_row):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_frame_on(False)
            if k < len(picked):
                r = picked[k]
                with Image.open(out / r["path"]) as im:
                    ax.imshow(im.copy())
                when = f" {float(r['time_s']):g} s" if r["time_s"] else ""
                ax.set_title(f"{r['identity']}{when}", fontsize=7)
        ax_row[0].set_ylabel(split, fontsize=10)
    fig.tight_layout()
    return fig


# --- Command line -----------------------------------------------------------------------------

def _common_options(p) -> None:
    p.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--force", action="store_true",
                   help="start over when OUT holds a compile (finished or not); without it a re-run "
                        "with the same settings resumes and one with other settings is refused")


def register(sub) -> None:
    p = add_command(sub, "compile-voxceleb2",
                       description="Sample the first frame and one more every --interval seconds of "
                                   "randomly chosen VoxCeleb2 utterances into lossless PNGs and a "
                                   "manifest.csv, identity-disjoint train/val (from dev) and test (from test). "
                                   "Resumable: re-run the same command after an interruption.")
    p.add_argument("root", help="VoxCeleb2 folder with {dev,test}/[mp4/]<identity>/<video>/<utterance>.mp4")
    p.add_argument("out", help="output folder (created; resumed if it holds the same compile)")
    for split in SPLITS:
        p.add_argument(f"--{split}", type=int, default=DEFAULT_COUNTS[split], metavar="N",
                       help=f"{split} utterances to sample (default {DEFAULT_COUNTS[split]}, or all there are)")
    p.add_argument("--interval", type=float, default=DEFAULT_INTERVAL,
                   help="seconds between kept frames after the first (default 10)")
    p.add_argument("--val-fraction", type=float, default=DEFAULT_VAL_FRACTION,
                   help="fraction of dev identities held out for validation (default 0.05, at least one)")
    p.add_argument("--seed", type=int, default=0, help="seed of the identity and utterance choice")
    _common_options(p)
    p.set_defaults(func=run_voxceleb2)

    p = add_command(sub, "compile-images",
                       description="Re-encode the images of SRC listed in --identity-file losslessly to "
                                   "PNG under OUT with a manifest.csv, split by identity.")
    p.add_argument("src", help="folder of images (e.g. img_align_celeba)")
    p.add_argument("out", help="output folder (created; resumed if it holds the same compile)")
    p.add_argument("--identity-file", required=True,
                   help="CSV `image,identity` (or CelebA's identity_CelebA.txt) naming each image's person")
    p.add_argument("--fractions", default=",".join(str(f) for f in DEFAULT_FRACTIONS),
                   help="train,val,test fractions of the identities in sorted order (default 0.8,0.05,0.15)")
    p.add_argument("--ranges",
                   help="explicit integer identity ranges instead, e.g. train=0-159,val=160-169,test=170-199")
    _common_options(p)
    p.set_defaults(func=run_images)


def _check_workers(workers: int) -> None:
    if workers < 1:
        raise UserError(f"--workers must be at least 1, got {workers}")


def _finish_cli(result: CompileResult, workers: int) -> int:
    print(report(result, workers))
    if not sum(v["frames"] for v in result.summary["splits"].values()):
        raise UserError(f"no frames compiled: every input was unreadable (see {result.out / 'errors.csv'})")
    return 0


def run_voxceleb2(args) -> int:
    _check_workers(args.workers)
    counts = {s: getattr(args, s) for s in SPLITS}
    result = compile_voxceleb2(args.root, args.out, counts, args.interval, args.val_fraction, args.seed,
                               args.workers, not args.no_progress, args.force)
    return _finish_cli(result, args.workers)


def run_images(args) -> int:
    _check_workers(args.workers)
    ranges = parse_ranges(args.ranges) if args.ranges else None
    result = compile_images(args.src, args.out, args.identity_file, parse_fractions(args.fractions), ranges,
                            args.workers, not args.no_progress, args.force)
    return _finish_cli(result, args.workers)
