"""Train the variable-rate face codec (`aeutils train codec`): rate + lambda * distortion.

Each image of a batch gets a random quality level, so one model learns every rate point. It trains on
whole images (crop 0, the cpu profile): CelebA training faces (178x218) and, where `aeutils
compile-voxceleb2` has been run, the VoxCeleb2 training-identity frames (224x224), each batch from one
source; or on square crops of both. Either way an image is padded to the stride as the coder pads it.
Small crops mislead the hyperprior: on a 64x64 crop its latent is one 1x1 vector, and a model trained
so spends several times too much on it for a whole face. The checkpoint is chosen on whole validation
images (CelebA identities 160-169, plus the first frames of the VoxCeleb2 validation identity's clips
where compiled) by the mean rate-distortion cost over levels.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch
from torch.utils.data import ConcatDataset, DataLoader

from aeutils import config, zoo
from aeutils.codec.coder import FaceCodec
from aeutils.datasets import sources
from aeutils.errors import UserError
from aeutils.images import pad_to_multiple, to_uint8
from aeutils.metrics import psnr
from aeutils.models.hyperprior import DEFAULT_LAMBDAS, MeanScaleHyperprior, rate_distortion_loss
from aeutils.options import OneLineParser, add_training_options, positive_float, positive_int
from aeutils.task import Task
from aeutils.train import LoopConfig, fit, seed_all


@dataclass(frozen=True)
class CodecHparams:
    """The settings of one profile; `paper` follows Balle et al. / Minnen et al. (N=192 would be
    their size for high rates; 128 keeps the model small enough to run on a CPU)."""

    N: int
    M: int
    crop: int  # training crop side, a multiple of the stride; 0: whole faces
    batch_size: int
    lr: float
    steps: int
    val_images: int
    val_every: int
    val_frames: int  # first frames of the VoxCeleb2 validation identity's clips added to validation
    res_blocks: bool = False

    @classmethod
    def from_record(cls, record: dict) -> "CodecHparams":
        """The settings a run recorded with its checkpoints (which also hold other keys)."""
        return cls(**{f.name: record[f.name] for f in fields(cls) if f.name in record})


PROFILES = {
    "smoke": CodecHparams(N=8, M=16, crop=64, batch_size=2, lr=3e-4, steps=3, val_images=2, val_every=3,
                          val_frames=0),
    "cpu": CodecHparams(N=64, M=128, res_blocks=True, crop=0, batch_size=2, lr=3e-4, steps=200_000,
                        val_images=24, val_every=1000, val_frames=12),
    "paper": CodecHparams(N=128, M=192, crop=256, batch_size=16, lr=1e-4, steps=1_000_000, val_images=100,
                          val_every=5000, val_frames=49),
}


def hparams(profile: str | None = None) -> CodecHparams:
    """The settings of `profile` (None: $AEUTILS_PROFILE, else cpu)."""
    return PROFILES[config.get_profile(profile)]


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
    out["psnr_unquantised"] = transform_ceiling(model, images)
    return out


@torch.no_grad()
def transform_ceiling(model: MeanScaleHyperprior, images) -> float:
    """Mean PSNR of the transforms alone (top level's gains, no rounding): the quality no rate can
    buy past. When the top level comes close to it, more bits cannot help; bigger transforms can."""
    top = torch.tensor([model.levels - 1])
    gain = (model.log_gain[top] + model.log_inv_gain[top]).exp()[:, :, None, None]
    ps = []
    for x in images:
        h, w = x.shape[-2:]
        y = model.g_a(pad_to_multiple(x, model.stride)[None])
        ps.append(psnr(to_uint8(x), to_uint8(model.g_s(y * gain)[0, :, :h, :w])))
    return sum(ps) / len(ps)


def build_model(hp: CodecHparams) -> MeanScaleHyperprior:
    return MeanScaleHyperprior(N=hp.N, M=hp.M, levels=len(DEFAULT_LAMBDAS), res_blocks=hp.res_blocks)


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(prog="aeutils train codec", description=__doc__)
    add_training_options(p, run_dir="runs/codec-<profile>")
    p.add_argument("--lr", type=positive_float, default=None)
    p.add_argument("--crop", type=int, default=None, help="training crop side, a multiple of 64; 0 trains on "
                   "whole CelebA faces padded as the coder pads them (no video frames: their size differs)")
    p.add_argument("--batch-size", type=positive_int, default=None)
    p.add_argument("--init", default=None, help="start from a shipped codec (name or .pt), e.g. face-codec, "
                   "to continue its training in a new session (ignored when the run folder has last.pt); "
                   "one with fewer quality levels or without residual blocks is grown (load_grown)")
    p.add_argument("--res-blocks", action="store_true", help="add residual blocks to both transforms (the cpu "
                   "profile has them; an --init model without them grows them, starting as it was)")
    args = p.parse_args(argv)
    profile = config.get_profile(args.profile)
    asked = {"steps": args.steps, "lr": args.lr, "crop": args.crop, "batch_size": args.batch_size,
             "res_blocks": args.res_blocks or None}
    hp = replace(hparams(profile), **{k: v for k, v in asked.items() if v is not None})
    if hp.crop < 0 or hp.crop % MeanScaleHyperprior.stride:
        raise UserError(f"--crop must be 0 or a positive multiple of {MeanScaleHyperprior.stride}")
    torch.set_num_threads(args.threads)
    seed_all(0)
    run_dir = args.run_dir or config.RUNS_DIR / f"codec-{profile}"

    faces = sources.face_split("train", profile, crop=hp.crop or None)
    groups = [range(len(faces))]
    train = faces
    val = sources.face_split("val", profile, limit=hp.val_images)
    val_images = [val[i] for i in range(len(val))]
    if profile != "smoke" and sources.read_manifest(sources.VOXCELEB2_FRAMES, "train"):
        # video frames are few (274 here): seen 4 times per epoch, about a fifth of what it trains on;
        # batches stay within a source, whose sizes differ (a crop is at most the image's short side)
        frames = sources.VoxCeleb2Frames("train", crop=hp.crop or None)
        train = ConcatDataset([faces] + [frames] * 4)
        groups = [range(len(faces)), range(len(faces), len(train))]
        val_frames = sources.VoxCeleb2Frames("val")
        firsts = [i for i, r in enumerate(val_frames.rows) if float(r["time_s"]) == 0.0][:hp.val_frames]
        val_images += [val_frames[i] for i in firsts]
    loader = DataLoader(train, batch_sampler=sources.GroupedBatches(groups, hp.batch_size))
    lambdas = torch.tensor(DEFAULT_LAMBDAS)
    model = build_model(hp)
    record = dict(asdict(hp), profile=profile, lambdas=list(DEFAULT_LAMBDAS))
    if args.init and not (Path(run_dir) / "last.pt").exists():
        model.load_grown(zoo.load_shipped(args.init, task="codec")["state_dict"])
        record["init"] = args.init

    def step(model, x):
        """Padded as the coder pads: distortion on the image only, its bits over the image's pixels."""
        q = torch.randint(0, len(DEFAULT_LAMBDAS), (x.shape[0],))
        h, w = x.shape[-2:]
        out = model(pad_to_multiple(x, model.stride), q)
        out["x_hat"] = out["x_hat"][..., :h, :w]
        return rate_distortion_loss(out, x, lambdas[q])

    cfg = LoopConfig(max_steps=hp.steps, lr=hp.lr, val_every=hp.val_every, image_every=hp.val_every,
                     ckpt_every=200, max_minutes=args.minutes,
                     select_key="rd_cost", select_mode="min", progress=not args.no_progress,
                     hparams=record)

    def images(model):
        x = torch.stack([pad_to_multiple(v, 64)[:, :192, :128] for v in val_images[:4]])
        outs = [model(x, torch.full((x.shape[0],), q))["x_hat"].clamp(0, 1) for q in (0, 4, 9)]
        return {"val/original_q1_q5_q10": torch.cat([x, *outs])}

    summary = fit(model, step, loader, lambda m: evaluate_levels(m, val_images), run_dir, cfg,
                  images=images)
    print(json.dumps(summary["best"], indent=1))
    return 0


# A shipped codec loads as the `FaceCodec` that writes and reads its files; its model card is written by hand.
TASK = Task("codec", main=main, load=FaceCodec)
