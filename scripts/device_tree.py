"""Move what a GPU run does not read out of the working tree and back, and size what would travel.

A lent GPU machine gets a copy of the working tree (tracked files, and untracked ones git does not
ignore) plus the paths a call carries, 64 MiB in all. The tracked tree alone is about 60 MB (rendered
notebooks, figures, every model's weights), so before a GPU call the notebooks, figures and the
weights the run does not read go to the git-ignored `.device-aside/`, and come back after it:

    .venv/bin/python scripts/device_tree.py aside --keep weights/face-codec.pt
    .venv/bin/python scripts/device_tree.py size --carry data/gpu-codec .whl   # exit 1 if over 64 MiB
    ...                                                                        # the GPU call
    .venv/bin/python scripts/device_tree.py back

Nothing is lost: `aside` refuses while an earlier aside is still there, and `back` never overwrites a
file that has reappeared in the tree (it names it, and keeps the copy aside).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ASIDE = ".device-aside"
MOVABLE = ("notebooks", "resources", "weights")  # what no GPU run reads, but for the weights it keeps
LIMIT_MIB = 64


def tree_files(repo: Path) -> list[Path]:
    """The files that travel with the working tree: tracked and present, or untracked and not ignored."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=repo,
                         capture_output=True, check=True).stdout
    return sorted({repo / name for name in out.decode().split("\0") if name and (repo / name).is_file()})


def travelling_bytes(repo: Path, carry: list[str]) -> int:
    """Bytes of the working tree plus the carried paths (files or folders)."""
    files = set(tree_files(repo))
    for path in carry:
        p = repo / path
        files |= {p} if p.is_file() else {f for f in p.rglob("*") if f.is_file()}
    return sum(f.stat().st_size for f in files)


def aside(repo: Path, keep: list[str]) -> list[Path]:
    """Move the tracked files under MOVABLE, but those in `keep`, into ASIDE; returns them."""
    store = repo / ASIDE
    if store.exists() and any(store.iterdir()):
        sys.exit(f"{store} is not empty: run `back` first")
    kept = {(repo / k).resolve() for k in keep}
    moved = []
    for f in tree_files(repo):
        rel = f.relative_to(repo)
        if rel.parts[0] in MOVABLE and f.resolve() not in kept:
            (store / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(f, store / rel)
            moved.append(rel)
    return moved


def back(repo: Path) -> list[Path]:
    """Move everything in ASIDE back to its place; returns the files left aside because their place is taken."""
    store = repo / ASIDE
    clashes = []
    for f in sorted(p for p in store.rglob("*") if p.is_file()) if store.exists() else []:
        rel = f.relative_to(store)
        if (repo / rel).exists():
            clashes.append(rel)
            continue
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(f, repo / rel)
    folders = sorted((p for p in store.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)) if store.exists() else []
    for d in folders:
        if not any(d.iterdir()):
            d.rmdir()
    if store.exists() and not any(store.iterdir()):
        store.rmdir()
    return clashes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("action", choices=["aside", "back", "size"])
    p.add_argument("--keep", nargs="*", default=[],
                   help="aside: tracked files to leave in place (the weights the run reads)")
    p.add_argument("--carry", nargs="*", default=[], help="size: the paths the call will carry")
    p.add_argument("--repo", type=Path, default=REPO)
    args = p.parse_args(argv)
    if args.action == "aside":
        moved = aside(args.repo, args.keep)
        print(f"moved {len(moved)} files to {ASIDE}/")
    elif args.action == "back":
        clashes = back(args.repo)
        if clashes:
            print(f"left in {ASIDE}/, their place is taken: {', '.join(map(str, clashes))}", file=sys.stderr)
            return 1
        print("moved back")
    else:
        mib = travelling_bytes(args.repo, args.carry) / 2**20
        print(f"{mib:.1f} MiB would travel (limit {LIMIT_MIB})")
        return int(mib > LIMIT_MIB)
    return 0


if __name__ == "__main__":
    sys.exit(main())
