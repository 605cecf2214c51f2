"""`aeutils compress` / `decompress` / `models`: learned face codecs that write real files.

The path of one image, straight through:
    load (RGB, EXIF applied) -> pad to the model's stride -> analyse (g_a in tiles, h_a) -> quantise
    -> entropy-code z, then y (ANS, `constriction`) -> header + payload + CRC -> file
and back:
    file -> check header and CRC -> decode z -> exact integer hyper-synthesis -> decode y
    -> synthesise (g_s in tiles) -> crop -> PNG
A model with a checkerboard context decodes y in two passes: the anchors, then the other half with
their means and scales refined from the decoded anchors (an exact integer context model too). A model
with channel slices splits each pass into one per slice, each refined from what is decoded before it.

Memory: the transforms run in overlapping tiles (`aeutils.tiles`) whose margin covers their
receptive field, so a large photo never holds its full-resolution feature maps; only the latent,
1/256 of the pixels per channel, is coded whole. The file format does not depend on the tiling.

Determinism: everything the entropy decoder depends on (the hyper-synthesis and context model that
predict each symbol's mean and scale, the gains, the probability tables) is computed in exact integer arithmetic
or read from tables stored in the model file, so a file decodes on every machine and thread count
(Balle et al. 2019, "Integer networks for data compression", in spirit). The final synthesis runs
single-threaded over tiles fixed by the image size, so its pixels do not depend on the thread
count either.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import time
from pathlib import Path

import constriction
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from aeutils import batch, zoo
from aeutils.codec import bitstream
from aeutils.codec.refine import REFINE_STEPS, refine_latent
from aeutils.errors import UserError
from aeutils.images import (
    atomic_write_bytes,
    check_pixels,
    load_rgb,
    pad_to_multiple,
    save_image,
    to_image,
    to_uint8_tensor,
)
from aeutils.models.cae import CompressiveAutoencoder
from aeutils.models.entropy import SCALE_TABLE, gaussian_tables
from aeutils.models.hyperprior import MeanScaleHyperprior, anchors, slice_channels
from aeutils.options import add_command, int_between
from aeutils.tiles import tiled

FRAC_ACT, FRAC_W = 8, 12  # fixed-point fractional bits of activations and weights (hyper-synthesis)
Z_RADIUS = 48  # the hyper-latent is coded over -48..48 per channel
DEFAULT_CODEC = "face-codec"
# Tiles of the transforms, in latent positions (16 px): 32 (512 px) plus 4 (64 px) of context on each
# side, which covers the receptive-field radius of g_a (54 px) and of g_s (under 4 latents).
TILE, TILE_MARGIN = 32, 4
POST_MARGIN = 32  # px of context for the post-filter's tiles: its receptive-field radius is 17 px
MAX_REFINE_STEPS = 1000  # --refine's bound: about two minutes of CPU a face
# The refined encoder's tiles, smaller: it keeps every activation for the backward pass. Tiles and
# margins are multiples of 4 latents, so each window is whole hyper-latent positions.
REFINE_TILE = 16
CAE_TILE, CAE_MARGIN = 96, 6  # the same for the experiments' model, in latents of 8 px (radii: 38 px and 4.75 latents)
CORRUPT_END = "corrupt payload (the coded stream does not end where the file does)"


@contextlib.contextmanager
def single_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def model_tag(state_dict: dict) -> bytes:
    """4 bytes that identify exact weights (written into each file, checked on decode)."""
    h = hashlib.sha256()
    for k in sorted(state_dict):
        h.update(k.encode())
        h.update(state_dict[k].detach().cpu().half().numpy().tobytes())
    return h.digest()[:4]


def coding_tables(model: MeanScaleHyperprior) -> dict:
    """The numbers the coder reads instead of recomputing them with transcendental functions:
    z's per-channel tables, y's Gaussian tables, fixed-point gains and scale thresholds.
    Computed once when a model is exported and stored with it."""
    with torch.no_grad():
        gain = model.log_gain.double().exp()  # (levels, M)
        # sigma_q = softplus(s) * gain >= SCALE_TABLE[j]  <=>  s >= log(expm1(SCALE_TABLE[j] / gain))
        ratio = torch.as_tensor(SCALE_TABLE[:-1], dtype=torch.float64).view(1, 1, -1) / gain[..., None]
        thresholds = torch.log(torch.expm1(ratio))
    return {
        "z_probs": model.prior.tables(Z_RADIUS),
        "y_probs": gaussian_tables(),
        "gain_int": torch.round(gain * 2**FRAC_W).long().numpy(),
        "inv_gain_int": torch.round(2**FRAC_W / gain).long().numpy(),  # the context model's input
        "thresholds_int": torch.floor(thresholds * 2**FRAC_ACT).long().numpy(),
    }


def export(model: MeanScaleHyperprior, path: str | Path, metrics: dict | None = None, **extra) -> None:
    """Write a trained codec as a shipped model file, with its coding tables (computed from the weights
    as they are shipped, so that exporting a loaded codec again changes no bit of the files it writes)."""
    model = zoo.as_shipped(model).eval()
    zoo.save_shipped(path, "codec", {"N": model.N, "M": model.M, "levels": model.levels,
                                     "res_blocks": model.res_blocks, "context": model.context,
                                     "post_filter": model.post_filter, "slices": model.slices}, model,
                     metrics, tables=coding_tables(model), **extra)


class LearnedCodec:
    """What both kinds of shipped codec share: decoding a whole file after checking it is theirs."""

    kind = "learned"
    network: type  # the model class a shipped file of this kind rebuilds

    def __init__(self, ck: dict):
        """The shipped network in eval mode, and the tag of its weights that every file it writes carries."""
        self.name = ck["name"]
        self.model = self.network(**ck["arch"]).eval()
        self.model.load_state_dict(ck["state_dict"])
        self.tag = model_tag(self.model.state_dict())
        self.metrics = ck.get("metrics", {})

    @torch.no_grad()
    def decode(self, data: bytes) -> Image.Image:
        header, payload = bitstream.unpack(data)
        self.check(header)
        check_pixels(header.width, header.height, "the compressed image")
        return to_image(self.decode_payload(header, payload))

    def check(self, header: bitstream.Header) -> None:
        if header.kind != self.payload_kind or header.tag != self.tag:
            raise UserError(f"file was written by model {header.model!r} with other weights "
                            f"than the shipped {self.name!r}")


def fixed_point(layers) -> list:
    """[layer, integer weight, integer bias, relu after] for each convolution of `layers`: the exact
    fixed-point copy that `run_fixed_point` runs."""
    out = []
    for layer in layers:
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            w = torch.round(layer.weight.detach().double() * 2**FRAC_W)
            b = torch.round(layer.bias.detach().double() * 2 ** (FRAC_W + FRAC_ACT))
            out.append([layer, w, b, False])
        elif isinstance(layer, torch.nn.ReLU):
            out[-1][3] = True
    return out


def run_fixed_point(int_layers: list, a: torch.Tensor) -> torch.Tensor:
    """Integer activations (float64, FRAC_ACT fractional bits) through `fixed_point` layers. Every
    value is an integer below 2^53, so every sum is exact whatever the order of summation: the same
    result on any machine and thread count, and in tiles."""
    for layer, w, b, relu in int_layers:
        if isinstance(layer, torch.nn.ConvTranspose2d):
            acc = F.conv_transpose2d(a, w, None, layer.stride, layer.padding, layer.output_padding)
        else:
            acc = F.conv2d(a, w, None, layer.stride, layer.padding)
        acc += b.view(1, -1, 1, 1)
        if relu:
            acc.clamp_(min=0)
        a = acc.div_(2**FRAC_W).floor_()
    return a


class FaceCodec(LearnedCodec):
    """A shipped entropy-coded model (mean-scale hyperprior), ready to code files."""

    payload_kind = bitstream.ENTROPY_CODED
    network = MeanScaleHyperprior

    def __init__(self, ck: dict):
        super().__init__(ck)
        self.tables = ck["tables"]
        self.levels = ck["arch"]["levels"]
        self.qualities = list(range(1, self.levels + 1))
        self.context = bool(ck["arch"].get("context"))
        self.slices = int(ck["arch"].get("slices", 1))
        self.description = (f"learned face codec {self.name}: mean-scale hyperprior"
                            f"{' with checkerboard context' if self.context else ''}"
                            f"{f', {self.slices} channel slices' if self.slices > 1 else ''}"
                            f"{' and post-filter' if self.model.post_filter else ''}, "
                            f"{self.levels} quality levels, ANS-coded")
        # exact fixed-point copies of the hyper-synthesis and context model (integer-valued float64)
        self._int_h_s = fixed_point(self.model.h_s)
        if self.context:
            self._int_spatial = fixed_point(self.model.context_model.spatial)
            self._int_params = fixed_point(self.model.context_model.params)
        if self.slices > 1:
            self._int_slices = [fixed_point(net) for net in self.model.channel_context.nets]
        # one model per z channel and per y scale (a table row per symbol would take 12 bytes a pixel)
        self._z_models = [constriction.stream.model.Categorical(p, perfect=False) for p in self.tables["z_probs"]]
        self._y_models = [constriction.stream.model.Categorical(p, perfect=False) for p in self.tables["y_probs"]]
        self._y_radius = [(len(p) - 1) // 2 for p in self.tables["y_probs"]]
        # the fewest bits one hyper-latent position can cost: each channel's most probable value
        # (plus the 2^-24 the coder's quantised probabilities may add)
        p_max = np.asarray(self.tables["z_probs"]).max(axis=1)
        self._z_min_bits = float(-np.log2(np.minimum(1.0, p_max + 2.0**-24)).sum())

    def _hyper_parameters(self, z_hat: torch.Tensor) -> torch.Tensor:
        """Exact integer (mu, s) at FRAC_ACT fractional bits, (1, 2M, 4h, 4w), from integer z_hat
        (1, N, h, w), in tiles (their margin of 2 covers h_s's receptive-field radius of 1.75 z positions)."""
        s = self.model.stride // self.model.latent_stride  # latent positions per z position, a side
        return tiled(lambda t, b, l, r: run_fixed_point(self._int_h_s, z_hat[..., t:b, l:r].double() * 2**FRAC_ACT),
                     *z_hat.shape[-2:], max(TILE // s, 1), 2, scale=s)

    def _decoded(self, params: torch.Tensor, k: torch.Tensor, decoded: torch.Tensor, level: int) -> torch.Tensor:
        """The un-gained latent where `decoded`, zero elsewhere, exact integers at FRAC_ACT fractional bits:
        mu + k / gain, with the mu each symbol k was coded with (`params`)."""
        inv_gain = torch.as_tensor(self.tables["inv_gain_int"][level], dtype=torch.float64).view(1, -1, 1, 1)
        return (params[:, :self.model.M] + (k * inv_gain / 2 ** (FRAC_W - FRAC_ACT)).floor()) * decoded

    def _with_context(self, hyper: torch.Tensor, anchor_hat: torch.Tensor) -> torch.Tensor:
        """h_s's (mu, s) refined by the checkerboard context from the decoded anchors (`_decoded`):
        exact integers as `_hyper_parameters` gives."""
        def refine(t, b, l, r):
            h = hyper[..., t:b, l:r]
            features = run_fixed_point(self._int_spatial, anchor_hat[..., t:b, l:r])
            return h + run_fixed_point(self._int_params, torch.cat([features, h], dim=1))
        return tiled(refine, *hyper.shape[-2:], TILE, 2)  # margin 2: the 5x5 convolution's radius

    def _with_slices(self, base: torch.Tensor, part: int, known: torch.Tensor) -> torch.Tensor:
        """`base`'s (mu, s) with slice `part`'s refined by the channel context from what is decoded (`_decoded`)."""
        c, cs = slice_channels(self.model.M, self.slices, part)
        p = torch.cat([base[:, c], base[:, cs]], dim=1)
        delta = tiled(lambda t, b, l, r: run_fixed_point(self._int_slices[part - 1], torch.cat(
            [known[..., t:b, l:r], p[..., t:b, l:r]], dim=1)), *base.shape[-2:], TILE, 1)  # its 3x3's radius
        out = base.clone()
        out[:, c] += delta[:, :c.stop - c.start]
        out[:, cs] += delta[:, c.stop - c.start:]
        return out

    def _coding_passes(self, hyper: torch.Tensor, k: torch.Tensor, level: int):
        """Yield (where, p) for each pass in decoding order: the symbols it codes and their exact integer
        (mu, s), predicted from the symbols decoded before it, which the caller writes into `k` (in place)
        before asking for the next pass. h_s's (mu, s) in the first phase, the checkerboard's refinement
        in the second; slices after a phase's first refined from the channel context."""
        params, decoded, base = hyper.clone(), torch.zeros(k.shape, dtype=torch.bool), hyper
        for where, phase, part in self._passes(k.shape):
            if phase and not part:
                base = self._with_context(hyper, self._decoded(params, k, decoded, level))
            p = self._with_slices(base, part, self._decoded(params, k, decoded, level)) if part else base
            yield where, p
            params = torch.where(torch.cat([where, where], dim=1), p, params)
            decoded |= where

    def _gained(self, hyper: torch.Tensor, level: int):
        """(mu_q, scale index) of every symbol at quality `level`, from exact integer (mu, s)."""
        mu_int, s_int = hyper.chunk(2, dim=1)
        gain = torch.as_tensor(self.tables["gain_int"][level], dtype=torch.float64).view(1, -1, 1, 1)
        mu_q = mu_int * gain / 2 ** (FRAC_ACT + FRAC_W)
        # each symbol's scale index: how many of its channel's thresholds lie below s (a count, so
        # the thresholds may be sorted first; a binary search keeps memory to one map)
        thresholds = torch.as_tensor(self.tables["thresholds_int"][level], dtype=torch.float64).sort(dim=-1).values
        index = torch.searchsorted(thresholds, s_int[0].flatten(1).contiguous()).view_as(s_int)
        return mu_q, index

    def _passes(self, shape) -> list[tuple[torch.Tensor, int, int]]:
        """(symbols coded (bool, `shape`), phase, slice) of each pass in decoding order: all positions at
        once, or with a context the anchors, then the rest; within each phase the channel slices in turn."""
        phases = [torch.ones(1, 1, *shape[-2:], dtype=torch.bool)]
        if self.context:
            first = anchors(*shape[-2:])
            phases = [first, ~first]
        passes = []
        for phase, where in enumerate(phases):
            for part in range(self.slices):
                channels = torch.zeros(1, shape[1], 1, 1, dtype=torch.bool)
                channels[:, slice_channels(self.model.M, self.slices, part)[0]] = True
                passes.append(((where & channels).expand(shape), phase, part))
        return passes

    def _analysis(self, x: torch.Tensor) -> torch.Tensor:
        """g_a in tiles: uint8 (3, H, W), H and W multiples of 64 -> y (1, M, H/16, W/16)."""
        c = self.model.latent_stride
        return tiled(lambda t, b, l, r: self.model.g_a(x[None, :, c * t:c * b, c * l:c * r].float().div_(255)),
                     x.shape[1] // c, x.shape[2] // c, TILE, TILE_MARGIN)

    def _synthesize(self, k: torch.Tensor, mu_q: torch.Tensor, level: int, h: int, w: int) -> torch.Tensor:
        y_hat = (k + mu_q).float() * self.model.log_inv_gain[level].exp().view(1, -1, 1, 1)
        with torch.no_grad(), single_thread():
            x = tiled(lambda t, b, l, r: self.model.g_s(y_hat[..., t:b, l:r]), *y_hat.shape[-2:], TILE,
                      TILE_MARGIN, scale=self.model.latent_stride)
            if self.model.post_filter:  # on the padded image, as it is validated: cut at the image's
                # edge, the last rows lose their context (up to 0.4 dB worse on validation faces)
                decoded, q = x, torch.tensor([level])
                x = tiled(lambda t, b, l, r: self.model.post(decoded[..., t:b, l:r], q), *x.shape[-2:],
                          TILE * self.model.latent_stride, POST_MARGIN)
        return x[0, :, :h, :w].clamp_(0, 1)

    def _level(self, quality) -> int:
        if int(quality) != quality or not 1 <= quality <= self.levels:
            raise UserError(f"quality must be an integer from 1 to {self.levels} for {self.name}")
        return int(quality) - 1

    def _refined(self, x: torch.Tensor, y: torch.Tensor, level: int, height: int, width: int,
                 steps: int) -> torch.Tensor:
        """y refined for this image (`refine.refine_latent`), in tiles: memory is bounded by the tile
        whatever the photo's size, and a face of up to 256 px a side is one tile."""
        c = self.model.latent_stride

        def one(t, b, l, r):
            return refine_latent(self.model, x[None, :, c * t:c * b, c * l:c * r].float().div_(255),
                                 y[..., t:b, l:r], level, height - c * t, width - c * l, steps)
        return tiled(one, *y.shape[-2:], REFINE_TILE, TILE_MARGIN)

    @torch.no_grad()
    def symbols(self, im: Image.Image, quality, refine: int = 0) -> dict:
        """Quantised symbols of an image (z, k and each k's scale index) and the means they are
        coded around; all the encoder needs, without the synthesis. `refine`: steps of refining the
        latent for this image first (`aeutils.codec.refine`), a slower encoder for smaller files."""
        level = self._level(quality)
        # 8-bit until each tile goes in: a float copy of a large photo would cost 12 bytes a pixel
        x = pad_to_multiple(to_uint8_tensor(im), self.model.stride)
        y = self._analysis(x)
        if refine:
            with torch.enable_grad():
                y = self._refined(x, y, level, im.height, im.width, refine)
        z_hat = torch.round(self.model.h_a(y)).clamp(-Z_RADIUS, Z_RADIUS)
        hyper = self._hyper_parameters(z_hat)
        y_q = y.double() * self.model.log_gain[level].double().exp().view(1, -1, 1, 1)
        k, mu_q = torch.zeros_like(y_q), torch.zeros_like(y_q)
        index = torch.zeros(y_q.shape, dtype=torch.long)
        clamped = 0
        radii = torch.as_tensor(self._y_radius, dtype=torch.float64)  # per scale index
        for where, p in self._coding_passes(hyper, k, level):
            mu_p, index_p = self._gained(p, level)
            radius = radii[index_p]
            k_p = (y_q - mu_p).round_()
            clamped += int(((k_p.abs() > radius) & where).sum())
            k_p = torch.maximum(torch.minimum(k_p, radius), -radius)
            k[where] = k_p[where]  # in place: the next pass is predicted from it
            mu_q, index = torch.where(where, mu_p, mu_q), torch.where(where, index_p, index)
        # The decoder reads this symbol last (the last pass's top scale level's last one); it must not
        # be the alphabet's first, which an exhausted coder yields for free (decode_payload's end check).
        final = where.flatten()
        last = torch.nonzero(final & (index.flatten() == index.flatten()[final].max()))[-1]
        radius = radii[index]
        k.view(-1)[last] = torch.maximum(k.view(-1)[last], 1 - radius.view(-1)[last])
        return {"z": z_hat, "k": k, "index": index, "mu_q": mu_q, "clamped": clamped}

    def analyse(self, im: Image.Image, quality, refine: int = 0) -> tuple[dict, torch.Tensor]:
        """The symbols and the reconstruction the decoder will produce from them."""
        sym = self.symbols(im, quality, refine)
        return sym, self._synthesize(sym["k"], sym["mu_q"], self._level(quality), im.height, im.width)

    def encode(self, im: Image.Image, quality, refine: int = 0) -> bytes:
        """The whole compressed file for one RGB image (`refine`: see `symbols`)."""
        sym = self.symbols(im, quality, refine)
        z = sym["z"][0].numpy().astype(np.int32)  # (N, h, w)
        k, index = sym["k"][0].numpy().astype(np.int32), sym["index"][0].numpy()
        coder = constriction.stream.stack.AnsCoder()
        # ANS is a stack: encode in the reverse of the decoding order (z, then y pass by pass, by scale level)
        for where, _, _ in reversed(self._passes(sym["k"].shape)):
            for level in reversed(range(len(self._y_models))):
                sel = k[where[0].numpy() & (index == level)]
                if sel.size:
                    coder.encode_reverse(sel + self._y_radius[level], self._y_models[level])
        for channel in reversed(range(len(z))):
            coder.encode_reverse(z[channel].reshape(-1) + Z_RADIUS, self._z_models[channel])
        payload = coder.get_compressed().astype("<u4").tobytes()
        header = bitstream.Header(self.payload_kind, self.name, self.tag, im.width, im.height, int(quality))
        return bitstream.pack(header, payload)

    def decode_payload(self, header: bitstream.Header, payload: bytes) -> torch.Tensor:
        if not payload or len(payload) % 4:
            raise UserError("corrupt payload (empty, or not a whole number of 32-bit words)")
        level = self._level(header.quality)
        hp, wp = (-(-header.height // self.model.stride) * self.model.stride,
                  -(-header.width // self.model.stride) * self.model.stride)
        n, zh, zw = self.model.N, hp // 64, wp // 64
        self._check_payload_length(len(payload), zh * zw, (hp // 16) * (wp // 16), header)
        try:
            coder = constriction.stream.stack.AnsCoder(np.frombuffer(payload, dtype="<u4").astype(np.uint32))
            z = np.stack([coder.decode(model, zh * zw) for model in self._z_models]).astype(np.float64)
            if coder.is_empty():  # ran out already: y's symbols, whose last is never free, cannot follow
                raise UserError(CORRUPT_END)
            z_hat = torch.from_numpy(z - Z_RADIUS).view(1, n, zh, zw)
            hyper = self._hyper_parameters(z_hat)
            k = torch.zeros(hyper[:, :self.model.M].shape, dtype=torch.float64)
            mu_q = torch.zeros_like(k)
            for where, p in self._coding_passes(hyper, k, level):
                mu_p, index = self._gained(p, level)
                mu_q = torch.where(where, mu_p, mu_q)
                idx, kk, mask = index[0].numpy(), k[0].numpy(), where[0].numpy()  # kk: a view, fills k
                for lv, model in enumerate(self._y_models):
                    sel = mask & (idx == lv)
                    count = int(sel.sum())
                    if count:
                        symbols = coder.decode(model, count)
                        kk[sel] = symbols - self._y_radius[lv]
                        last = symbols[-1]
        except (ValueError, RuntimeError, IndexError, AssertionError) as e:
            raise UserError(f"corrupt payload ({e.__class__.__name__})") from None
        # The stream must end exactly where the file does: no words left over, and the last symbol
        # not read from an exhausted coder (whose empty state yields symbol 0 for ever, at no cost).
        if not coder.is_empty() or last == 0:
            raise UserError(CORRUPT_END)
        return self._synthesize(k, mu_q, level, header.height, header.width)

    def _check_payload_length(self, length: int, z_positions: int, y_positions: int,
                              header: bitstream.Header) -> None:
        """Refuse, before decoding anything, a payload too short or too long for the declared size:
        each hyper-latent position costs at least `_z_min_bits`, no symbol more than 24 bits (the
        coder's probability precision); 32 bits of slack for the coder's final state."""
        bits = 8 * length
        least = z_positions * self._z_min_bits - 32
        most = 24 * (z_positions * self.model.N + y_positions * self.model.M) + 32
        if not least <= bits <= most:
            raise UserError(f"corrupt file ({length} bytes of payload cannot code "
                            f"a {header.width}x{header.height} image)")


class FixedLengthCodec(LearnedCodec):
    """The experiments' quantised autoencoder (experiments 5 and 7): every latent value at
    `num_bits` bits, plus float16 per-channel min/max as side information; no entropy coding."""

    payload_kind = bitstream.FIXED_LENGTH
    network = CompressiveAutoencoder

    def __init__(self, ck: dict):
        super().__init__(ck)
        self.bits = int(ck["arch"]["num_bits"])
        self.channels = int(ck["arch"]["hidden_state_num_channels"])
        self.stride = 8
        self.qualities = [self.bits]
        self.description = (f"{self.name}: compressive autoencoder, {self.channels} latent channels at 1/8, "
                            f"{self.bits}-bit fixed-length codes, no entropy coding")

    @torch.no_grad()
    def encode(self, im: Image.Image, quality=None) -> bytes:
        if quality not in (None, self.bits):
            raise UserError(f"{self.name} has one quality level, {self.bits} (its bits per latent value)")
        x = pad_to_multiple(to_uint8_tensor(im), self.stride)  # 8-bit until each tile goes in
        s = self.stride
        y = tiled(lambda t, b, l, r: self.model.encode(x[None, :, s * t:s * b, s * l:s * r].float().div_(255)),
                  x.shape[1] // s, x.shape[2] // s, CAE_TILE, CAE_MARGIN)
        codes, lo, hi = self.model.quantize_latent(y)
        side = np.concatenate([lo.numpy(), hi.numpy()]).astype(">f2").tobytes()
        bits = np.unpackbits(codes.numpy().astype(">u2").view(np.uint8).reshape(-1, 2), axis=1)[:, 16 - self.bits:]
        header = bitstream.Header(self.payload_kind, self.name, self.tag, im.width, im.height, self.bits)
        return bitstream.pack(header, side + np.packbits(bits.reshape(-1)).tobytes())

    def decode_payload(self, header: bitstream.Header, payload: bytes) -> torch.Tensor:
        c = self.channels
        hp, wp = -(-header.height // 8) * 8, -(-header.width // 8) * 8
        count = c * (hp // 8) * (wp // 8)
        if header.quality != self.bits or len(payload) != 4 * c + math.ceil(count * self.bits / 8):
            raise UserError("corrupt file (quality or payload length does not match the header)")
        side = np.frombuffer(payload[:4 * c], dtype=">f2").astype(np.float32)
        lo, hi = torch.from_numpy(side[:c].copy()), torch.from_numpy(side[c:].copy())
        bits = np.unpackbits(np.frombuffer(payload[4 * c:], dtype=np.uint8))[:count * self.bits]
        weights = 1 << np.arange(self.bits - 1, -1, -1)
        codes = (bits.reshape(-1, self.bits) * weights).sum(1).reshape(c, hp // 8, wp // 8)
        y_hat = self.model.dequantized_latent(torch.from_numpy(codes), lo, hi)
        with torch.no_grad(), single_thread():
            x = tiled(lambda t, b, l, r: self.model.decode(y_hat[..., t:b, l:r]), *y_hat.shape[-2:], CAE_TILE,
                      CAE_MARGIN, scale=self.stride)
        return x[0, :, :header.height, :header.width].clamp_(0, 1)


class RefinedEncoder:
    """A face codec whose encoder refines each image's latent (`refine_steps` steps): the same model,
    files and decoder, a slower encoder. `compare-codecs` measures it beside the fast one, as it
    measures AVIF at its slow best beside speed 6."""

    kind = "learned"

    def __init__(self, codec: FaceCodec, refine_steps: int = REFINE_STEPS):
        self.codec, self.refine_steps = codec, refine_steps
        self.name = f"{codec.name}-refined"
        self.description = f"{codec.description}; encoder refines each latent ({refine_steps} steps)"
        self.qualities = codec.qualities

    def encode(self, im: Image.Image, quality) -> bytes:
        return self.codec.encode(im, quality, self.refine_steps)

    def decode(self, data: bytes) -> Image.Image:
        return self.codec.decode(data)


def load_codec(name: str):
    """A shipped codec by name: the entropy-coded face codec or an experiment's fixed-length model."""
    ck = zoo.load_shipped(name)
    if ck["task"] == "codec":
        return FaceCodec(ck)
    if ck["task"] == "cae":
        return FixedLengthCodec(ck)
    raise UserError(f"model {name!r} is a {ck['task']} model, not a codec")


def learned_codecs() -> list:
    """Every shipped codec of the project, for `compare-codecs`; a face codec also with its refined encoder."""
    codecs = [load_codec(n) for n in zoo.list_names("codec") + zoo.list_names("cae")]
    return codecs + [RefinedEncoder(c) for c in codecs if isinstance(c, FaceCodec)]


def compress_file(src: str | Path, dst: str | Path, load, quality=4, exclusive: bool = False,
                  refine: int = 0) -> dict:
    """Compress one image file with the codec `load()` gives; returns what was written (bytes, bpp, times).
    `exclusive`: fail if `dst` appears meanwhile (see images.atomic_write_bytes); `refine`: steps of the
    face codec's refined encoder (0: the fast one)."""
    im = load_rgb(src)
    bitstream.check_size(im.width, im.height)
    codec = load()
    if refine and not isinstance(codec, FaceCodec):
        raise UserError(f"--refine needs an entropy-coded face codec; {codec.name!r} is not one")
    t0 = time.perf_counter()
    data = codec.encode(im, quality, refine) if refine else codec.encode(im, quality)
    seconds = time.perf_counter() - t0
    atomic_write_bytes(dst, data, exclusive)
    return {"bytes": len(data), "bpp": 8 * len(data) / (im.width * im.height), "width": im.width,
            "height": im.height, "model": codec.name, "quality": quality, "encode_s": seconds}


def decompress_file(src: str | Path, dst: str | Path, load=load_codec, exclusive: bool = False) -> dict:
    """Decode a file written by `compress_file` with the shipped model it names (`load`: name -> codec)."""
    src = Path(src)
    if not src.is_file():
        raise UserError(f"no such file: {src}")
    try:
        data = src.read_bytes()
    except OSError as e:
        raise UserError(f"cannot read {src} ({e.strerror or e})") from None
    header, _ = bitstream.unpack(data)
    if header.model not in zoo.list_names():
        raise UserError(f"file needs model {header.model!r}, which is not shipped here")
    codec = load(header.model)
    t0 = time.perf_counter()
    im = codec.decode(data)
    seconds = time.perf_counter() - t0
    save_image(im, dst, exclusive)
    return {"width": im.width, "height": im.height, "model": codec.name, "decode_s": seconds}


def register(sub) -> None:
    p = batch.add_parser(sub, "compress", ".aez",
                         description="Compress an image with a shipped learned codec. Any RGB, gray, "
                         "palette or RGBA image; EXIF orientation is applied.")
    p.add_argument("--model", default=DEFAULT_CODEC,
                   help=f"shipped codec (default {DEFAULT_CODEC}; see `aeutils models`)")
    p.add_argument("--quality", type=int, default=6, help="rate point: 1 (smallest) .. 10 (best) for the face codec")
    p.add_argument("--refine", type=int_between(0, MAX_REFINE_STEPS), default=0, metavar="STEPS",
                   help=f"refine the latent for each image in STEPS gradient steps: a slower encoder, smaller "
                   f"files at the same quality, decoded as any (0: off; {REFINE_STEPS} is what compare-codecs runs)")
    p.set_defaults(func=_run_compress)

    p = batch.add_parser(sub, "decompress", ".png",
                         description="Decode a file written by `aeutils compress` (PNG unless the output's "
                         "extension names another format).")
    p.set_defaults(func=_run_decompress)

    p = add_command(sub, "models",
                       description="List the models in weights/ with their task and measured numbers.")
    p.set_defaults(func=_run_models)


def _run_compress(args) -> int:
    load = functools.cache(lambda: load_codec(args.model))

    def one(src: Path, dst: Path) -> str:
        r = compress_file(src, dst, load, args.quality, exclusive=not args.force, refine=args.refine)
        return (f"{dst}: {r['bytes']} bytes, {r['bpp']:.3f} bpp (ratio {24 / r['bpp']:.1f}), {r['width']}x"
                f"{r['height']}, model {r['model']} quality {r['quality']}, {1000 * r['encode_s']:.0f} ms")
    return batch.run(args, one, load, image=False)


def _run_decompress(args) -> int:
    load = functools.cache(load_codec)  # each model that the files name, loaded once

    def one(src: Path, dst: Path) -> str:
        r = decompress_file(src, dst, load, exclusive=not args.force)
        return f"{dst}: {r['width']}x{r['height']}, model {r['model']}, {1000 * r['decode_s']:.0f} ms"
    return batch.run(args, one, suffixes=frozenset({".aez"}))


def _run_models(args) -> int:
    names = zoo.list_names()
    if not names:
        print("no shipped models in", zoo.config.WEIGHTS_DIR)
        return 0
    for name in names:
        ck = zoo.load_shipped(name)
        params = sum(v.numel() for v in ck["state_dict"].values())
        summary = ck.get("metrics", {}).get("summary", "")
        if ck["task"] == "repair":
            summary = f"damage: {ck.get('damage', 'blind')} (aeutils repair --damage)"
        print(f"{name:24s} {ck['task']:10s} {params / 1e6:5.2f}M params  {summary}")
    return 0
