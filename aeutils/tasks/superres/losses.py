"""The losses of both phases and the training step that combines them.

The perceptual term uses `aeutils.models.features.pretrained_encoder`: VGG16 ImageNet features when the
user has them in $TORCH_HOME, otherwise the project's own face-codec encoder. Its source is
recorded in the logs, the results and the model card.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from aeutils.models.features import pretrained_encoder
from aeutils.models.sr import Discriminator, SRResNet
from aeutils.tasks.superres.data import downscale
from aeutils.tasks.superres.hparams import SRConfig


def feature_encoder(source: str = "auto"):
    """The frozen feature network of the perceptual loss and of the feature distance (None for
    source "none"); see aeutils.models.features.pretrained_encoder."""
    if source == "none":
        return None
    return pretrained_encoder(source)


def feature_distance(encoder: nn.Module, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Mean over the encoder's 4 feature maps of ||f(x) - f(ref)||^2 / ||f(ref)||^2 (per batch):
    a content distance that does not depend on each layer's scale. x, ref: (N, 3, H, W) in [0, 1]."""
    with torch.no_grad():
        targets = encoder(ref)
    terms = [((a - b) ** 2).mean() / (b ** 2).mean().clamp_min(1e-8) for a, b in zip(encoder(x), targets)]
    return torch.stack(terms).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the discriminator: real crops -> 1, generated ones -> 0."""
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss -log D(G(lr)) (Goodfellow et al. 2014; Ledig et al. 2017)."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


class SRGAN(nn.Module):
    """Generator and discriminator in one module, so that one checkpoint holds both."""

    def __init__(self, generator: SRResNet, discriminator: Discriminator):
        super().__init__()
        self.generator, self.discriminator = generator, discriminator


def generator_of(model: nn.Module) -> SRResNet:
    return model.generator if isinstance(model, SRGAN) else model


def make_step(cfg: SRConfig, encoder: nn.Module | None, d_optimizer=None) -> Callable:
    """The step function `train.fit` calls: returns the generator's loss (fit backpropagates it);
    in the SRGAN phase it first updates the discriminator itself, on the same batch."""

    def step(model: nn.Module, batch) -> dict:  # HR crops, or (HR, LR) pairs (PhotoPairs)
        hr, lr = batch if isinstance(batch, (list, tuple)) else (batch, downscale(batch, cfg.scale))
        g = generator_of(model)
        sr = g(lr)
        out = {"pixel_l1": F.l1_loss(sr, hr)}
        loss = cfg.pixel_weight * out["pixel_l1"]
        if cfg.perceptual_weight and encoder is not None:
            out["perceptual"] = feature_distance(encoder, sr, hr)
            loss = loss + cfg.perceptual_weight * out["perceptual"]
        if cfg.adversarial_weight:
            d = model.discriminator
            d.requires_grad_(True)
            d_loss = discriminator_loss(d(hr), d(sr.detach()))
            d_optimizer.zero_grad(set_to_none=True)
            d_loss.backward()
            d_optimizer.step()
            d.requires_grad_(False)  # the generator's backward pass need not reach D's weights
            out["d_loss"] = d_loss.detach()
            out["adversarial"] = generator_adversarial_loss(d(sr))
            loss = loss + cfg.adversarial_weight * out["adversarial"]
        return {"loss": loss, **{k: v.detach() for k, v in out.items()}}

    return step
