r"""The project's face codec: a mean-scale hyperprior with gain units for variable rate.

After Balle et al. 2018 ("Variational image compression with a scale hyperprior"), Minnen et al.
2018 (mean-scale Gaussian prior) and Cui et al. 2021 (gain units: one model, several rates).

    x --g_a--> y --*gain[q]--> y_q --round(. - mu_q) + mu_q--> y_hat --*inv_gain[q]--> g_s --> x_hat
                \                                  ^
                 h_a --> z --round--> z_hat --h_s--+ (mu, sigma), scaled by gain[q]
                                        |
                              factorized prior (coded first)

Coded symbols: round(z) under the factorized prior, then round(y_q - mu_q) under N(0, sigma_q).

`context=True` adds a checkerboard context (He et al. 2021, "Checkerboard context model for efficient
learned image compression"): half of the latent positions (the anchors, i + j even) are coded as
above; the other half are coded after them, their (mu, sigma) refined from the decoded anchors around
them. Decoding stays two parallel passes, not one step per position.

`slices=K` adds channel-conditional coding (Minnen & Singh 2020, "Channel-wise autoregressive entropy
models for learned image compression"): each pass codes the latent's channels in K slices, and slice
k's (mu, sigma) are refined from the slices decoded before it (`ChannelContext`). With a checkerboard
the order is: the anchors' slices 0..K-1, then the other half's slices 0..K-1; 2K passes in all.

`post_filter=C` adds a residual filter of C channels on the decoded image, told the quality level
(`PostFilter`): the rate is unchanged, only the reconstruction gains.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from aeutils.models.entropy import FactorizedPrior, gaussian_likelihood

# lambda per quality level (MSE on [0, 1] images, loss = lambda * 255^2 * MSE + bpp), about 1.93x apart:
# the two lowest reach down to about 0.1 bpp on a face, the three highest (added 2026-12-05) up to 1-2 bpp
DEFAULT_LAMBDAS = (0.00045, 0.0009, 0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.1800,
                   0.35, 0.68, 1.3)


class GDN(nn.Module):
    """Generalized divisive normalization (Balle et al. 2016) in its simplified L1 form
    (Johnston et al. 2019): y = x / (beta + gamma * |x|); inverse=True multiplies instead (IGDN)."""

    def __init__(self, channels: int, inverse: bool = False):
        super().__init__()
        self.inverse = inverse
        self.beta = nn.Parameter(torch.ones(channels))
        self.gamma = nn.Parameter(0.1 * torch.eye(channels).view(channels, channels, 1, 1))

    def forward(self, x):
        beta = self.beta.abs() + 1e-6
        norm = F.conv2d(x.abs(), self.gamma.abs(), beta)
        return x * norm if self.inverse else x / norm


def conv(cin, cout, k=5, s=2):
    return nn.Conv2d(cin, cout, k, stride=s, padding=k // 2)


def deconv(cin, cout, k=5, s=2):
    return nn.ConvTranspose2d(cin, cout, k, stride=s, padding=k // 2, output_padding=s - 1)


class ResidualBlock(nn.Module):
    """x + conv3x3(LeakyReLU(conv3x3(x))), as in the transforms of Cheng et al. 2020. The second
    convolution starts at zero (unless `zero=False`), so a block added to a trained model changes nothing
    until it learns."""

    def __init__(self, channels: int, zero: bool = True):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        if zero:
            nn.init.zeros_(self.conv2.weight)
            nn.init.zeros_(self.conv2.bias)

    def forward(self, x):
        return x + self.conv2(F.leaky_relu(self.conv1(x), 0.2))


def anchors(h: int, w: int, device=None) -> torch.Tensor:
    """The checkerboard's first half, (1, 1, h, w) bool: positions with i + j even."""
    i = torch.arange(h, device=device).view(-1, 1)
    j = torch.arange(w, device=device).view(1, -1)
    return ((i + j) % 2 == 0).view(1, 1, h, w)


class CheckerboardContext(nn.Module):
    """(delta mu, delta s) for the non-anchor positions, from the decoded anchors around them (a 5x5
    convolution over the latent with the non-anchors zeroed, so each position sees only anchors) and
    the hyperprior's own (mu, s) there. The last layer starts at zero, so a context added to a trained
    model changes nothing until it learns. Only convolutions and ReLUs: the coder runs it in exact
    integer arithmetic, as it runs h_s."""

    def __init__(self, M: int):
        super().__init__()
        self.spatial = nn.Sequential(nn.Conv2d(M, M, 5, padding=2), nn.ReLU(inplace=True))
        self.params = nn.Sequential(nn.Conv2d(3 * M, 2 * M, 1), nn.ReLU(inplace=True), nn.Conv2d(2 * M, 2 * M, 1))
        nn.init.zeros_(self.params[-1].weight)
        nn.init.zeros_(self.params[-1].bias)

    def forward(self, anchor_hat: torch.Tensor, hyper: torch.Tensor) -> torch.Tensor:
        """anchor_hat: the un-gained decoded latent at anchors, zero elsewhere; hyper: h_s's (mu, s)."""
        return self.params(torch.cat([self.spatial(anchor_hat), hyper], dim=1))


class ChannelContext(nn.Module):
    """(delta mu, delta s) of slice k (k >= 1 of `slices`, M / slices channels each) from what is decoded
    before it: the un-gained latent, zero where not yet decoded (a 3x3 convolution sees the
    neighbours), and the slice's own (mu, s) so far. Last layers start at zero, so slices added to a
    trained model change nothing until they learn. Only convolutions and ReLUs: the coder runs it in
    exact integer arithmetic."""

    def __init__(self, M: int, slices: int, hidden: int = 128):
        super().__init__()
        self.nets = nn.ModuleList(self.net(M, 2 * (M // slices), hidden) for _ in range(slices - 1))

    @staticmethod
    def net(M: int, params: int, hidden: int) -> nn.Sequential:
        layers = nn.Sequential(nn.Conv2d(M + params, hidden, 3, padding=1), nn.ReLU(inplace=True),
                               nn.Conv2d(hidden, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, params, 1))
        nn.init.zeros_(layers[-1].weight)
        nn.init.zeros_(layers[-1].bias)
        return layers

    def forward(self, k: int, decoded: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """decoded: (N, M, h, w) un-gained latent, zero where not yet decoded; params: slice k's (mu, s)."""
        return self.nets[k - 1](torch.cat([decoded, params], dim=1))


def slice_channels(M: int, slices: int, k: int) -> tuple[slice, slice]:
    """Slice k's channels in the latent (or mu) and in the s half of a (mu, s) tensor of 2M channels."""
    width = M // slices
    return slice(k * width, (k + 1) * width), slice(M + k * width, M + (k + 1) * width)


class PostFilter(nn.Module):
    """A residual filter on the decoded image, told the quality level: capacity at full resolution,
    where g_s has the least (its last layer is one transposed convolution from half resolution), so the
    transforms' ceiling rises without a bit more. It works on the image pixel-unshuffled to half
    resolution (12 channels) to stay cheap; receptive-field radius 2 * (2 + 2 * blocks) + 1 px. Its
    last layer starts at zero, so a filter added to a trained model changes nothing until it learns."""

    def __init__(self, levels: int, channels: int = 32, blocks: int = 3):
        super().__init__()
        self.levels = levels
        self.head = nn.Conv2d(12 + 1, channels, 3, padding=1)
        self.body = nn.Sequential(*(ResidualBlock(channels, zero=False) for _ in range(blocks)))
        self.tail = nn.Conv2d(channels, 12, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """x (N, 3, H, W), H and W even; q (N,) quality levels."""
        u = F.pixel_unshuffle(x, 2)
        level = (q.to(u.dtype) / max(self.levels - 1, 1)).view(-1, 1, 1, 1).expand(-1, 1, *u.shape[-2:])
        r = self.tail(self.body(F.leaky_relu(self.head(torch.cat([u, level], dim=1)), 0.2)))
        return x + F.pixel_shuffle(r, 2)


class MeanScaleHyperprior(nn.Module):
    """Variable-rate mean-scale hyperprior. Inputs (N, 3, H, W) in [0, 1], H and W multiples of 64.

    forward(x, q) with q a LongTensor (N,) of quality levels returns
    {"x_hat": (N, 3, H, W), "likelihoods": {"y": ..., "z": ...}}.

    `res_blocks=True` adds a residual block at 1/4 and 1/8 scale to both transforms: more capacity
    where it costs little time. At high rates the transforms, not the bits, limit quality: without
    the blocks, unquantised, they reached 32.8 dB on CelebA validation faces, and the top level 32.5."""

    stride = 64  # inputs are padded to this (the hyper-latent's scale)
    latent_stride = 16  # one latent (y) position per 16x16 pixels

    def __init__(self, N: int = 64, M: int = 128, levels: int = len(DEFAULT_LAMBDAS), res_blocks: bool = False,
                 context: bool = False, post_filter: int = 0, slices: int = 1):
        super().__init__()
        self.N, self.M, self.levels, self.res_blocks, self.context = N, M, levels, bool(res_blocks), bool(context)
        self.post_filter, self.slices = int(post_filter), int(slices)
        if self.slices < 1 or M % self.slices:
            raise ValueError(f"slices must divide the latent's {M} channels")

        def blocks():  # a residual block where `res_blocks` asks for one
            return [ResidualBlock(N)] if res_blocks else []

        self.g_a = nn.Sequential(conv(3, N), GDN(N), conv(N, N), GDN(N), *blocks(), conv(N, N), GDN(N), *blocks(),
                                 conv(N, M))
        self.g_s = nn.Sequential(deconv(M, N), GDN(N, inverse=True), *blocks(), deconv(N, N),
                                 GDN(N, inverse=True), *blocks(), deconv(N, N), GDN(N, inverse=True), deconv(N, 3))
        self.h_a = nn.Sequential(conv(M, N, 3, 1), nn.LeakyReLU(inplace=True), conv(N, N),
                                 nn.LeakyReLU(inplace=True), conv(N, N))
        # ReLU here (not leaky) so the coder can run h_s in exact integer arithmetic
        self.h_s = nn.Sequential(deconv(N, N), nn.ReLU(inplace=True), deconv(N, 3 * M // 2),
                                 nn.ReLU(inplace=True), conv(3 * M // 2, 2 * M, 3, 1))
        self.prior = FactorizedPrior(N)
        if context:
            self.context_model = CheckerboardContext(M)
        if self.slices > 1:
            self.channel_context = ChannelContext(M, self.slices)
        if post_filter:
            self.post = PostFilter(levels, post_filter)
        # log-gains: level q scales the latent by exp(log_gain[q]); spread so levels start apart
        init = torch.linspace(-1.5, 1.0, levels).view(levels, 1).repeat(1, M)
        self.log_gain = nn.Parameter(init.clone())
        self.log_inv_gain = nn.Parameter(-init.clone())

    def entropy_parameters(self, z_hat: torch.Tensor):
        """(mu, sigma) of the un-gained latent from the decoded hyper-latent."""
        mu, s = self.h_s(z_hat).chunk(2, dim=1)
        return mu, F.softplus(s)

    def forward(self, x: torch.Tensor, q: torch.Tensor) -> dict:
        return self.from_latent(self.g_a(x), q)

    def synthesis(self, y_hat: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """The decoded image from the un-gained latent: g_s, then the post-filter if there is one."""
        x_hat = self.g_s(y_hat)
        return self.post(x_hat, q) if self.post_filter else x_hat

    def from_latent(self, y: torch.Tensor, q: torch.Tensor, noisy: bool | None = None) -> dict:
        """`forward` from the latent y on: what an encoder that refines y for one image optimises.
        `noisy` (default: while training) takes the training proxies of quantisation: uniform noise
        for the rates, straight-through rounding for the reconstruction."""
        noisy = self.training if noisy is None else noisy
        z = self.h_a(y)
        if noisy:
            z_hat = z + torch.empty_like(z).uniform_(-0.5, 0.5)
        else:
            z_hat = torch.round(z)
        hyper = self.h_s(z_hat)
        gain = self.log_gain[q].exp()[:, :, None, None]
        inv_gain = self.log_inv_gain[q].exp()[:, :, None, None]
        y_q = y * gain
        y_hat, params = self.coded(y_q, hyper, gain, noisy)
        mu, s = params.chunk(2, dim=1)
        mu_q, sigma_q = mu * gain, F.softplus(s) * gain
        if noisy:
            y_lik = gaussian_likelihood(y_q + torch.empty_like(y_q).uniform_(-0.5, 0.5), mu_q, sigma_q)
        else:
            y_lik = gaussian_likelihood(y_hat, mu_q, sigma_q)
        x_hat = self.synthesis(y_hat * inv_gain, q)
        return {"x_hat": x_hat, "likelihoods": {"y": y_lik, "z": self.prior(z_hat)}}

    def coded(self, y_q: torch.Tensor, hyper: torch.Tensor, gain: torch.Tensor, noisy: bool):
        """(y_hat, params): the decoded gained latent and the un-gained (mu, s) each symbol is coded
        with, pass by pass in the coder's order (the anchors, then the rest; within each, slice by
        slice). Rounding is straight-through while training (Minnen & Singh 2020: rate on noise,
        reconstruction on rounded values)."""
        M, K = self.M, self.slices
        phases = [None]
        if self.context:
            first = anchors(*y_q.shape[-2:], device=y_q.device)
            phases = [first, ~first]
        y_hat = [torch.zeros_like(y_q[:, slice_channels(M, K, k)[0]]) for k in range(K)]
        params = [[None, None] for _ in range(K)]  # per slice: (mu, s)
        for phase, where in enumerate(phases):
            base = hyper
            if phase:  # the checkerboard's second half: refined from the decoded anchors
                base = hyper + self.context_model(torch.cat(y_hat, dim=1) / gain * first, hyper)
            for k in range(K):
                c, cs = slice_channels(M, K, k)
                p = torch.cat([base[:, c], base[:, cs]], dim=1)
                if k:
                    p = p + self.channel_context(k, torch.cat(y_hat, dim=1) / gain, p)
                mu, s = p.chunk(2, dim=1)
                mu_q = mu * gain[:, c]
                rounded = torch.round(y_q[:, c] - mu_q) + mu_q
                new = y_q[:, c] + (rounded - y_q[:, c]).detach() if noisy else rounded
                if where is None:
                    y_hat[k], params[k] = new, [mu, s]
                else:
                    y_hat[k] = torch.where(where, new, y_hat[k])
                    params[k] = [torch.where(where, a, b) if b is not None else a for a, b in zip((mu, s), params[k])]
        mus, ss = zip(*params)
        return torch.cat(y_hat, dim=1), torch.cat(mus + ss, dim=1)

    def load_grown(self, state_dict: dict) -> None:
        """Load weights of a smaller model of the same design: fewer quality levels, no residual
        blocks, no context model, no channel slices, no post-filter, or several of these, so a trained
        model can keep training with more room.

        Missing highest levels get gains extrapolated geometrically from the two highest trained ones,
        so they start at higher rates and the trained levels keep their numbers; missing residual blocks
        and a missing context model, channel context or post-filter keep their fresh start (identity, zero), so the
        grown model first
        decodes exactly as the smaller one did."""
        state = dict(state_dict)
        for key in ("log_gain", "log_inv_gain"):
            g = state[key].float()
            missing = self.levels - g.shape[0]
            if missing > 0:
                steps = torch.arange(1, missing + 1, dtype=g.dtype).view(-1, 1)
                state[key] = torch.cat([g, g[-1:] + steps * (g[-1:] - g[-2:-1])])
        fresh = self.state_dict()
        for name in ("g_a", "g_s"):
            seq = getattr(self, name)
            blocks = [i for i, m in enumerate(seq) if isinstance(m, ResidualBlock)]
            if not blocks or f"{name}.{blocks[0]}.conv1.weight" in state:
                continue  # nothing to grow: no blocks here, or the source has them too
            layers = [i for i in range(len(seq)) if i not in blocks]  # old index -> new index

            def renumber(key: str, name=name, layers=layers) -> str:
                if not key.startswith(f"{name}."):
                    return key
                _, index, rest = key.split(".", 2)
                return f"{name}.{layers[int(index)]}.{rest}"

            state = {renumber(k): v for k, v in state.items()}
            state.update({k: v for k, v in fresh.items() if k.startswith(f"{name}.") and k not in state})
        if self.context and not any(k.startswith("context_model.") for k in state):
            state.update({k: v for k, v in fresh.items() if k.startswith("context_model.")})
        if self.slices > 1 and not any(k.startswith("channel_context.") for k in state):
            state.update({k: v for k, v in fresh.items() if k.startswith("channel_context.")})
        if self.post_filter and not any(k.startswith("post.") for k in state):
            state.update({k: v for k, v in fresh.items() if k.startswith("post.")})
        self.load_state_dict(state)


def rate_distortion_loss(out: dict, x: torch.Tensor, lambdas: torch.Tensor, log: bool = False) -> dict:
    """Per-image bpp + lambda * 255^2 * MSE, averaged over the batch (lambdas: (N,) per image). `log`
    averages its log instead: each image's relative change then counts alike, as in a BD-rate, where
    the plain cost lets the top levels' (40-180 times the lowest's on validation faces) decide what
    shared weights learn."""
    n, _, h, w = x.shape
    bits = sum(-torch.log2(l).reshape(n, -1).sum(1) for l in out["likelihoods"].values())
    bpp = bits / (h * w)
    mse = F.mse_loss(out["x_hat"], x, reduction="none").reshape(n, -1).mean(1)
    cost = bpp + lambdas * 255**2 * mse
    loss = (cost.log() if log else cost).mean()
    return {"loss": loss, "bpp_loss": bpp.mean(), "mse_loss": mse.mean(),
            "psnr": (10 * torch.log10(1 / mse.clamp(min=1e-10))).mean()}
