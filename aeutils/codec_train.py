"""Train the variable-rate face codec (`aeutils train codec`): rate + lambda * distortion.

Each image of a batch gets a random quality level, so one model learns every rate point. It trains on
whole CelebA training faces (crop 0, the cpu profile) or on square crops of them and, where `aeutils
compile-voxceleb2` has been run, of the VoxCeleb2 training-identity frames. Either way an image is
padded to the stride as the coder pads it. Small crops mislead the hyperprior: on a 64x64 crop its
latent is one 1x1 vector, and a model trained so spends several times too much on it for a whole face.
The checkpoint is chosen on whole CelebA validation faces by the mean rate-distortion cost over levels.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch.utils.data import ConcatDataset, DataLoader

from aeutils import config, data, zoo
from aeutils.errors import UserError
from aeutils.images import pad_to_multiple, to_uint8
from aeutils.metrics import psnr
from aeutils.models.hyperprior import DEFAULT_LAMBDAS, MeanScaleHyperprior, rate_distortion_loss
from aeutils.train import LoopConfig, fit

# hparams per profile (crop 0: whole faces); `paper` follows Balle et al. / Minnen et al. (N=192
# would be their size for high rates; 128 keeps the model small enough to run on a CPU)
PROFILES = {
    "smoke": dict(N=8, M=16, crop=64, batch_size=2, lr=3e-4, steps=3, val_images=2, val_every=3),
    "cpu": dict(N=64, M=128, crop=0, batch_size=2, lr=3e-4, steps=200_000, val_images=24, val_every=1000),
    "paper": dict(N=128, M=192, crop=256, batch_size=16, lr=1e-4, steps=1_000_000, val_images=100,
                  val_every=5000),
}


@torch.no_grad()
def evaluate_levels(model: MeanScaleHyperprior, images, lambdas=DEFAULT_LAMBDAS) -> dict:
    """Per-level PSNR (8-bit, clamped) and rate estimated from the likelihoods, on whole images
    padded to the model's stride (rate counted over the original pixels). Also the mean RD cost."""
    out = {}
    costs = []
    for level, lam in enumerate(lambdas):
        ps, bpps, mses = [], [], []
        for x in images:
            h, w = x.shape[-2:]
            xp = pad_to_multiple(x, model.stride)[None]
            res = model(xp, torch.tensor([level]))
            bits = sum(-torch.log2(l).sum() for l in res["likelihoods"].values())
            rec, ref = to_uint8(res["x_hat"][0, :, :h, :w]), to_uint8(x)
            ps.append(psnr(ref, rec))
            bpps.append(float(bits) / (h * w))
            mses.append(float((((rec.astype(float) - ref.astype(float)) / 255) ** 2).mean()))
        out[f"psnr_q{level}"] = sum(ps) / len(ps)
        out[f"bpp_q{level}"] = sum(bpps) / len(bpps)
        costs.append(out[f"bpp_q{level}"] + lam * 255**2 * sum(mses) / len(mses))
    out["rd_cost"] = sum(costs) / len(costs)
    return out


def build_model(hp: dict) -> MeanScaleHyperprior:
    return MeanScaleHyperprior(N=hp["N"], M=hp["M"], levels=len(DEFAULT_LAMBDAS))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="aeutils train codec", description=__doc__)
    p.add_argument("--profile", default=None)
    p.add_argument("--run-dir", default=None, help="default: runs/codec-<profile>")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--minutes", type=float, default=None, help="wall-clock budget of this session")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--crop", type=int, default=None, help="training crop side, a multiple of 64; 0 trains on "
                   "whole CelebA faces padded as the coder pads them (no video frames: their size differs)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--init", default=None, help="start from a shipped codec (name or .pt), e.g. face-codec, "
                   "to continue its training in a new session (ignored when the run folder has last.pt); "
                   "one with fewer quality levels gets the missing lowest ones extrapolated")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    profile = config.get_profile(args.profile)
    hp = dict(PROFILES[profile])
    if args.steps:
        hp["steps"] = args.steps
    for key in ("lr", "crop", "batch_size"):
        if getattr(args, key) is not None:
            hp[key] = getattr(args, key)
    if hp["crop"] % MeanScaleHyperprior.stride:
        raise UserError(f"--crop must be a multiple of {MeanScaleHyperprior.stride}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    run_dir = args.run_dir or config.RUNS_DIR / f"codec-{profile}"

    train = data.face_split("train", profile, crop=hp["crop"] or None)
    if hp["crop"] and profile != "smoke" and data.read_manifest(data.VOXCELEB2_FRAMES, "train"):
        # video frames are few (274 here): seen 4 times per epoch so they are about a fifth of the crops
        train = ConcatDataset([train] + [data.VoxCeleb2Frames("train", crop=hp["crop"])] * 4)
    val = data.face_split("val", profile, limit=hp["val_images"])
    val_images = [val[i] for i in range(len(val))]
    loader = DataLoader(train, batch_size=hp["batch_size"], shuffle=True, drop_last=True)
    lambdas = torch.tensor(DEFAULT_LAMBDAS)
    model = build_model(hp)
    if args.init and not (Path(run_dir) / "last.pt").exists():
        model.load_with_levels(zoo.load_shipped(args.init, task="codec")["state_dict"])
        hp["init"] = args.init

    def step(model, x):
        """Padded as the coder pads: distortion on the image only, its bits over the image's pixels."""
        q = torch.randint(0, len(DEFAULT_LAMBDAS), (x.shape[0],))
        h, w = x.shape[-2:]
        out = model(pad_to_multiple(x, model.stride), q)
        out["x_hat"] = out["x_hat"][..., :h, :w]
        return rate_distortion_loss(out, x, lambdas[q])

    cfg = LoopConfig(max_steps=hp["steps"], lr=hp["lr"], val_every=hp["val_every"],
                     image_every=hp["val_every"], ckpt_every=200, max_minutes=args.minutes,
                     select_key="rd_cost", select_mode="min", progress=not args.no_progress,
                     hparams=dict(hp, profile=profile, lambdas=list(DEFAULT_LAMBDAS)))

    def images(model):
        x = torch.stack([pad_to_multiple(v, 64)[:, :192, :128] for v in val_images[:4]])
        outs = [model(x, torch.full((x.shape[0],), q))["x_hat"].clamp(0, 1) for q in (0, 4, 9)]
        return {"val/original_q1_q5_q10": torch.cat([x, *outs])}

    summary = fit(model, step, loader, lambda m: evaluate_levels(m, val_images), run_dir, cfg,
                  images=images)
    print(json.dumps(summary["best"], indent=1))
    return 0
