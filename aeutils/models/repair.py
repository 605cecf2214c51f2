"""Damage-repair networks compared in the original's study (design notes, section 6).

All take (N, 4, H, W): the damaged RGB in [0, 1] plus a hole-mask channel (zeros when there is no
mask), work on [-1, 1] inside, and return the repaired RGB (N, 3, H, W) in [0, 1] (unclamped).
Any H, W works: the input is padded to the network's stride and the output cropped back.

- `PlainAutoencoder`: encoder/decoder without skips. Shallow (one down-sampling) keeps pixel detail
  but sees too little to fill large holes; deep (four) fills holes but blurs everything, since
  every pixel must pass through the bottleneck.
- `UNet`: the "pyramidal" autoencoder (Ronneberger et al. 2015): the same encoder/decoder with a
  skip at every resolution, the input itself included (the output is input + correction).
- `FCDenseNet`: the original's final model, "The One Hundred Layers Tiramisu" (Jegou et al. 2017):
  dense blocks down and back up, with transitions built by interchangeable factories
  (`TRANSITIONS_DOWN`: average / max pooling; `TRANSITIONS_UP`: transposed conv / pixel shuffle).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F


def _pad(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Reflect-pad (N, C, H, W) at the bottom/right to multiples of `multiple` (replicate if too small)."""
    ph, pw = -x.shape[-2] % multiple, -x.shape[-1] % multiple
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if ph < x.shape[-2] and pw < x.shape[-1] else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def conv_bn_relu(cin: int, cout: int, stride: int = 1, norm: bool = True) -> nn.Sequential:
    """3x3 conv, batch norm, ReLU; without `norm`, the conv has a bias instead. Batch statistics
    gathered on heavy damage misfire on light damage (a colour cast on a clean photo), so the models
    that must hold up at every strength go without."""
    if not norm:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.ReLU(inplace=True))
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class RepairNet(nn.Module):
    """Shared wrapper: [0, 1] -> [-1, 1], pad to the stride, run `body`, crop, back to [0, 1].
    With `residual`, the body predicts a correction added to the damaged input; with `keep_mean` too,
    that correction has zero mean per channel, for damage that keeps each channel's mean (JPEG keeps
    every block's DC): the model cannot add a colour cast."""

    stride = 1
    residual = False
    keep_mean = False

    def body(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        z = torch.cat([x[:, :3] * 2 - 1, x[:, 3:]], dim=1)
        y = self.body(_pad(z, self.stride))[..., :h, :w]
        if self.residual:
            if self.keep_mean:
                y = y - y.mean((-2, -1), keepdim=True)
            y = y + z[:, :3]
        return (y + 1) / 2


class PlainAutoencoder(RepairNet):
    """Encoder/decoder without skip connections:

        x -> conv -> [conv s2, conv] x depth -> [up x2, conv] x depth -> conv -> y

    `depth` stride-2 stages; widths double per stage up to `max_width`."""

    def __init__(self, in_ch: int = 4, out_ch: int = 3, width: int = 32, depth: int = 2, max_width: int = 256):
        super().__init__()
        self.stride = 2 ** depth
        ws = [min(width * 2 ** i, max_width) for i in range(depth + 1)]
        enc = [conv_bn_relu(in_ch, ws[0])]
        for i in range(depth):
            enc += [conv_bn_relu(ws[i], ws[i + 1], stride=2), conv_bn_relu(ws[i + 1], ws[i + 1])]
        dec = []
        for i in reversed(range(depth)):
            dec += [nn.ConvTranspose2d(ws[i + 1], ws[i], 4, 2, 1, bias=False), nn.BatchNorm2d(ws[i]),
                    nn.ReLU(inplace=True), conv_bn_relu(ws[i], ws[i])]
        self.net = nn.Sequential(*enc, *dec, nn.Conv2d(ws[0], out_ch, 3, padding=1))

    def body(self, x):
        return self.net(x)


# Transition factories: interchangeable ways of halving and doubling resolution.
def _down_max(channels: int, dropout: float = 0.0) -> nn.Module:
    """FC-DenseNet transition down: BN-ReLU-1x1 conv (-dropout), then 2x2 max pooling."""
    return nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True), nn.Conv2d(channels, channels, 1),
                         nn.Dropout2d(dropout), nn.MaxPool2d(2))


def _down_avg(channels: int, dropout: float = 0.0) -> nn.Module:
    """The same with 2x2 average pooling (smoother, keeps more of every pixel)."""
    return nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True), nn.Conv2d(channels, channels, 1),
                         nn.Dropout2d(dropout), nn.AvgPool2d(2))


def _up_transposed(cin: int, cout: int) -> nn.Module:
    """3x3 stride-2 transposed convolution (the Tiramisu paper's choice): (N, cin, H, W) -> (N, cout, 2H, 2W)."""
    return nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1)


def _up_pixelshuffle(cin: int, cout: int) -> nn.Module:
    """3x3 conv to 4*cout channels, then pixel shuffle (Shi et al. 2016): no checkerboard overlap."""
    return nn.Sequential(nn.Conv2d(cin, 4 * cout, 3, padding=1), nn.PixelShuffle(2))


TRANSITIONS_DOWN: dict[str, Callable[..., nn.Module]] = {"max": _down_max, "avg": _down_avg}
TRANSITIONS_UP: dict[str, Callable[[int, int], nn.Module]] = {"transposed": _up_transposed,
                                                             "pixelshuffle": _up_pixelshuffle}


def _factory(table: dict, choice):
    if callable(choice):
        return choice
    if choice not in table:
        raise ValueError(f"unknown transition {choice!r}; choose from {', '.join(table)} or pass a callable")
    return table[choice]


class UNet(RepairNet):
    """Pyramidal autoencoder with a skip at every level (Ronneberger et al. 2015):

        x ------------------------------------------------(+)--> y   (input skip: residual output)
        enc0 (H)   --------------------------- concat -> dec0
          down -> enc1 (H/2) ------- concat -> dec1 -^ up
                    down -> ... bottom -> up -^

    `widths`: channels per level (len(widths) - 1 down-samplings); `down`/`up`: transition factories
    (see `TRANSITIONS_DOWN` / `TRANSITIONS_UP`); `norm`: batch norm in every conv block; `keep_mean`:
    see RepairNet (no weights of its own)."""

    residual = True

    def __init__(self, in_ch: int = 4, out_ch: int = 3, widths=(32, 64, 128, 256), down="max", up="transposed",
                 norm: bool = True, keep_mean: bool = False):
        super().__init__()
        self.keep_mean = keep_mean
        widths = list(widths)
        self.stride = 2 ** (len(widths) - 1)
        down_f = _factory(TRANSITIONS_DOWN, down)
        up_f = _factory(TRANSITIONS_UP, up)
        self.enc = nn.ModuleList()
        self.down = nn.ModuleList()
        cin = in_ch
        for i, w in enumerate(widths):
            self.enc.append(nn.Sequential(conv_bn_relu(cin, w, norm=norm), conv_bn_relu(w, w, norm=norm)))
            if i < len(widths) - 1:
                self.down.append(down_f(w))
            cin = w
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for i in reversed(range(len(widths) - 1)):
            self.up.append(up_f(widths[i + 1], widths[i]))
            self.dec.append(nn.Sequential(conv_bn_relu(2 * widths[i], widths[i], norm=norm),
                                          conv_bn_relu(widths[i], widths[i], norm=norm)))
        self.head = nn.Conv2d(widths[0], out_ch, 1)
        nn.init.zeros_(self.head.weight)  # start as the identity: output = damaged input
        nn.init.zeros_(self.head.bias)

    def body(self, x):
        skips = []
        for i, enc in enumerate(self.enc):
            x = enc(x)
            if i < len(self.down):
                skips.append(x)
                x = self.down[i](x)
        for up, dec in zip(self.up, self.dec):
            x = dec(torch.cat([up(x), skips.pop()], dim=1))
        return self.head(x)


class DenseBlock(nn.Module):
    """`n` layers of BN-ReLU-3x3 conv(`growth`)-dropout, each reading everything before it
    (Huang et al. 2017). (N, C, H, W) -> the new features only, (N, n * growth, H, W)."""

    def __init__(self, cin: int, n: int, growth: int, dropout: float = 0.0):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Sequential(nn.BatchNorm2d(cin + i * growth), nn.ReLU(inplace=True),
                          nn.Conv2d(cin + i * growth, growth, 3, padding=1), nn.Dropout2d(dropout))
            for i in range(n))

    def forward(self, x):
        new = []
        for layer in self.layers:
            out = layer(torch.cat([x, *new], dim=1))
            new.append(out)
        return torch.cat(new, dim=1)


class FCDenseNet(RepairNet):
    """FC-DenseNet, "The One Hundred Layers Tiramisu" (Jegou et al. 2017), as a repair network:

        x -> 3x3 conv(first) -> [DB -> concat -> skip, TD] x len(down_blocks)
          -> DB(bottleneck) -> [TU -> concat skip -> DB] x len(down_blocks) -> 1x1 conv -> (+x) -> y

    DB: `DenseBlock`; TD: `down` factory (channels, dropout); TU: `up` factory applied to the new
    features of the block below only (as in the paper, to keep the up path thin). The defaults are
    the 103-layer configuration: blocks 4, 5, 7, 10, 12 down, 15 at the bottom, the same back up,
    growth 16, 48 first filters."""

    residual = True

    def __init__(self, in_ch: int = 4, out_ch: int = 3, first: int = 48, down_blocks=(4, 5, 7, 10, 12),
                 bottleneck: int = 15, growth: int = 16, dropout: float = 0.2, down="max", up="transposed"):
        super().__init__()
        self.stride = 2 ** len(down_blocks)
        down_f = _factory(TRANSITIONS_DOWN, down)
        up_f = _factory(TRANSITIONS_UP, up)
        self.first = nn.Conv2d(in_ch, first, 3, padding=1)
        self.down_dbs, self.tds, skip_ch = nn.ModuleList(), nn.ModuleList(), []
        c = first
        for n in down_blocks:
            self.down_dbs.append(DenseBlock(c, n, growth, dropout))
            c += n * growth
            skip_ch.append(c)
            self.tds.append(down_f(c, dropout))
        self.bottom = DenseBlock(c, bottleneck, growth, dropout)
        prev_new = bottleneck * growth
        self.tus, self.up_dbs = nn.ModuleList(), nn.ModuleList()
        for n, sc in zip(reversed(down_blocks), reversed(skip_ch)):
            self.tus.append(up_f(prev_new, prev_new))
            self.up_dbs.append(DenseBlock(prev_new + sc, n, growth, dropout))
            c, prev_new = prev_new + sc + n * growth, n * growth
        self.head = nn.Conv2d(c, out_ch, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def body(self, x):
        x = self.first(x)
        skips = []
        for db, td in zip(self.down_dbs, self.tds):
            x = torch.cat([x, db(x)], dim=1)
            skips.append(x)
            x = td(x)
        new = self.bottom(x)
        for tu, db in zip(self.tus, self.up_dbs):
            x = torch.cat([tu(new), skips.pop()], dim=1)
            new = db(x)
            x = torch.cat([x, new], dim=1)
        return self.head(x)

    @staticmethod
    def count_layers(down_blocks=(4, 5, 7, 10, 12), bottleneck: int = 15) -> int:
        """Convolutional layers as the paper counts them: first conv, dense-block layers, transitions, last conv."""
        return 1 + 2 * sum(down_blocks) + bottleneck + 2 * len(down_blocks) + 1


ARCHITECTURES = {"plain": PlainAutoencoder, "unet": UNet, "fcdensenet": FCDenseNet}


def build(arch: dict) -> RepairNet:
    """A model from its description {"name": "unet", **kwargs} (what shipped files store)."""
    kwargs = dict(arch)
    name = kwargs.pop("name")
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown repair architecture {name!r}; choose from {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[name](**kwargs)
