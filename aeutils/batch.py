"""One file or a whole folder through `aeutils compress|decompress|repair|colorize|upscale`.

    aeutils CMD IN OUT               one file, as always: an error stops it (one line, exit status 2)
    aeutils CMD IN... --out DIR      files, folders and quoted globs: DIR/<stem><ext> for each input

A batch (Real-ESRGAN's `-i folder -o folder`) loads the model once and shows one progress bar. An
output that exists is skipped, so a stopped batch resumes where it was (--force redoes it); a file that
fails is reported on one line and the batch goes on; a last line counts what was done, skipped and
failed. Exit status 0 when every input is done or skipped, 2 when any failed.

Each command gives `run` the function coding one file, `process(src, dst)`, which may return the line
a single file prints, and its cached model loader, `load`: a batch calls it before the first file (so a
bad --model is one error, not one per file), a single file after reading its input, as it always did.
"""
from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path
from typing import Callable

from PIL import Image
from tqdm.auto import tqdm

from aeutils.errors import UserError
from aeutils.images import check_output, image_format
from aeutils.options import add_command

IMAGE_SUFFIXES = frozenset(Image.registered_extensions())  # what a folder or glob contributes
Process = Callable[[Path, Path], "str | None"]


def add_parser(sub, name: str, ext: str, description: str) -> argparse.ArgumentParser:
    """A command's parser with the arguments every command shares; `ext`: its outputs' extension."""
    usage = f"aeutils {name} INPUT OUTPUT [options]\n       aeutils {name} INPUT... --out DIR [options]"
    p = add_command(sub, name, description=f"{description} Several inputs: see `--out`.", usage=usage)
    p.add_argument("paths", nargs="+", metavar="PATH", help="INPUT OUTPUT for one file; with --out, the inputs: "
                   "files, folders, quoted globs ('faces/*.jpg')")
    p.add_argument("-o", "--out", default=None, metavar="DIR", help="output folder of a batch (created if missing): "
                   "DIR/<stem><ext> per input; outputs that exist are skipped (resume) unless --force; exit "
                   "status 2 if any failed")
    p.add_argument("--ext", default=ext, help=f"extension of a batch's outputs (default {ext})")
    p.add_argument("--force", action="store_true", help="overwrite outputs that exist")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def expand(paths: list[str], suffixes: frozenset[str]) -> tuple[list[Path], list[str]]:
    """The input files named by `paths` (a folder gives its files with `suffixes`, a glob the files it
    matches with them, a file itself), in order and once each; and a failure line for each folder or
    glob that gives none."""
    files, failures = {}, []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = sorted(f for f in path.iterdir() if f.suffix.lower() in suffixes and f.is_file()
                           and not f.name.startswith("."))
        elif not path.exists() and any(c in p for c in "*?["):
            found = sorted(Path(f) for f in glob.glob(p) if Path(f).suffix.lower() in suffixes and Path(f).is_file())
        else:
            found = [path]  # a missing or unreadable file fails on its own line
        if not found:
            failures.append(f"{p}: no input files found")
        files.update((f, None) for f in found)
    return list(files), failures


def tile_progress(args) -> bool:
    """Whether a command may show a progress bar over one image's tiles: not in a batch, which has one."""
    return args.out is None and not args.no_progress


def run(args, process: Process, load: Callable[[], object] | None = None,
        suffixes: frozenset[str] = IMAGE_SUFFIXES, image: bool = True) -> int:
    """Run the command on one file (`args.paths` = INPUT OUTPUT) or on a batch (`args.out`); each
    output is checked before its work (see images.check_output; `image`: the outputs are images, so
    their extension must name a format Pillow writes). `process` writes exclusively unless --force."""
    if args.out is None:
        if len(args.paths) != 2:
            raise UserError("give INPUT OUTPUT for one file, or --out DIR for several inputs")
        src, dst = map(Path, args.paths)
        if src.is_dir():
            raise UserError(f"{src} is a folder: give --out DIR to write one output per image in it")
        line = process(src, check_output(dst, args.force, image=image))
        if line:
            print(line)
        return 0
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is not a folder")
    ext = args.ext if args.ext.startswith(".") else f".{args.ext}"
    if image:
        image_format(f"out{ext}")
    inputs, failures = expand(args.paths, suffixes)
    todo, skipped, owner = [], 0, {}
    for src in inputs:
        dst = out / f"{src.stem}{ext}"
        if dst in owner:
            failures.append(f"{src}: same output {dst} as {owner[dst]}")
        elif dst.exists() and dst.resolve() == src.resolve():
            failures.append(f"{src}: the output would overwrite the input")
        elif dst.exists() and not args.force:
            skipped += 1
        else:
            todo.append((src, dst))
        owner.setdefault(dst, src)
    for line in failures:
        print(f"aeutils {args.command}: failed: {line}", file=sys.stderr)
    done = 0
    if todo:
        if load is not None:
            load()
        out.mkdir(parents=True, exist_ok=True)
        for src, dst in tqdm(todo, desc=args.command, unit="file", disable=args.no_progress):
            try:
                process(src, check_output(dst, True))
                done += 1
            except Exception as e:  # one file's failure, whatever it is, must not stop the others
                message = str(e) if isinstance(e, UserError) else f"{e.__class__.__name__}: {e}"
                failures.append(message)
                tqdm.write(f"aeutils {args.command}: failed: {src}: {' '.join(message.split())}", file=sys.stderr)
    print(f"aeutils {args.command}: {done} done, {skipped} skipped (output exists), {len(failures)} failed -> {out}")
    return 2 if failures else 0
