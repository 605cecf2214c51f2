"""Colorization models: lightness L in, chroma ab out (CIE Lab, `aeutils.color`).

Two encoders, one decoder, two heads:

    L (N,1,H,W) --gray sRGB--> encoder --[f2, f4, f8, f16]--> U-Net decoder --(stride 2)--> head
      encoder "scratch":    ScratchEncoder, trained with the rest (approach 1 of the original)
      encoder "pretrained": aeutils.models.features.pretrained_encoder, frozen (approach 2): VGG16 ImageNet
                            when the user has its weights, else the project's face-codec encoder
      head "regression":     3x3 conv -> ab at stride 2                   (MSE on ab)
      head "classification": 1x1 conv -> logits over Q quantized ab bins  (Zhang et al. 2016,
                             "Colorful Image Colorization": soft-encoded targets, class rebalancing,
                             annealed-mean decoding), counters the brownish mean that MSE regresses to

Both heads work at half resolution (chroma is smooth; Zhang et al. predict at a quarter) and the ab
are upsampled bilinearly. Every model returns a dict: "ab" (N,2,H,W), "ab_half" (N,2,H/2,W/2) and,
for the classification head, "logits" (N,Q,H/2,W/2) (in training mode only the logits). H and W must be
multiples of 16 (`predict_ab` pads).
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from aeutils.color import gray_rgb, rgb_to_lab
from aeutils.models.layers import ResidualBlock, conv_bn_act

AB_SCALE = 100.0  # the regression head predicts ab / AB_SCALE
BIN_GRID = 10.0  # ab quantization step of Zhang et al. 2016
ANNEAL_T = 0.38  # their annealed-mean temperature


@functools.lru_cache(maxsize=None)
def ab_bins(grid: float = BIN_GRID) -> torch.Tensor:
    """Centres (Q, 2) of the grid cells of the ab plane that some sRGB colour falls in (Q = 313 in
    Zhang et al.; counted here from a 64-level sampling of the RGB cube)."""
    levels = torch.linspace(0, 1, 64, dtype=torch.float64)
    rgb = torch.stack(torch.meshgrid(levels, levels, levels, indexing="ij")).reshape(3, 1, -1)
    ab = rgb_to_lab(rgb)[1:].reshape(2, -1).T
    cells = torch.unique(torch.round(ab / grid), dim=0)
    return (cells * grid).float()


def nearest_bin(ab: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """Index of the nearest bin centre for each pixel: ab (N, 2, H, W) -> (N, H, W) long."""
    flat = ab.permute(0, 2, 3, 1).reshape(-1, 2)
    idx = torch.cat([torch.cdist(chunk, bins).argmin(1) for chunk in flat.split(65536)])
    return idx.view(ab.shape[0], *ab.shape[2:])


def soft_encode(ab: torch.Tensor, bins: torch.Tensor, sigma: float = 5.0) -> torch.Tensor:
    """Soft one-hot targets (P, Q) for colours ab (P, 2): a Gaussian of the distance to each bin
    centre (sigma in ab units), normalised. Zhang et al. keep only the 5 nearest bins; the others hold
    about 5% of the mass here, and skipping the top-k search saves a good part of a CPU step."""
    return torch.softmax(-torch.cdist(ab, bins) ** 2 / (2 * sigma ** 2), dim=1)


def rebalance_weights(counts: torch.Tensor, bins: torch.Tensor, lam: float = 0.5, sigma: float = 5.0) -> torch.Tensor:
    """Per-class weights (Q,) from bin counts on the training set: w ~ 1 / ((1-lam) p~ + lam / Q),
    p~ the Gaussian-smoothed empirical distribution, normalised so that E_p~[w] = 1. Rare, saturated
    colours weigh more, so the loss no longer pays for always predicting the common browns."""
    p = counts.double() / counts.sum()
    kernel = torch.exp(-torch.cdist(bins.double(), bins.double()) ** 2 / (2 * sigma ** 2))
    smooth = kernel @ p
    smooth = smooth / smooth.sum()
    w = 1.0 / ((1 - lam) * smooth + lam / len(bins))
    return (w / (smooth * w).sum()).float()


def annealed_mean(logits: torch.Tensor, bins: torch.Tensor, temperature: float = ANNEAL_T) -> torch.Tensor:
    """Logits (N, Q, H, W) -> ab (N, 2, H, W): the mean of the distribution sharpened by 1/T,
    between the mode (vivid but blotchy) and the mean (smooth but washed out)."""
    p = torch.softmax(logits / temperature, dim=1)
    return torch.einsum("nqhw,qc->nchw", p, bins.to(logits))


def classification_loss(logits: torch.Tensor, ab: torch.Tensor, bins: torch.Tensor,
                        class_weights: torch.Tensor) -> torch.Tensor:
    """Class-rebalanced cross-entropy against soft-encoded targets (Zhang et al. eq. 2 and 3):
    logits (N, Q, h, w), true ab (N, 2, h, w) at the logits' size; each pixel weighs as its
    nearest bin's class weight."""
    flat_logits = logits.permute(0, 2, 3, 1).reshape(-1, logits.shape[1])
    flat_ab = ab.permute(0, 2, 3, 1).reshape(-1, 2)
    z = soft_encode(flat_ab, bins)
    ce = -(z * F.log_softmax(flat_logits, dim=1)).sum(1)
    return (class_weights[z.argmax(1)] * ce).mean()


class ScratchEncoder(nn.Module):
    """Gray sRGB (N, 3, H, W) in [0, 1] -> features at strides 2, 4, 8, 16 (the `FeatureEncoder`
    interface of `aeutils.models.features`), trained from scratch: per stage a stride-2 conv and a
    residual block."""

    source = "scratch"

    def __init__(self, channels: tuple[int, ...] = (32, 64, 128, 256)):
        super().__init__()
        self.channels = list(channels)
        cins = [1] + self.channels[:-1]
        self.stages = nn.ModuleList(
            nn.Sequential(conv_bn_act(cin, c, stride=2), ResidualBlock(c)) for cin, c in zip(cins, self.channels))

    def forward(self, gray: torch.Tensor) -> list[torch.Tensor]:
        x = gray[:, :1] * 2 - 1  # the three channels are equal
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats


class UNetDecoder(nn.Module):
    """[f2, f4, f8, f16] -> (N, widths[-1], H/2, W/2): upsample, concatenate the skip, conv + residual
    block, three times (the encoder-decoder with skips that keeps edges where colours change)."""

    def __init__(self, enc_channels: list[int], widths: tuple[int, ...] = (128, 64, 48)):
        super().__init__()
        cin = enc_channels[3]
        self.blocks = nn.ModuleList()
        for skip, w in zip(reversed(enc_channels[:3]), widths):
            self.blocks.append(nn.Sequential(conv_bn_act(cin + skip, w), ResidualBlock(w)))
            cin = w
        self.out_channels = widths[-1]

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        x = feats[3]
        for block, skip in zip(self.blocks, reversed(feats[:3])):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], 1))
        return x


class Colorizer(nn.Module):
    """L (N, 1, H, W) in [0, 100] -> {"ab": (N, 2, H, W)[, "logits"]}; see the module docstring.

    `encoder`: "scratch" or a pretrained `FeatureEncoder` module (kept frozen and in eval mode).
    `chroma`, `tint`, `hue`: how `predict_ab` shrinks the predicted chroma toward neutral, a shipped
    model's safeguard. Without a `hue`, every ab is scaled by `chroma` (1 = as predicted). With one (a
    unit ab vector: the training faces' mean chroma direction), an image's mean ab, its overall tint,
    keeps its predicted strength times `tint` but takes that hue, and each pixel's difference from
    the mean is scaled by `chroma`: on faces from other cameras the guessed tint is what goes wrong
    (too red on the VoxCeleb2 and lfw-val validation images), the detail much less."""

    def __init__(self, encoder: str | nn.Module = "scratch", head: str = "regression",
                 enc_channels: tuple[int, ...] = (32, 64, 128, 256), widths: tuple[int, ...] = (128, 64, 48),
                 chroma: float = 1.0, tint: float = 1.0, hue: tuple[float, float] | None = None):
        super().__init__()
        self.chroma, self.tint, self.hue = chroma, tint, hue
        if head not in ("regression", "classification"):
            raise ValueError(f"unknown head {head!r}")
        self.head_kind = head
        self.frozen = not isinstance(encoder, str)
        self.encoder = ScratchEncoder(enc_channels) if encoder == "scratch" else encoder
        if self.frozen:
            self.encoder.requires_grad_(False).eval()
        self.decoder = UNetDecoder(self.encoder.channels, widths)
        w = self.decoder.out_channels
        if head == "regression":
            self.head = nn.Conv2d(w, 2, 3, padding=1)
        else:
            bins = ab_bins()
            self.register_buffer("bins", bins)
            self.register_buffer("class_weights", torch.ones(len(bins)))
            self.head = nn.Conv2d(w, len(bins), 1)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen:
            self.encoder.eval()  # a frozen backbone keeps its BatchNorm statistics
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def forward(self, L: torch.Tensor) -> dict[str, torch.Tensor]:
        gray = gray_rgb(L)
        if self.frozen:
            with torch.no_grad():
                feats = self.encoder(gray)
        else:
            feats = self.encoder(gray)
        x = self.decoder(feats)
        if self.head_kind == "regression":
            out = {"ab_half": AB_SCALE * self.head(x)}
        else:
            logits = self.head(x)
            if self.training:  # the loss needs only the logits; decoding them costs a tenth of a step
                return {"logits": logits}
            out = {"ab_half": annealed_mean(logits, self.bins), "logits": logits}
        # Chroma is smooth: predicted at half resolution, upsampled (Zhang et al. predict at a quarter).
        out["ab"] = F.interpolate(out["ab_half"], size=L.shape[-2:], mode="bilinear", align_corners=False)
        return out


def predict_ab(model: Colorizer, L: torch.Tensor) -> torch.Tensor:
    """ab for any size: pad L (N, 1, H, W) by edge replication to a multiple of 16 (at least 32,
    so the stride-16 features are at least 2x2), predict, crop back to (N, 2, H, W), shrunk by the
    model's `chroma`, `tint` and `hue` (see `Colorizer`). Each image is one whole picture: its tint
    is its own mean. The prediction is a flip self-ensemble, the mean of the model's chroma for the
    photo and for the mirrored photo (mirrored back): on 80 validation faces per source it saved ab
    RMSE against gray on every source (ratio to gray 0.656 -> 0.654 CelebA, 0.730 -> 0.723 VoxCeleb2,
    0.799 -> 0.797 lfw-val; 2026-12-06), the shipped chroma, tint and hue kept (chosen again with it since)."""
    h, w = L.shape[-2:]
    ph, pw = max(32, -(-h // 16) * 16), max(32, -(-w // 16) * 16)
    x = F.pad(L, (0, pw - w, 0, ph - h), mode="replicate")
    ab = ((model(x)["ab"] + model(x.flip(-1))["ab"].flip(-1)) / 2)[..., :h, :w]
    if model.hue is None:
        return model.chroma * ab
    tint = ab.mean(dim=(-2, -1), keepdim=True)
    hue = torch.tensor(model.hue, dtype=ab.dtype).view(1, 2, 1, 1)
    return model.tint * tint.norm(dim=1, keepdim=True) * hue + model.chroma * (ab - tint)
