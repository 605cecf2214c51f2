"""Entropy models for learned compression, and their exact integer tables for coding.

- `FactorizedPrior`: a learned per-channel density for the hyper-latent z (Balle et al. 2018,
  appendix 6.1), a cumulative built from small monotone matrix layers.
- `gaussian_likelihood`: the probability of integer-rounded values under N(mu, sigma) convolved
  with a unit box, used for the latent y (Minnen et al. 2018).
- `SCALE_TABLE` and `gaussian_tables` / `FactorizedPrior.tables`: the frozen probability tables that
  the arithmetic coder uses. Encoder and decoder read the same stored numbers, so entropy decoding
  never depends on floating-point details of the machine that runs it.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

LIKELIHOOD_BOUND = 1e-9
SCALE_MIN, SCALE_MAX, SCALE_LEVELS = 0.11, 64.0, 64
# log-spaced scales the coder knows; a predicted sigma is coded with the table entry just above it
SCALE_TABLE = np.exp(np.linspace(math.log(SCALE_MIN), math.log(SCALE_MAX), SCALE_LEVELS))


def _std_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.erfc(-x / math.sqrt(2))


def gaussian_likelihood(y: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """P(y) for y on the integer grid around mu, under N(mu, sigma) integrated over [y-.5, y+.5].

    Uses the symmetric form on |y - mu| for numerical accuracy in the tails."""
    sigma = sigma.clamp(min=SCALE_MIN)
    v = (y - mu).abs()
    p = _std_normal_cdf((0.5 - v) / sigma) - _std_normal_cdf((-0.5 - v) / sigma)
    return p.clamp(min=LIKELIHOOD_BOUND)


class FactorizedPrior(nn.Module):
    """Learned univariate density per channel, for the hyper-latent z (non-parametric, Balle 2018).

    forward(z) -> likelihoods of z (same shape), where z is already rounded or noised."""

    def __init__(self, channels: int, filters=(3, 3, 3), init_scale: float = 10.0):
        super().__init__()
        dims = (1, *filters, 1)
        scale = init_scale ** (1 / (len(filters) + 1))
        self.matrices, self.biases, self.factors = nn.ParameterList(), nn.ParameterList(), nn.ParameterList()
        for i in range(len(filters) + 1):
            init = math.log(math.expm1(1 / scale / dims[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[i + 1], dims[i]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, dims[i + 1], 1) - 0.5))
            if i < len(filters):
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[i + 1], 1)))

    def _logits_cdf(self, x: torch.Tensor) -> torch.Tensor:
        """x: (C, 1, N) -> logits of the cumulative at x, (C, 1, N)."""
        for i, matrix in enumerate(self.matrices):
            x = torch.matmul(F.softplus(matrix), x) + self.biases[i]
            if i < len(self.factors):
                x = x + torch.tanh(self.factors[i]) * torch.tanh(x)
        return x

    def cdf_pmf(self, z: torch.Tensor) -> torch.Tensor:
        """Likelihood of each z (N, C, H, W) under the box-convolved density."""
        n, c, h, w = z.shape
        flat = z.permute(1, 0, 2, 3).reshape(c, 1, -1)
        lower, upper = self._logits_cdf(flat - 0.5), self._logits_cdf(flat + 0.5)
        sign = -torch.sign(lower + upper).detach()  # evaluate in the tail that is numerically safe
        p = (torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).abs()
        return p.reshape(c, n, h, w).permute(1, 0, 2, 3).clamp(min=LIKELIHOOD_BOUND)

    forward = cdf_pmf

    @torch.no_grad()
    def tables(self, radius: int) -> np.ndarray:
        """Probability table per channel over the integers -radius..radius: (C, 2*radius+1), float64."""
        c = self.matrices[0].shape[0]
        grid = torch.arange(-radius, radius + 1, dtype=torch.float32).view(1, 1, -1).repeat(c, 1, 1)
        lower, upper = self._logits_cdf(grid - 0.5), self._logits_cdf(grid + 0.5)
        sign = -torch.sign(lower + upper)
        p = (torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).abs().squeeze(1)
        return p.double().numpy()


def gaussian_tables(scales=SCALE_TABLE, min_radius: int = 24, tail: float = 20.0) -> list[np.ndarray]:
    """For each table scale s, the probabilities of k in -R..R under N(0, s) * box, R = max(min_radius,
    ceil(tail * s)). The coder clamps |k| to R (the encoder reports any clamped symbol)."""
    out = []
    for s in scales:
        radius = max(min_radius, int(math.ceil(tail * s)))
        k = torch.arange(-radius, radius + 1, dtype=torch.float64)
        p = _std_normal_cdf((k + 0.5) / s) - _std_normal_cdf((k - 0.5) / s)
        out.append(p.clamp(min=0).numpy())
    return out
