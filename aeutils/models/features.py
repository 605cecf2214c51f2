"""A frozen pretrained encoder for perceptual losses and transfer learning.

ImageNet VGG16 is the usual choice, but its weights cannot be downloaded on machines without
internet. So: VGG16 when the user has torchvision's file in `$TORCH_HOME/hub/checkpoints/`, else the
analysis transform of the project's own face codec (trained on CelebA, shipped as
`weights/face-encoder.pt`), which is always there. Both give feature maps at strides 2, 4, 8, 16.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from aeutils import checkpoint, config, zoo
from aeutils.errors import UserError
from aeutils.models.hyperprior import MeanScaleHyperprior
from aeutils.task import Task

VGG16_FILE = "vgg16-397923af.pth"  # torchvision's ImageNet VGG16 weights
FACE_ENCODER = "face-encoder"


def vgg16_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG16_FILE


class FeatureEncoder(nn.Module):
    """Frozen multi-scale features. forward(x: (N, 3, H, W) in [0, 1]) -> 4 maps at strides 2..16."""

    def __init__(self, stages: list[nn.Module], channels: list[int], source: str,
                 mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)):
        super().__init__()
        self.stages = nn.ModuleList(stages)
        self.channels, self.source = channels, source
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):
        return super().train(False)  # always frozen, whatever the parent module does

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.mean) / self.std
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats


def _vgg16_encoder() -> FeatureEncoder:
    import torchvision

    vgg = torchvision.models.vgg16(weights=None)
    vgg.load_state_dict(checkpoint.load(vgg16_path()))
    f = vgg.features  # pools at indices 4, 9, 16, 23
    stages = [f[0:5], f[5:10], f[10:17], f[17:24]]
    return FeatureEncoder(stages, [64, 128, 256, 512], "vgg16-imagenet",
                          mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


def load(ck: dict) -> FeatureEncoder:
    """The face encoder from its shipped file's dict (`zoo.load_shipped`), frozen."""
    model = MeanScaleHyperprior(N=ck["arch"]["N"], M=ck["arch"]["M"], levels=1)
    model.g_a.load_state_dict(ck["state_dict"])
    g = model.g_a  # conv, GDN, conv, GDN, conv, GDN, conv
    stages = [g[0:2], g[2:4], g[4:6], g[6:7]]
    n, m = ck["arch"]["N"], ck["arch"]["M"]
    return FeatureEncoder(stages, [n, n, n, m], "face-codec-encoder")


def _face_encoder() -> FeatureEncoder:
    return zoo.load(FACE_ENCODER, task="features")


def pretrained_encoder(source: str = "auto") -> FeatureEncoder:
    """`auto`: VGG16 if its ImageNet weights are on disk, else the face-codec encoder.
    `vgg16` / `face` force one (vgg16 without its file raises UserError saying where to put it)."""
    if source not in ("auto", "vgg16", "face"):
        raise UserError(f"unknown encoder source {source!r}; use auto, vgg16 or face")
    if source == "vgg16" or (source == "auto" and vgg16_path().is_file()):
        if not vgg16_path().is_file():
            raise UserError(f"ImageNet VGG16 weights not found: put torchvision's {VGG16_FILE} at "
                            f"{vgg16_path()} (this machine cannot download it), or use source='face'")
        return _vgg16_encoder()
    return _face_encoder()


def export_face_encoder(codec_checkpoint: str | Path, path: str | Path | None = None) -> None:
    """Ship the analysis transform g_a of a trained codec (a `best.pt` of `aeutils train codec`)
    as the face feature encoder."""
    ck = checkpoint.load(codec_checkpoint)
    hp = ck["hparams"]
    if hp.get("res_blocks"):  # the stages above index the plain 7-layer analysis transform
        raise UserError("the face feature encoder takes a codec without residual blocks")
    model = MeanScaleHyperprior(N=hp["N"], M=hp["M"])
    model.load_state_dict(ck["model"])
    zoo.save_shipped(path or config.WEIGHTS_DIR / f"{FACE_ENCODER}.pt", "features",
                     {"N": hp["N"], "M": hp["M"]}, model.g_a, {"codec_validation": ck["metrics"]})


# The face encoder is not trained on its own: `export_face_encoder` ships a codec run's analysis transform.
TASK = Task("features", load=load)
