"""Super-resolution networks: an SRResNet generator and an SRGAN discriminator.

Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial
Network", CVPR 2017. Changes for a CPU budget, each a published idea:
- no batch norm in the residual blocks (Lim et al. 2017, EDSR): it costs time and, in SR, hurts;
- upsampling stages that halve the width at each x2 step (the full-width stages at high
  resolution cost more than all residual blocks together);
- a global residual over the bicubic upscale of the input (Kim et al. 2016, VDSR), so training
  starts at bicubic quality and the network only learns the missing detail;
- `SubPixelUpsample.reset_to_nearest`, so an x8 model can start from a trained x4 one.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class ResidualBlock(nn.Module):
    """conv3x3 -> PReLU -> conv3x3, added to the input. (N, C, H, W) -> (N, C, H, W)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.PReLU(channels),
            nn.Conv2d(channels, channels, 3, padding=1))

    def forward(self, x):
        return x + self.body(x)


class SubPixelUpsample(nn.Module):
    """x2 upsampling by a convolution to 4 * C_out channels and a pixel shuffle (Shi et al. 2016).
    (N, C_in, H, W) -> (N, C_out, 2H, 2W)."""

    def __init__(self, channels: int, out_channels: int | None = None):
        super().__init__()
        out_channels = out_channels or channels
        self.conv = nn.Conv2d(channels, 4 * out_channels, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)
        self.act = nn.PReLU(out_channels)

    def forward(self, x):
        return self.act(self.shuffle(self.conv(x)))

    @torch.no_grad()
    def reset_to_nearest(self) -> None:
        """Make this stage an exact nearest-neighbour x2 upsampling (identity kernel copied to the
        four sub-pixels, zero bias, linear activation): a new stage that changes nothing yet."""
        c = self.act.weight.numel()
        if self.conv.in_channels != c:
            raise ValueError("a nearest-neighbour stage needs as many channels out as in")
        self.conv.weight.zero_()
        self.conv.bias.zero_()
        for ch in range(c):
            self.conv.weight[4 * ch:4 * ch + 4, ch, 1, 1] = 1.0
        self.act.weight.fill_(1.0)


class SRResNet(nn.Module):
    """The SRGAN generator. LR (N, 3, h, w) in [0, 1] -> SR (N, 3, s*h, s*w), s = `scale` (2, 4, 8).

        lr -> conv9 -> PReLU ─┬─> [ResidualBlock] x blocks -> conv3 ─(+)-> [SubPixelUpsample] x log2(s)
                              └──────────────────────────────────────┘                   |
        bicubic(lr, s) ──────────────────────────────────────────────> (+) <─ conv9 <────┘ -> sr
    """

    def __init__(self, scale: int = 4, channels: int = 64, blocks: int = 8):
        super().__init__()
        if scale not in (2, 4, 8):
            raise ValueError(f"scale must be 2, 4 or 8, not {scale}")
        self.scale, self.channels, self.blocks = scale, channels, blocks
        self.head = nn.Sequential(nn.Conv2d(3, channels, 9, padding=4), nn.PReLU(channels))
        self.body = nn.Sequential(*[ResidualBlock(channels) for _ in range(blocks)],
                                  nn.Conv2d(channels, channels, 3, padding=1))
        # Each x2 stage halves the width (down to 16): the stages at high resolution dominate
        # the cost on a CPU, and the detail they add needs few channels.
        widths = [channels]
        for _ in range(int(math.log2(scale))):
            widths.append(max(16, widths[-1] // 2))
        self.up = nn.Sequential(*[SubPixelUpsample(a, b) for a, b in zip(widths, widths[1:])])
        self.tail = nn.Conv2d(widths[-1], 3, 9, padding=4)

    def arch(self) -> dict:
        """Keyword arguments that rebuild this architecture (what a shipped file stores)."""
        return {"scale": self.scale, "channels": self.channels, "blocks": self.blocks}

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        base = F.interpolate(lr, scale_factor=self.scale, mode="bicubic", align_corners=False)
        h = self.head(lr - 0.5)
        h = h + self.body(h)
        return base + self.tail(self.up(h))

    def load_from_smaller_scale(self, state: dict) -> list[str]:
        """Start from a trained model of half this scale: copy every tensor whose name and shape
        match, and make the extra (last) upsampling stage a nearest-neighbour one. Returns the
        names that were not copied."""
        own = self.state_dict()
        copied = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        self.load_state_dict(copied, strict=False)
        self.up[-1].reset_to_nearest()
        return sorted(set(own) - set(copied))


class Discriminator(nn.Module):
    """The SRGAN discriminator, narrowed: an image (N, 3, H, W) -> one real/fake logit per image (N,).

        conv3 -> [conv3 stride 2, conv3 doubling width] x 3 -> conv3 stride 2 -> global average
        pool -> linear -> LeakyReLU -> linear
    Global pooling lets one discriminator judge any crop size (64 for x4, 96 for x8)."""

    def __init__(self, channels: int = 32):
        super().__init__()

        def block(cin, cout, stride):
            return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout),
                    nn.LeakyReLU(0.2, inplace=True)]

        c = channels
        layers = [nn.Conv2d(3, c, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        layers += block(c, c, 2) + block(c, 2 * c, 1) + block(2 * c, 2 * c, 2)
        layers += block(2 * c, 4 * c, 1) + block(4 * c, 4 * c, 2) + block(4 * c, 8 * c, 1) + block(8 * c, 8 * c, 2)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(8 * c, 8 * c), nn.LeakyReLU(0.2, inplace=True),
                                        nn.Linear(8 * c, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x * 2 - 1).mean(dim=(2, 3))
        return self.classifier(h).squeeze(1)
