"""A slower, better encoder for the face codec: the latent refined for each image.

g_a is trained to give a good latent for every image in one pass. For one given image, the latent
that g_s and the entropy model turn into the lowest rate + lambda * distortion lies near it but not
at it, and a few gradient steps on that image's latent alone, the network fixed, move toward it
(Campos et al. 2019, "Content adaptive optimization for neural image compression"; Yang et al. 2020,
"Improving inference for neural image compression"). Only which symbols the encoder writes changes:
the file format and the decoder stay as they are.

The steps follow the training's proxies of quantisation (`MeanScaleHyperprior.from_latent`, noisy);
every CHECK_EVERY steps the cost with true rounding is measured, and the best latent seen is kept,
the unrefined one included, so refining never raises the cost the model predicts.
"""
from __future__ import annotations

import math

import torch

from aeutils.models.hyperprior import DEFAULT_LAMBDAS, MeanScaleHyperprior, rate_distortion_loss

# Adam's step in quantisation bins of the gained latent, and the steps `compare-codecs` gives the
# refined encoder: chosen on the validation images of three sources (docs/codecs.md, "The refined encoder").
REFINE_LR = 0.0025
REFINE_STEPS = 50
CHECK_EVERY = 5  # steps between measurements of the true (rounded) cost


def refine_latent(model: MeanScaleHyperprior, x: torch.Tensor, y: torch.Tensor, level: int, height: int,
                  width: int, steps: int, lr: float | None = None) -> torch.Tensor:
    """y (1, M, h, w), the latent g_a gave for x (1, 3, 16h, 16w) in [0, 1], refined for quality
    `level` by `steps` Adam steps. Only x's first `height` rows and `width` columns are the image: the
    rest is padding, counted neither in the distortion nor in the pixels the bits are spread over, as
    in training. `lr`: Adam's step (default REFINE_LR). Seeded, so the same image gives the same file."""
    q = torch.tensor([level])
    lam = torch.tensor([DEFAULT_LAMBDAS[level]])
    gain = model.log_gain[level].detach().exp().view(1, -1, 1, 1)
    image = x[..., :height, :width]

    def cost(u: torch.Tensor, noisy: bool) -> torch.Tensor:
        out = model.from_latent(u / gain, q, noisy=noisy)
        out["x_hat"] = out["x_hat"][..., :height, :width]
        return rate_distortion_loss(out, image, lam)["loss"]

    u = (y * gain).detach().requires_grad_()  # in the gained domain, where a bin is 1 wide at every level
    optimizer = torch.optim.Adam([u], lr=lr or REFINE_LR)
    best, best_u = math.inf, u.detach().clone()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        for step in range(steps + 1):
            if step % CHECK_EVERY == 0 or step == steps:
                with torch.no_grad():
                    c = cost(u, noisy=False).item()
                if c < best:
                    best, best_u = c, u.detach().clone()
            if step == steps:
                break
            u.grad, = torch.autograd.grad(cost(u, noisy=True), u)
            optimizer.step()
    return best_u / gain
