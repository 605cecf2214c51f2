"""Building blocks of the project's convolutional autoencoders, named in the field's words.

- `conv_bn_act`: convolution, batch normalisation, activation (the unit every encoder stacks).
- `ResidualBlock`: two 3x3 conv-BN layers with an identity shortcut (He et al. 2016), as in the
  compressive autoencoder of Theis et al. 2017.
- `SubPixelUpsample`: a convolution to r*r times the channels, then a pixel shuffle (Shi et al.
  2016): upsampling without the overlapping kernels that give transposed convolutions their
  checkerboard artifacts (Odena et al. 2016, distill.pub/2016/deconv-checkerboard).
- `TransposedUpsample`: the transposed-convolution upsampler it is compared with.
"""
from __future__ import annotations

import torch
from torch import nn


def conv_bn_act(cin: int, cout: int, kernel: int = 3, stride: int = 1, act: bool = True) -> nn.Sequential:
    """Conv (reflect-padded, "same" for stride 1, halving for stride 2) + BatchNorm (+ LeakyReLU)."""
    layers = [nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, padding_mode="reflect", bias=False),
              nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


class ResidualBlock(nn.Module):
    """x -> x + BN(conv(LReLU(BN(conv(x))))); (N, C, H, W) -> (N, C, H, W)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(conv_bn_act(channels, channels), conv_bn_act(channels, channels, act=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SubPixelUpsample(nn.Module):
    """(N, cin, H, W) -> (N, cout, r*H, r*W): 3x3 conv to cout*r*r channels, then pixel shuffle."""

    def __init__(self, cin: int, cout: int, factor: int = 2, kernel: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout * factor * factor, kernel, padding=kernel // 2, padding_mode="reflect")
        self.shuffle = nn.PixelShuffle(factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(x))


class TransposedUpsample(nn.Module):
    """(N, cin, H, W) -> (N, cout, 2H, 2W) with a 3x3 stride-2 transposed convolution: its kernel
    footprints overlap unevenly (3 is not a multiple of the stride 2), the classic source of
    checkerboard patterns."""

    def __init__(self, cin: int, cout: int, factor: int = 2, kernel: int = 3):
        super().__init__()
        self.conv = nn.ConvTranspose2d(cin, cout, kernel, stride=factor, padding=kernel // 2,
                                       output_padding=factor - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)
