"""Train the variable-rate face codec (`aeutils train codec`): rate + lambda * distortion.

Each image of a batch gets a random quality level, so one model learns every rate point. It trains on
whole images (crop 0, the cpu profile): CelebA training faces (178x218) and, where `aeutils
compile-voxceleb2` has been run, the VoxCeleb2 training-identity frames (224x224), each batch from one
source; or on square crops of both; or (`--photos`) on photo-like crops (`photos.PhotoCrops`: rescaled,
cut anywhere, jittered, often JPEG-sourced) of CelebA training faces and VoxCeleb2 frames sampled
throughout every dev clip. Whole images are padded to the stride as the coder pads them. Small crops
mislead the hyperprior: on a 64x64 crop its latent is one 1x1 vector, and a model trained so spends
several times too much on it for a whole face. The checkpoint is chosen on whole validation images of
three sources (`photos.validation_faces`: CelebA and VoxCeleb2 validation identities, lfw-val) by the
mean over sources of the rate-distortion cost over levels. `--only-*` train one part, the rest frozen;
`--only-post` and `--only-decoder` leave every bit of a file as it was and train on the PSNR alone.
`--device cuda` trains on a GPU.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch
from torch.utils.data import ConcatDataset, DataLoader

from aeutils import checkpoint, config, zoo
from aeutils.codec.coder import FaceCodec, export
from aeutils.datasets import photos, sources
from aeutils.errors import UserError
from aeutils.images import pad_to_multiple, to_uint8
from aeutils.metrics import psnr
from aeutils.models.hyperprior import DEFAULT_LAMBDAS, MeanScaleHyperprior, rate_distortion_loss
from aeutils.options import OneLineParser, add_training_options, positive_float, positive_int
from aeutils.task import Task
from aeutils.train import LoopConfig, fit, pick_device, seed_all


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
    res_blocks: bool = False
    photos: bool = False  # train on photo-like crops (PhotoCrops) of side `crop`
    context: bool = False  # checkerboard context model (hyperprior.CheckerboardContext)
    post_filter: int = 0  # channels of a post-filter on the decoded image (hyperprior.PostFilter); 0: none
    slices: int = 1  # channel slices of the latent, each coded after those before it (hyperprior.ChannelContext)
    workers: int = 0  # DataLoader worker processes (capped by the cores this process may use)

    @classmethod
    def from_record(cls, record: dict) -> "CodecHparams":
        """The settings a run recorded with its checkpoints (which also hold other keys)."""
        return cls(**{f.name: record[f.name] for f in fields(cls) if f.name in record})


PROFILES = {
    "smoke": CodecHparams(N=8, M=16, crop=64, batch_size=2, lr=3e-4, steps=3, val_images=2, val_every=3),
    "cpu": CodecHparams(N=64, M=128, res_blocks=True, context=True, post_filter=32, crop=0, batch_size=2,
                        lr=3e-4, steps=200_000, val_images=24, val_every=1000),
    "paper": CodecHparams(N=128, M=192, crop=256, batch_size=16, lr=1e-4, steps=1_000_000, val_images=100,
                          val_every=5000, photos=True, workers=12),
}


# --photos: the crop window is 1-1.33 times the crop side before it is scaled down (at most the image's
# short side): faces at about their native scale, never much softened nor much shrunk
PHOTO_SCALE = (0.75, 1.0)


def hparams(profile: str | None = None) -> CodecHparams:
    """The settings of `profile` (None: $AEUTILS_PROFILE, else cpu)."""
    return PROFILES[config.get_profile(profile)]


@torch.no_grad()
def evaluate_levels(model: MeanScaleHyperprior, images, lambdas=DEFAULT_LAMBDAS) -> dict:
    """Per-level PSNR (8-bit, clamped) and rate estimated from the likelihoods, on whole images
    padded to the model's stride (rate counted over the original pixels). Also the mean RD cost and
    the mean PSNR over levels."""
    out = {}
    costs = []
    device = next(model.parameters()).device
    for level, lam in enumerate(lambdas):
        ps, bpps, mses = [], [], []
        for x in images:
            h, w = x.shape[-2:]
            xp = pad_to_multiple(x.to(device), model.stride)[None]
            res = model(xp, torch.tensor([level], device=device))
            bits = sum(-torch.log2(l).sum() for l in res["likelihoods"].values())
            rec, ref = to_uint8(res["x_hat"][0, :, :h, :w].cpu()), to_uint8(x)
            ps.append(psnr(ref, rec))
            bpps.append(float(bits) / (h * w))
            mses.append(float((((rec.astype(float) - ref.astype(float)) / 255) ** 2).mean()))
        out[f"psnr_q{level}"] = sum(ps) / len(ps)
        out[f"bpp_q{level}"] = sum(bpps) / len(bpps)
        costs.append(out[f"bpp_q{level}"] + lam * 255**2 * sum(mses) / len(mses))
    out["rd_cost"] = sum(costs) / len(costs)
    out["log_rd_cost"] = sum(math.log(c) for c in costs) / len(costs)
    out["psnr_mean"] = sum(out[f"psnr_q{level}"] for level in range(len(lambdas))) / len(lambdas)
    out["psnr_unquantised"] = transform_ceiling(model, images)
    return out


def evaluate_sources(model: MeanScaleHyperprior, sources: dict[str, list[torch.Tensor]]) -> dict:
    """`evaluate_levels` on each validation source ({source: images}), keys prefixed `source/`, and
    the mean over sources of `rd_cost`, `log_rd_cost`, `psnr_mean` and `psnr_unquantised`, so each source
    counts alike."""
    out = {}
    for name, images in sources.items():
        out.update({f"{name}/{k}": v for k, v in evaluate_levels(model, images).items()})
    for key in ("rd_cost", "log_rd_cost", "psnr_mean", "psnr_unquantised"):
        out[key] = sum(out[f"{name}/{key}"] for name in sources) / len(sources)
    return out


@torch.no_grad()
def transform_ceiling(model: MeanScaleHyperprior, images) -> float:
    """Mean PSNR of the transforms alone (top level's gains, no rounding; with the post-filter if there
    is one): the quality no rate can buy past. When the top level comes close to it, more bits cannot
    help; bigger transforms can."""
    top = model.levels - 1
    gain = (model.log_gain[top] + model.log_inv_gain[top]).exp()[None, :, None, None]
    q = torch.tensor([top], device=gain.device)
    ps = []
    for x in images:
        h, w = x.shape[-2:]
        y = model.g_a(pad_to_multiple(x.to(gain.device), model.stride)[None])
        ps.append(psnr(to_uint8(x), to_uint8(model.synthesis(y * gain, q)[0, :, :h, :w])))
    return sum(ps) / len(ps)


def build_model(hp: CodecHparams) -> MeanScaleHyperprior:
    return MeanScaleHyperprior(N=hp.N, M=hp.M, levels=len(DEFAULT_LAMBDAS), res_blocks=hp.res_blocks,
                               context=hp.context, post_filter=hp.post_filter, slices=hp.slices)


def decibel_loss(out: dict, x: torch.Tensor) -> dict:
    """rate_distortion_loss's keys, the loss minus the PSNR (dB) per image, averaged: for the
    post-filter trained alone, whose rate is fixed. lambda * MSE would weigh the top level's distortion
    about 3,000 times the lowest's; in dB every level's gain counts alike, as in a BD-rate."""
    measured = rate_distortion_loss(out, x, x.new_zeros(x.shape[0]))
    return dict(measured, loss=-measured["psnr"])


# --only-*: the parameters each trains, everything else frozen
TRAINED_ALONE = {"only_context": lambda name: name.startswith(("context_model.", "channel_context.")),
                 "only_gains": lambda name: name in ("log_gain", "log_inv_gain"),
                 "only_post": lambda name: name.startswith("post."),
                 "only_decoder": lambda name: name.startswith(("g_s.", "post.")) or name == "log_inv_gain"}
# of these, the ones that leave every bit of a file as it was: trained on the PSNR alone (decibel_loss)
FIXED_RATE = ("only_post", "only_decoder")


def export_checkpoint(path: str | Path, out: str | Path) -> None:
    """Write a run's checkpoint (best.pt / last.pt, which record the run's settings) as a shipped codec
    file, with its validation metrics and those settings."""
    ck = checkpoint.load(path)
    model = build_model(CodecHparams.from_record(ck["hparams"]))
    model.load_state_dict(ck["model"])
    export(model, out, ck.get("metrics"), hparams=ck["hparams"])


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
    p.add_argument("--context", action="store_true", help="add a checkerboard context model (an --init model "
                   "without one grows it, starting as it was; an --init model with one keeps it)")
    p.add_argument("--slices", type=positive_int, default=None, help="code the latent's channels in SLICES "
                   "slices, each refined from those before it (an --init model with fewer grows them, starting "
                   "as it was)")
    p.add_argument("--only-context", action="store_true", help="train the context models (checkerboard, channel "
                   "slices) alone, the rest frozen: about 3 times the steps a second, to teach a new one")
    p.add_argument("--post-filter", type=positive_int, default=None, metavar="CHANNELS", help="add a post-filter "
                   "of CHANNELS on the decoded image (an --init model without one grows it, starting as it was)")
    p.add_argument("--only-post", action="store_true", help="train the post-filter alone, the rest frozen (the "
                   "rate fixed, the loss is the PSNR in dB, every level alike; the checkpoint with the best mean "
                   "validation PSNR over levels and sources is kept)")
    p.add_argument("--only-decoder", action="store_true", help="train the decoder side alone (synthesis "
                   "transform, post-filter, inverse gains), the rest frozen: files keep every bit, and the loss "
                   "and checkpoint are --only-post's")
    p.add_argument("--log-cost", action="store_true", help="train on the mean log of each image's "
                   "rate-distortion cost, and keep the checkpoint with the lowest mean log cost over levels and "
                   "sources: every level's relative change counts alike, as in a BD-rate")
    p.add_argument("--only-gains", action="store_true", help="train the gain vectors alone, the rest frozen: "
                   "to fit quality levels grown onto a trained model (load_grown)")
    p.add_argument("--photos", action="store_true", help="train on photo-like crops of side --crop (rescaled, "
                   "cut anywhere, jittered, often JPEG-sourced) of CelebA faces and dense VoxCeleb2 frames")
    p.add_argument("--workers", type=int, default=None, help="DataLoader worker processes (default: the profile's)")
    p.add_argument("--width", type=positive_int, default=None, help="channels N of the transforms (default: "
                   "the profile's)")
    p.add_argument("--latent", type=positive_int, default=None, help="latent channels M (default: the profile's)")
    p.add_argument("--val-every", type=positive_int, default=None, help="steps between validations")
    p.add_argument("--device", default="auto", help="auto (a GPU if there is one), cpu, cuda or cuda:K")
    args = p.parse_args(argv)
    profile = config.get_profile(args.profile)
    init = zoo.load_shipped(args.init, task="codec") if args.init else None
    asked = {"steps": args.steps, "lr": args.lr, "crop": args.crop, "batch_size": args.batch_size,
             "res_blocks": args.res_blocks or None, "photos": args.photos or None, "workers": args.workers,
             "context": args.context or args.only_context or (init and init["arch"].get("context")) or None,
             "N": args.width, "M": args.latent, "val_every": args.val_every,
             "post_filter": args.post_filter or (init and init["arch"].get("post_filter")) or None,
             "slices": args.slices or (init and init["arch"].get("slices")) or None}
    hp = replace(hparams(profile), **{k: v for k, v in asked.items() if v is not None})
    if hp.crop < 0 or hp.crop % MeanScaleHyperprior.stride:
        raise UserError(f"--crop must be 0 or a positive multiple of {MeanScaleHyperprior.stride}")
    if sum(getattr(args, key) for key in TRAINED_ALONE) > 1:
        raise UserError("--only-context, --only-gains, --only-post and --only-decoder train different parts: "
                        "give one")
    if args.only_post and not hp.post_filter:
        raise UserError("--only-post needs a post-filter: give --post-filter CHANNELS or an --init model with one")
    if hp.photos and not hp.crop:
        raise UserError(f"--photos needs --crop, a positive multiple of {MeanScaleHyperprior.stride}")
    fixed_rate = any(getattr(args, key) for key in FIXED_RATE)
    device = pick_device(args.device)
    torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = True
    seed_all(0)
    run_dir = args.run_dir or config.RUNS_DIR / f"codec-{profile}"
    worker_options = sources.worker_options(hp.workers)

    if hp.photos:
        crops = photos.PhotoCrops(photos.training_faces(profile), hp.crop, scale=PHOTO_SCALE)
        # a data set smaller than one batch (the smoke profile's fixtures) still gives one batch a pass
        loader = DataLoader(crops, batch_size=hp.batch_size, shuffle=True, drop_last=len(crops) >= hp.batch_size,
                            **worker_options)
    else:
        faces = sources.face_split("train", profile, crop=hp.crop or None)
        groups = [range(len(faces))]
        train = faces
        if profile != "smoke" and sources.read_manifest(sources.VOXCELEB2_FRAMES, "train"):
            # video frames are few (274 here): seen 4 times per epoch, about a fifth of what it trains on;
            # batches stay within a source, whose sizes differ (a crop is at most the image's short side)
            frames = sources.VoxCeleb2Frames("train", crop=hp.crop or None)
            train = ConcatDataset([faces] + [frames] * 4)
            groups = [range(len(faces)), range(len(faces), len(train))]
        loader = DataLoader(train, batch_sampler=sources.GroupedBatches(groups, hp.batch_size), **worker_options)
    val = photos.validation_faces(profile, hp.val_images)
    lambdas = torch.tensor(DEFAULT_LAMBDAS, device=device)
    model = build_model(hp)
    record = dict(asdict(hp), profile=profile, lambdas=list(DEFAULT_LAMBDAS), val=",".join(val),
                  device=str(device))
    if args.init and not (Path(run_dir) / "last.pt").exists():
        model.load_grown(init["state_dict"])
        record["init"] = args.init
    for key in (k for k in TRAINED_ALONE if getattr(args, k)):
        for name, param in model.named_parameters():
            param.requires_grad_(TRAINED_ALONE[key](name))
        record[key] = True
    if args.log_cost:
        record["log_cost"] = True
    # channels_last: 7-14% more images a second on this CPU at batch 8-16 (scripts/bench_codec_step.py)
    layout = torch.channels_last if device.type == "cpu" else torch.contiguous_format
    model.to(device, memory_format=layout)

    def step(model, x):
        """Padded as the coder pads: distortion on the image only, its bits over the image's pixels. With
        the rate fixed nothing before the rounding trains, so the decoder side learns from the very
        symbols the coder makes (no quantisation proxies)."""
        x = x.to(device, non_blocking=True)
        q = torch.randint(0, len(DEFAULT_LAMBDAS), (x.shape[0],)).to(device)
        h, w = x.shape[-2:]
        y = model.g_a(pad_to_multiple(x, model.stride).contiguous(memory_format=layout))
        out = model.from_latent(y, q, noisy=False if fixed_rate else None)
        out["x_hat"] = out["x_hat"][..., :h, :w]
        if fixed_rate:
            return decibel_loss(out, x)
        return rate_distortion_loss(out, x, lambdas[q], log=args.log_cost)

    cfg = LoopConfig(max_steps=hp.steps, lr=hp.lr, val_every=hp.val_every, image_every=hp.val_every,
                     ckpt_every=200, max_minutes=args.minutes,
                     select_key="psnr_mean" if fixed_rate else "log_rd_cost" if args.log_cost else "rd_cost",
                     select_mode="max" if fixed_rate else "min", validate_start=bool(args.init),
                     progress=not args.no_progress, hparams=record)

    def images(model):
        x = torch.stack([pad_to_multiple(v, 64)[:, :192, :128] for v in next(iter(val.values()))[:4]]).to(device)
        outs = [model(x, torch.full((x.shape[0],), q, device=device))["x_hat"].clamp(0, 1) for q in (0, 4, 9)]
        return {"val/original_q1_q5_q10": torch.cat([x, *outs]).cpu()}

    summary = fit(model, step, loader, lambda m: evaluate_sources(m, val), run_dir, cfg,
                  images=images)
    print(json.dumps(summary["best"], indent=1))
    return 0


# A shipped codec loads as the `FaceCodec` that writes and reads its files; its model card is written by hand.
TASK = Task("codec", main=main, load=FaceCodec)
