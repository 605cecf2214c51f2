"""The compressive autoencoder of Theis et al. 2017 ("Lossy image compression with compressive
autoencoders", arXiv:1703.00395), with batch normalisation, and its per-channel quantizer.

    x (3, H, W) in [0, 1]
      -> conv5x5/2 (w/2) -> conv5x5/2 (w) -> 3 x ResidualBlock(w) -> conv5x5/2 (C)    encoder
    y (C, H/8, W/8)
      -> ChannelQuantizer (num_bits; per image and channel min/max)                    optional
    y_hat
      -> up x2 (w) -> 3 x ResidualBlock(w) -> up x2 (w/2) -> up x2 (3)                 decoder
    x_hat (3, H, W)

"up" is a `SubPixelUpsample` (the paper's choice) or a `TransposedUpsample` (for the checkerboard
comparison). With C = 96, 48, 24 the latent holds 1/2, 1/4, 1/8 of the input's 3*H*W values
(the original report's "sparsity").
"""
from __future__ import annotations

import torch
from torch import nn

from aeutils import zoo
from aeutils.models.layers import ResidualBlock, SubPixelUpsample, TransposedUpsample, conv_bn_act

UPSAMPLERS = {"subpixel": SubPixelUpsample, "transposed": TransposedUpsample}


def fp16_round(t: torch.Tensor) -> torch.Tensor:
    """Round to the nearest float16 value (kept in t's dtype): the precision side information is
    stored with, so that the encoder and the decoder dequantize with the same numbers."""
    return t.to(torch.float16).to(t.dtype)


class ChannelQuantizer(nn.Module):
    """Uniform quantization of a latent (N, C, h, w) to `num_bits` bits per value, with each image's
    per-channel minimum and maximum as side information (stored as float16).

    In training mode the rounding is bypassed for the gradient (straight-through estimator): the
    forward pass sees the quantization error, the backward pass treats it as identity."""

    def __init__(self, num_bits: int):
        super().__init__()
        if not 1 <= num_bits <= 16:
            raise ValueError(f"num_bits must be in 1..16, got {num_bits}")
        self.num_bits = num_bits
        self.levels = 2**num_bits - 1

    @staticmethod
    def ranges(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per image and channel min and max of y (N, C, h, w), float16-rounded: (N, C) each."""
        return fp16_round(y.amin(dim=(2, 3))), fp16_round(y.amax(dim=(2, 3)))

    def codes(self, y: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
        """Integer codes in [0, 2**num_bits - 1] (as floats, same shape as y)."""
        lo, scale = lo[..., None, None], (hi - lo).clamp_min(1e-8)[..., None, None]
        return ((y - lo) / scale).clamp(0, 1).mul(self.levels).round()

    def dequantize(self, codes: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
        lo, hi = fp16_round(lo.float()), fp16_round(hi.float())
        scale = (hi - lo).clamp_min(1e-8)[..., None, None]
        return lo[..., None, None] + codes.float() / self.levels * scale

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        lo, hi = self.ranges(y.float())
        y_hat = self.dequantize(self.codes(y.float(), lo, hi), lo, hi).to(y.dtype)
        return y + (y_hat - y).detach() if self.training else y_hat


class CompressiveAutoencoder(nn.Module):
    """Theis et al. 2017 with batch normalisation (see the module docstring for the data flow).

    `forward(x)` takes (N, 3, H, W) in [0, 1], H and W multiples of 8, and returns
    {"x_hat": (N, 3, H, W), "y": (N, C, H/8, W/8)}; the latent passes the quantizer only when
    `quantize` is on (the second of the two training stages, and inference)."""

    def __init__(self, hidden_state_num_channels: int = 24, width: int = 128, num_bits: int = 0,
                 quantize: bool = False, upsample: str = "subpixel", num_residual: int = 3):
        super().__init__()
        if upsample not in UPSAMPLERS:
            raise ValueError(f"upsample must be one of {sorted(UPSAMPLERS)}, got {upsample!r}")
        if quantize and num_bits < 1:
            raise ValueError("quantize=True needs num_bits >= 1")
        c, half = hidden_state_num_channels, width // 2
        up = UPSAMPLERS[upsample]
        self.arch = dict(hidden_state_num_channels=c, width=width, num_bits=num_bits, quantize=quantize,
                         upsample=upsample, num_residual=num_residual)
        self.encoder = nn.Sequential(
            conv_bn_act(3, half, 5, stride=2),
            conv_bn_act(half, width, 5, stride=2),
            *[ResidualBlock(width) for _ in range(num_residual)],
            nn.Conv2d(width, c, 5, stride=2, padding=2, padding_mode="reflect"),
        )
        self.decoder = nn.Sequential(
            up(c, width), nn.BatchNorm2d(width), nn.LeakyReLU(0.2, inplace=True),
            *[ResidualBlock(width) for _ in range(num_residual)],
            up(width, half), nn.BatchNorm2d(half), nn.LeakyReLU(0.2, inplace=True),
            up(half, 3),
        )
        self.quantizer = ChannelQuantizer(num_bits) if num_bits else None
        self.quantize = quantize
        self.encoder_frozen = False

    @classmethod
    def from_shipped(cls, name_or_path: str = "cae-exp7") -> "CompressiveAutoencoder":
        """A shipped model (`weights/<name>.pt`, task "cae") in eval mode on the CPU: `zoo.load`."""
        return zoo.load(name_or_path, task="cae")

    @property
    def num_bits(self) -> int:
        return self.quantizer.num_bits if self.quantizer else 0

    def freeze_encoder(self) -> None:
        """Second training stage: the encoder's weights and BN statistics stay fixed."""
        self.encoder_frozen = True
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        self.encoder.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        if self.encoder_frozen:
            self.encoder.eval()
        return self

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [0, 1] -> latent y (N, C, H/8, W/8), unquantized."""
        return self.encoder(x - 0.5)

    def decode(self, y: torch.Tensor) -> torch.Tensor:
        """Latent (N, C, h, w) -> (N, 3, 8h, 8w), unclamped (clamp and round to measure)."""
        return self.decoder(y) + 0.5

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        y = self.encode(x)
        y_hat = self.quantizer(y) if self.quantize else y
        return {"x_hat": self.decode(y_hat), "y": y}

    # Fixed-length codes for the bitstream (aeutils/codec/coder.py writes them to files).
    def _check_inference(self, x: torch.Tensor | None = None) -> None:
        if self.training:
            raise RuntimeError("call model.eval() before coding (batch normalisation must use its statistics)")
        if self.quantizer is None:
            raise RuntimeError("this model was built without a quantizer (num_bits=0)")
        if x is not None and (x.ndim != 3 or x.shape[0] != 3 or x.shape[1] % 8 or x.shape[2] % 8):
            raise ValueError(f"expected one image (3, H, W) with H, W multiples of 8, got {tuple(x.shape)}")

    @torch.no_grad()
    def quantized_latent(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One image (3, H, W) -> (codes (C, H/8, W/8) uint8/int32 in [0, 2**num_bits - 1],
        lo (C,), hi (C,)): lo and hi are float16-representable, as the bitstream stores them."""
        self._check_inference(x)
        return self.quantize_latent(self.encode(x[None].to(next(self.parameters()).device)))

    @torch.no_grad()
    def quantize_latent(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`quantized_latent` from one image's latent (1, C, h, w), e.g. one computed in tiles."""
        y = y.float()
        lo, hi = self.quantizer.ranges(y)
        codes = self.quantizer.codes(y, lo, hi)[0]
        dtype = torch.uint8 if self.num_bits <= 8 else torch.int32
        return codes.to(dtype).cpu(), lo[0].cpu(), hi[0].cpu()

    @torch.no_grad()
    def dequantized_latent(self, codes: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
        """(codes (C, h, w), lo (C,), hi (C,)) -> y_hat (1, C, h, w), what the decoder is given."""
        self._check_inference()
        dev = next(self.parameters()).device
        return self.quantizer.dequantize(codes[None].to(dev), lo[None].to(dev), hi[None].to(dev))

    @torch.no_grad()
    def reconstruct_from_codes(self, codes: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
        """(codes (C, h, w), lo (C,), hi (C,)) -> x_hat (3, 8h, 8w), unclamped."""
        return self.decode(self.dequantized_latent(codes, lo, hi))[0].cpu()
