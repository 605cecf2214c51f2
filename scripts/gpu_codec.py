"""Train face-codec candidates on one GPU in a fixed time, from a small data copy that travels there.

The GPU machine gets only the working tree (64 MiB in all), not ../shared/data, so the data travels
as a small copy, made here first, in the layout `aeutils` reads ($AEUTILS_DATA, $AEUTILS_VOXCELEB2_DENSE):

    .venv/bin/python scripts/gpu_codec.py --prepare                  # writes data/gpu-codec/ (git-ignored)
    .venv/bin/python scripts/device_tree.py aside --keep weights/face-codec.pt   # the tree fits beside it
    python3 scripts/gpu_codec.py --minutes 8 --out "$OUT"             # there: carry data/gpu-codec
    .venv/bin/python scripts/device_tree.py back

The copy: CelebA training identities (the first --per-identity images of each), all validation
identities' images (CelebA 160-169), lfw-val (validation only: the trainer validates on its
even-numbered images and never trains on it), and every --vox-every-th VoxCeleb2 dev frame of
`data/voxceleb2-dense` (one a second from every clip) plus the validation identity's frames, saved as
JPEG quality 95 to fit. No test image travels. The run trains the candidates of CANDIDATES side by
side on the one GPU (`aeutils train codec --device cuda --photos`: photo-like crops, checkpoints
chosen on the three validation sources), each for the same wall-clock time, and writes to --out,
per candidate: NAME.pt (best.pt exported as a shipped codec file, float16 with its coding tables),
NAME.json (the run's summary) and NAME.log (what the trainer printed).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SUBSET = REPO / "data" / "gpu-codec"
# name: extra `aeutils train codec` options. `continue` resumes the shipped model (its checkerboard
# context too) on photo-like crops, on the mean log cost (on the CPU at Adam 2e-5 it gained where the
# plain cost had not; 5e-5 lost; docs/codecs.md); `decoder` trains its decoder side alone (every file keeps its bits);
# `wide` is a wider transform and latent (the shipped one's quality ceiling) trained from scratch.
CANDIDATES = {
    "continue": ["--init", "face-codec", "--log-cost", "--lr", "3e-5"],
    "decoder": ["--init", "face-codec", "--only-decoder", "--lr", "5e-5"],
    "wide": ["--width", "96", "--latent", "192", "--res-blocks", "--lr", "2e-4"],
}
COMMON = ["--photos", "--crop", "192", "--batch-size", "16", "--val-every", "1000",
          "--no-progress"]


def prepare(out: Path, per_identity: int, vox_every: int) -> dict:
    """Write the data copy to `out`; returns its counts and size."""
    from PIL import Image

    from aeutils import config
    from aeutils.datasets import photos, sources

    if out.exists():
        shutil.rmtree(out)
    celeba = out / "celeba" / "img_align_celeba"
    celeba.mkdir(parents=True)
    with open(config.celeba_dir() / "identity.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    kept, seen = [], {}
    for r in sorted(rows, key=lambda r: r["image"]):
        ident = int(r["identity"])
        if ident in sources.CELEBA_SPLITS["train"] and seen.get(ident, 0) < per_identity \
                or ident in sources.CELEBA_SPLITS["val"]:
            seen[ident] = seen.get(ident, 0) + 1
            kept.append(r)
            shutil.copy(config.celeba_dir() / "img_align_celeba" / r["image"], celeba / r["image"])
    with open(out / "celeba" / "identity.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(kept)
    shutil.copytree(photos.lfw_dir(), out / "lfw-val")
    dense = out / "voxceleb2-dense"
    frames = [r for r in sources.read_manifest(photos.VOXCELEB2_DENSE) if r["split"] in ("train", "val")]
    if not frames:
        raise SystemExit(f"no frames in {photos.VOXCELEB2_DENSE}: run aeutils compile-voxceleb2 "
                         "../shared/data/voxceleb2 data/voxceleb2-dense --interval 1 first")
    chosen = [r for i, r in enumerate(frames) if r["split"] == "val" or i % vox_every == 0]
    for r in chosen:
        path = Path(r["path"]).with_suffix(".jpg")
        (dense / path).parent.mkdir(parents=True, exist_ok=True)
        Image.open(photos.VOXCELEB2_DENSE / r["path"]).convert("RGB").save(dense / path, quality=95)
        r["path"] = str(path)
    with open(dense / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=sources.MANIFEST_FIELDS)
        w.writeheader()
        w.writerows(chosen)
    mib = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
    note = {"celeba": len(kept), "lfw": len(list((out / "lfw-val").iterdir())),
            "voxceleb2": {s: sum(r["split"] == s for r in chosen) for s in ("train", "val")}, "mib": round(mib, 1)}
    (out / "subset.json").write_text(json.dumps(note, indent=1))
    return note


def run(out: Path, minutes: float, subset: Path, names: list[str], device: str, profile: str = "cpu") -> None:
    """Train the candidates side by side, then export each one's best checkpoint into `out`."""
    from aeutils.codec.train import export_checkpoint

    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, AEUTILS_DATA=str(subset), AEUTILS_VOXCELEB2_DENSE=str(subset / "voxceleb2-dense"),
               PYTHONUNBUFFERED="1")
    workers = max((os.cpu_count() or 2) // len(names) - 1, 1)
    # fresh run folders: a run folder left by an earlier call would be resumed, or its best.pt exported
    with tempfile.TemporaryDirectory(prefix="gpu-codec-runs-") as tmp:
        runs = Path(tmp)
        procs = {}
        for name in names:
            cmd = [sys.executable, "-m", "aeutils", "train", "codec", "--profile", profile, *COMMON, "--device",
                   device, "--workers", str(workers), "--minutes", str(minutes), "--run-dir", str(runs / name),
                   *CANDIDATES[name]]
            procs[name] = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=open(out / f"{name}.log", "w"),
                                           stderr=subprocess.STDOUT)
        start = time.time()
        for name, proc in procs.items():
            proc.wait()
            print(f"{name}: exit {proc.returncode} after {time.time() - start:.0f} s", flush=True)
            best = runs / name / "best.pt"
            if not best.exists():
                continue
            export_checkpoint(best, out / f"{name}.pt")
            shutil.copy(runs / name / "summary.json", out / f"{name}.json")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--prepare", action="store_true", help="write the data copy (needs ../shared/data) and stop")
    p.add_argument("--subset", type=Path, default=SUBSET, help=f"the data copy (default {SUBSET.relative_to(REPO)})")
    p.add_argument("--per-identity", type=int, default=25, help="--prepare: CelebA training images per identity")
    p.add_argument("--vox-every", type=int, default=2, help="--prepare: keep every k-th VoxCeleb2 dev frame")
    p.add_argument("--minutes", type=float, default=8.0, help="training time of each candidate")
    p.add_argument("--candidates", default=",".join(CANDIDATES), help=f"of {','.join(CANDIDATES)}")
    p.add_argument("--device", default="cuda", help="cuda (default), or cpu for a rehearsal")
    p.add_argument("--profile", default="cpu", help="cpu (default), or smoke for a rehearsal on fixture faces")
    p.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or REPO / "gpu-run"))
    args = p.parse_args(argv)
    if args.prepare:
        print(json.dumps(prepare(args.subset, args.per_identity, args.vox_every)))
        return 0
    run(args.out, args.minutes, args.subset, args.candidates.split(","), args.device, args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
