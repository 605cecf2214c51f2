"""Running a repair model: tiled inference, a told model given what the file says of its damage, the
default repair of a photo whose damage is unknown (`AutoRepair`), and loading the shipped models.

A repair model reads the damaged RGB plus a hole-mask channel (`damage.model_input`; zeros when the
damage has no holes or the mask is unknown) and returns the repaired RGB. Where a mask is given, its
holes are first filled by classical biharmonic inpainting, the network refines that fill, and known
pixels are kept: only holes are replaced by the model's output."""
from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from torch import nn

from aeutils import config, zoo
from aeutils.benchmark import baselines, blur_estimate
from aeutils.datasets import damage
from aeutils.images import central_window, luma, to_uint8
from aeutils.models.repair import build
from aeutils.tasks.repair.hparams import INPUTS, JPEG_KINDS, mirrored, told
from aeutils.tasks.repair.jpeg_noise import estimate_jpeg_noise
from aeutils.tasks.repair.mosaic import Region, find_mosaic, find_region, mosaic_grid
from aeutils.tiles import tiled

# Above this quality the told JPEG model returns the photo as it is (as it does a lossless file). On
# 24 validation faces per source (`scripts/robustness.py --jpeg-leave 24`) it gained at least 0.72 dB
# at quality 60 and 0.42 dB at 40-50 on every source, but at 70 it lost 0.06 dB on lfw-val (12 of
# 24 faces worse) and at 80-90 up to 2 dB (2026-12-04; 70 had been chosen on 8 faces per source).
JPEG_LEAVE_ABOVE = 60
SHIPPED = "repair-blind"
# The command's default without --damage (`AutoRepair`): what the file itself and a noise estimate can
# tell. The noise model's correction is applied in a share that grows with `estimate_noise` (`noise_share`):
# none below a ramp's first level, all of it from its second. On textured faces with light noise the
# model's correction points the right way but goes too far, so a part of it still gains where all of it
# loses. One ramp per kind of file (`noise_ramp`), as each hides noise and texture differently: a lossless
# file, a JPEG read as it is, and a JPEG read after the JPEG model (up to JPEG_LEAVE_ABOVE), where the noise
# model replaces a model that changes the photo anyway. In a lossless file the correction is also limited
# per pixel to NOISE_LIMITS times the noise found (`denoise`): Gaussian noise rarely strays past 3-4 sigma,
# while what the model smooths away of a textured face with light noise (hair, a beard, skin pores) can. (In
# a JPEG the estimate reads only part of the noise, and a limit cut the noise removed.) Chosen together on
# validation (`scripts/noise_gate.py`: 24 faces per source, noise sigma 0-50, lossless or saved at quality
# 30-95) for the model told its noise (2026-12-06): per kind, the limit (1-4 sigma or none) and ramp with
# the most summed gain that left no cell worse than its input. Measured again with the noise and JPEG models
# run mirrored (`forward`), the same ramps came out (in a JPEG read as it is, a 4-sigma limit with a 3-3.5
# ramp summed 0.6 dB more over 108 cells, 0.006 dB a cell: kept as it was).
NOISE_RAMPS = {"lossless": (1.75 / 255, 1.75 / 255), "jpeg": (2.5 / 255, 5.0 / 255),
               "deblocked": (0.5 / 255, 1.0 / 255)}
# A lossless colour photo's share is also multiplied by a ramp on where the model's correction lies (SPREAD_RAMP on
# `chroma_spread`): noise drawn for each channel on its own puts two thirds of its energy in the chroma, and the
# correction that takes it away does too (0.6-0.85 on validation faces at sigma 1-5), while what the model mistakes
# for noise lies in the luma: a film scan's grain (the demo's scanned Grace Hopper photo, clean, 0.20-0.30; with
# noise of sigma 3, 0.34-0.41) and the texture of some CelebA faces. Without it the default made that scan up to
# 3.9 dB worse than its input at sigma 1-4 and changed its clean grainiest part (which reads 2.2 levels). A grey
# photo (`colourfulness` under GREY_BELOW) has no chroma to read, and its own ramp (GREY_RAMP), higher: light grey
# noise cannot be told from grain or texture there (the 1.5-4 ramp made the scikit-image cameraman with noise of
# sigma 4 1.1 dB worse, a grey copy of the scan with grey noise of sigma 1-4 up to 2.5 dB). Chosen on validation
# (`scripts/noise_grain.py`, 2026-12-07: 24 faces per source, 24 grey copies under grey noise, 4 crops of the scan
# and grey copies of them, 6 scikit-image sample photos, noise sigma 0-50): the ramps with the most summed gain over
# the faces that left no cell worse than its input (within 0.005 dB). Faces 276.4 dB summed over 44 cells against
# 271.6 with the one 1.5-4 ramp before (colour faces at sigma 2-3 +0.6 to +2.0 dB a cell; grey faces at sigma 3-4
# -1.6 and -1.7, the price of the grey scan's and the cameraman's cells); the scans and sample photos were worse
# than their input in 36 of their 154 cells, by up to 13.8 dB, and are in none now. Noise alone reads 0.62-0.68 at
# sigma 25-75, so there the spread ramp's top leaves up to a tenth of the correction (CelebA test faces 0.04-0.07
# dB).
SPREAD_RAMP = (0.35, 0.65)
GREY_RAMP, GREY_BELOW = (2.5 / 255, 5.0 / 255), 2.0 / 255
NOISE_LIMITS = {"lossless": 4.0}  # kinds without one: no limit
# A JPEG above JPEG_LEAVE_ABOVE also gets the share of a ramp on the noise read through its quantization
# (`estimate_jpeg_noise`), where that is larger: its finest detail, all `estimate_noise` reads, keeps little
# of the noise. On validation faces saved at quality 70-95 that estimate's median read 0.8-0.95 of sigma
# 10-25, `estimate_noise`'s 0.15-0.6 at quality 70-80; clean faces read at most 7.7 levels (textured CelebA
# faces; most under half a level), and from lower starts the model's whole correction made cells of such faces
# with light noise worse, as on lossless files. Chosen on validation (`scripts/noise_gate.py`, 24 faces per
# source, sigma 0-25 saved at quality 70-95, 2026-12-06): the ramp with the most summed gain that left no cell
# worse than its input, 268.9 dB over 96 cells against 242.3 with the first ramp alone. With the correction
# limited per pixel to 1.5-4 times that estimate, no ramp starting lower left every cell as good (best: 8-9
# again, within 0.6 dB): the textured faces lose more than their noise.
JPEG_NOISE_RAMP = (8.0 / 255, 9.0 / 255)
# Lighter noise read through the JPEG's quantization gets the share of a lower ramp (EVEN_NOISE_RAMP) times one on
# how evenly the model's correction spreads over the photo (`evenness`, EVEN_RAMP): noise is in every patch, so the
# model takes some out of each, while the clean faces that read as noisy (CelebA faces with grain or JPEG-sourced
# detail) get their correction on hair and skin texture alone. On validation (`scripts/noise_gate.py`, 24 faces per
# source, saved at quality 70-95, 2026-12-07) the clean faces that read 2.3-7.7 levels through the JPEG
# measured 0.00-0.25, faces with noise of sigma 5 saved at quality 90 0.31-0.68 (10th-90th percentile). Film grain
# is noise too, and spreads as evenly: the demo's scanned Grace Hopper, clean, measures 0.34-0.55 (crops of it
# saved at quality 65-95; `grain_evenness` in the script), and from lower starts the default made it up to 0.45 dB
# worse. So the ramp starts above that, at 0.6: 448.8 dB summed over the 108 validation cells (sigma 0-50, quality
# 70-95) against 420.5 without it (the best start for the validation faces alone, 0.25-0.35, 477-481; the best above
# the grain, a step at 0.6, 457.7: the ramp is a softer edge so near it), no cell worse than its input, no face
# worse than the first two ramps leave the worst (-1.09 dB); sigma 5 at quality 90 +0.19 / +2.05 / +0.41 dB (CelebA
# / VoxCeleb2 / lfw-val; none before).
EVEN_NOISE_RAMP, EVEN_RAMP = (2.5 / 255, 3.0 / 255), (0.6, 0.7)
EVEN_PATCH = 16  # px: the patches whose correction variances `evenness` compares
# `--damage noise --strength SIGMA` (`denoise_given`): a user who knows the noise's sigma gets, where the default
# leaves light noise that reads like texture or film grain, the noise model run on the file as it is and told that
# sigma: the output goes a share of the way from the default's to it, a share that grows with the sigma (per
# `noise_ramp` kind, GIVEN_RAMPS: none below the first level, all of the way from the second). Given more than
# GIVEN_CAP, the model is told GIVEN_CAP or the photo's `noise_level`, whichever is higher: noise that heavy clips,
# and the model learned such photos told what `estimate_noise` reads of them (told the true sigma 50 it was 0.1-0.35
# dB behind the default). Chosen on validation (`scripts/noise_told.py`, 24 faces per source, sigma 3-50 kept
# lossless or saved at quality 40-95, and the demo's scanned Grace Hopper photo under the same noise, 2026-12-07):
# per kind, the ramp with the most summed gain that left no cell worse than its input (nor than the default where
# that already is: the scan at sigma 3 lossless or at quality 60). From the input instead of the default's output,
# all of the way at sigma 3-5 made textured CelebA faces up to 1.2 dB worse than their input and the scan 3.3 dB.
# Gains over the default: JPEG files above JPEG_LEAVE_ABOVE 469.1 dB summed over 84 cells against 448.7 (sigma 7 at
# quality 70-90 +0.2 to +2.4 dB a cell), files up to it 278.5 over 63 against 265.5 (sigma 7-15 at quality 40-60,
# up to +1.4), lossless files 198.0 over 21 against 197.5 (the default already applies all of the correction
# there); no validation cell more than 0.1 dB behind the default, the scan up to 0.44 (sigma 7-10, at quality 80-90
# and 40-50: grain taken with the noise; still ahead of its input).
GIVEN_RAMPS = {"lossless": (5.0 / 255, 5.0 / 255), "jpeg": (5.0 / 255, 8.0 / 255), "deblocked": (5.0 / 255, 8.0 / 255)}
GIVEN_CAP = 25.0 / 255
NOISE_PATCH, NOISE_QUANTILE = 32, 10  # the noise is read in patches of this side, at this percentile of them
NOISE_PROBE = 1024  # the noise is estimated on a central window of this side (bounded time and memory)
# The blur model runs by default where the photo as given (before the JPEG and noise models, which
# smooth it) measures at least this blur (`blur_estimate.blur_sigma`, px). On validation (8 faces of
# each source) clean, noisy, pixelated and JPEG photos measured at most 0.11 px (0.52 after the JPEG
# model: hence measured before it), while faces blurred by 3 px measured 1.1-2.4 (71 of 72).
BLUR_GATE = 0.5
# px: the neighbourhood Telea's fill of a JPEG file's holes averages (`prefill`), for thin lines (at most
# 2 px wide, the grid's) and for wider holes. On validation faces (4 per source, quality 50-95) grid lines
# refined from radius 3 were 0.15-0.79 dB ahead of radius 5 in every cell; blocks and squares 0.05 and
# 0.21 dB behind on average.
JPEG_FILL_RADIUS = {"lines": 3, "holes": 5}


def prefill(im: np.ndarray, mask: np.ndarray, jpeg: bool = False) -> np.ndarray:
    """Fill known holes with a classical fill before the network sees them, so it only has to refine
    it: the smoothest (biharmonic; the best baseline on every hole damage of a lossless photo), or in a
    JPEG file Telea's. A JPEG smears a hole's black into the pixels around it, and biharmonic carries
    that dark edge's slope into the hole: on validation faces saved at quality 30-95 its fill was
    2-5 dB behind Telea's on holes of a seventh to a third of the face, and the models refining it
    as far behind; refining Telea's they were ahead of both (2026-12-05, docs/repair.md).
    uint8 (H, W, 3), bool (H, W)."""
    if not mask.any() or jpeg and mask.all():
        return im
    if not jpeg:
        return baselines.inpaint_biharmonic(im, mask)
    thin = not ndimage.binary_erosion(mask, np.ones((3, 3), bool)).any()  # no 3x3 square fits: lines
    return baselines.inpaint_telea(im, mask, JPEG_FILL_RADIUS["lines" if thin else "holes"])


@torch.no_grad()
def repair_array(model: nn.Module, im: np.ndarray, mask: np.ndarray | None = None, tile: int = 256,
                 overlap: int = 32, progress: bool = False, level: float | None = None,
                 jpeg: bool = False, once: bool = False,
                 grid: tuple[int, int] | None = None) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Repair an 8-bit image (H, W, 3) of any size in tiles: each `tile`-sized window is run with
    `overlap` pixels of context on every side and only its centre is kept, so memory is bounded by
    the tile, not the image. `mask`: bool (H, W), True = hole; holes are prefilled (`prefill`) in each
    window, as in training, the mask goes in as the fourth channel, and known pixels are kept.
    `level`: for a model told the strength (TOLD), its fourth channel (`damage.told_level`).
    `jpeg`: the image is a JPEG file (`prefill`). `grid`: a mosaic's (block side, first column of a block;
    `mosaic.mosaic_grid`), onto which each window and its mirror are shifted (`forward`). Returns uint8
    (H, W, 3); with `once`, also the model's output run once (`forward`), the same where it is not `mirrored`."""
    model.eval()
    h, w = im.shape[:2]
    step = max(tile - 2 * overlap, 16)
    if h <= tile and w <= tile:
        step, overlap = max(h, w), 0

    def window(top: int, bottom: int, left: int, right: int) -> torch.Tensor:
        win = im[top:bottom, left:right] if mask is None else prefill(im[top:bottom, left:right],
                                                                     mask[top:bottom, left:right], jpeg)
        x = torch.from_numpy(np.array(win)).permute(2, 0, 1).float()[None] / 255  # a copy: `im` may be read-only
        if mask is not None:
            m = torch.from_numpy(mask[top:bottom, left:right].astype(np.float32))[None, None]
        else:
            m = None if level is None else torch.full((1, 1, bottom - top, right - left), float(level))
        shift = (0, 0) if grid is None else ((left - grid[1]) % grid[0], (grid[1] - right) % grid[0])
        outs = forward(model, damage.model_input(x, m), once, shift)
        return torch.stack([torch.from_numpy(to_uint8(out)).permute(2, 0, 1) for out in outs])
    outs = [np.ascontiguousarray(out.permute(1, 2, 0).numpy())
            for out in tiled(window, h, w, step, overlap, progress=progress)]
    if mask is not None:
        outs = [np.where(mask[..., None], out, im) for out in outs]
    return tuple(outs) if once else outs[0]


def repair_known(model: nn.Module, im: np.ndarray, params: dict, mask: np.ndarray | None = None,
                 **tiling) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """`repair_array` given what a file can say of its damage (`params`: a JPEG's quality, none for a
    lossless image; a blur's sigma; a noise model is told its photo's `noise_level`): the command's
    repair, the robustness sweep's `run`, the demo's.
    A hole model fills the holes of a JPEG file from Telea's fill (`prefill`)."""
    level = None
    kind = getattr(model, "told", None)
    if kind:
        if kind == "jpeg" and leave_as_is(params.get("quality")) or kind == "blur" and not (
                params.get("sigma") and blur_repairable(params.get("quality"), model)):
            return (im.copy(), im.copy()) if tiling.get("once") else im.copy()
        level = noise_level(im, params.get("quality"), params.get("steps")) if kind == "noise" else \
            damage.told_level(kind, params)
    grid = mosaic_grid(im) if getattr(model, "mosaic", False) else None
    return repair_array(model, im, mask, level=level, jpeg=params.get("quality") is not None, grid=grid, **tiling)


def unmosaic(model: nn.Module, im: np.ndarray, read: np.ndarray | None = None,
             **tiling) -> tuple[np.ndarray, str] | None:
    """The mosaic model's repair of a uint8 photo where a mosaic is found in `read` (the photo itself, or
    what the default reads: the JPEG model's output), and what it found; None where none is found. Where
    the photo-wide search finds one (`find_mosaic`), the whole photo goes through the model; else a mosaic
    over part of the photo (`mosaic.find_region`) is repaired there alone (`repair_region`)."""
    read = im if read is None else read
    if factor := find_mosaic(read):
        return repair_known(model, im, {}, **tiling), f"a mosaic of {factor} px blocks"
    if region := find_region(read):
        share = region.mask.mean()
        return (repair_region(model, im, region, **tiling),
                f"a mosaic of {region.factor} px blocks over {share:.0%} of the photo")
    return None


def repair_region(model: nn.Module, im: np.ndarray, region: Region, **tiling) -> np.ndarray:
    """`im` with the mosaic model's output on the blocks of `region` alone: the model runs on their bounding
    box, which starts on a block (as in training; `repair_array`'s `grid`), and every other pixel is kept as
    it was. With 8-64 px of the photo around the box as context it gained 0.1-0.9 dB less on validation faces
    (a box of half of each side pixelated; the model trained on mosaics over whole crops)."""
    rows, cols = np.nonzero(region.mask)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    out = repair_array(model, im[top:bottom, left:right], grid=(region.factor, 0), **tiling)
    keep = region.mask[top:bottom, left:right]
    repaired = im.copy()
    repaired[top:bottom, left:right][keep] = out[keep]
    return repaired


def run_told(model: nn.Module, im: np.ndarray, told: dict) -> np.ndarray:
    """`repair_known` as a robustness sweep runs it: `told` holds the damage's parameters and, for
    holes, the mask (`--mask`)."""
    return repair_known(model, im, told, told.get("mask"))


class AutoRepair:
    """The default repair for a photo whose damage is unknown, built only from models that never make a
    photo worse: a JPEG file of quality up to JPEG_LEAVE_ABOVE goes through the told JPEG model; a photo
    where a mosaic is then found (`unmosaic`: over the whole photo or part of it) through the mosaic model
    (over part of it, there alone); else the noise model
    runs where the estimated noise is high enough, a share of its correction growing with the estimate
    (`noise_share`; in a JPEG above JPEG_LEAVE_ABOVE also with the noise read through its quantization,
    `JPEG_NOISE_RAMP`, and lighter noise so read where the model's correction spreads evenly, `EVEN_RAMP`;
    replacing the JPEG model: it runs on the file as it is), and then the told blur model
    where the photo as given measures a blur (`blur_estimate.blur_sigma`) of at least BLUR_GATE: a lossless
    one, or with `blur_jpeg` (the blur model for JPEG files) a JPEG above JPEG_LEAVE_ABOVE. Anything else (a
    clean or softly blurred photo, a high-quality JPEG) comes back unchanged. The blind model is not used: it
    made photos up to 20 dB worse than their input."""

    def __init__(self, jpeg: nn.Module, noise: nn.Module, blur: nn.Module | None = None,
                 pixelate: nn.Module | None = None, blur_jpeg: nn.Module | None = None):
        self.jpeg, self.noise, self.blur, self.pixelate, self.blur_jpeg = jpeg, noise, blur, pixelate, blur_jpeg

    @classmethod
    def shipped(cls) -> AutoRepair:
        models = [load_model(f"repair-{kind}")[0] for kind in ("jpeg", "noise", "blur", "pixelate")]
        blur_jpeg = model_for("blur", jpeg=True)
        return cls(*models, blur_jpeg=load_model(blur_jpeg)[0] if blur_jpeg.endswith("-jpeg") else None)

    @classmethod
    def noise_steps(cls, noise: nn.Module | None = None) -> AutoRepair:
        """The default's JPEG and noise steps alone, as `--damage noise` runs them (`noise`: the shipped repair-noise
        where not given)."""
        return cls(load_model("repair-jpeg")[0], noise if noise is not None else load_model("repair-noise")[0])

    def __call__(self, im: np.ndarray, params: dict, **tiling) -> tuple[np.ndarray, list[str]]:
        """(the repaired uint8 image, what was done) given what the file tells (`params`: its JPEG quality,
        and where known its luma quantization steps, `images.jpeg_luma_steps`)."""
        done = []
        quality = params.get("quality")
        deblur = self.blur if quality is None else self.blur_jpeg
        runs = deblur is not None and blur_repairable(quality, deblur) and leave_as_is(quality)
        blur = blur_estimate.blur_sigma(im, jpeg=quality is not None) if runs else 0.0
        unblocked = read = im
        if not leave_as_is(quality):
            # `read`: the JPEG model's output run once, where the gates below read the photo. Its flip
            # self-ensemble (`forward`) is smoother and reads less noise: with the estimate read on it,
            # noisy validation cells lost up to 0.27 dB; read once, none lost (`scripts/noise_gate.py`).
            unblocked, read = repair_known(self.jpeg, im, params, once=True, **tiling)
            done.append(f"JPEG artifacts of quality {quality}")
        # A mosaic is looked for after the JPEG model: a coarse JPEG's own 8-px blocks read like a small
        # mosaic's (`mosaic.mosaic_gaps` up to 8.8 dB on validation photos without one saved at quality
        # 5; at most 2.1 after it), while mosaics of 2-16 px saved at 50-60 still measure at least 3.6 dB
        # after it (`scripts/mosaic_gate.py`).
        if self.pixelate is not None and (found := unmosaic(self.pixelate, unblocked, read, **tiling)):
            return found[0], done + [found[1]]
        sigma = estimate_noise(read)
        kind = noise_ramp(quality)
        grey = is_grey(im)
        share = noise_share(sigma, kind, grey)
        denoised = None
        if kind == "jpeg" and share < 1:  # the noise read through the JPEG's quantization, where it asks for more
            through = estimate_jpeg_noise(im, quality, params.get("steps"))
            if ramp(through, *EVEN_NOISE_RAMP) > share:  # (the lower of its two ramps)
                denoised = denoise(self.noise, im, through, kind, params, **tiling)
                found = max(ramp(through, *JPEG_NOISE_RAMP),
                            ramp(through, *EVEN_NOISE_RAMP) * ramp(evenness(im, denoised), *EVEN_RAMP))
                if found > share:
                    sigma, share = through, found
        if share:
            # from the file as it is: the noise model takes a JPEG's blocks too (it trained on noisy
            # photos saved as JPEGs). On validation (`scripts/noise_gate.py`, 24 faces per source, noise
            # saved at quality 30-60) it gained more that way at sigma 15-50, less at lighter noise, and
            # more in all: 332.5 dB summed over the cells, 329.2 at most with it run after the JPEG model
            # where the estimate reads under 2-15 levels (2026-12-06, the told model).
            if denoised is None:
                denoised = denoise(self.noise, im, sigma, kind, params, **tiling)
            if kind == "lossless":  # what it takes must lie in the chroma too, as noise's does
                share *= spread_share(chroma_spread(im, denoised), grey)
        if share:
            unblocked = blend(unblocked, denoised, share)
            part = f"; {share:.0%} of the model's correction" if share < 1 else ""
            done.append(f"noise (estimated sigma {255 * sigma:.1f} levels{part})")
        im = unblocked
        if blur >= BLUR_GATE:
            im = repair_known(deblur, im, {"sigma": blur, "quality": quality}, **tiling)
            done.append(f"blur (estimated sigma {blur:.2f} px)")
        return im, done


def denoise_given(auto: AutoRepair, im: np.ndarray, sigma: float, params: dict,
                  **tiling) -> tuple[np.ndarray, list[str]]:
    """`aeutils repair --damage noise --strength SIGMA`: (the repaired uint8 image, what was done) for a photo the
    user says holds Gaussian noise of `sigma` ([0, 1] units); `params` as `AutoRepair` takes them. A share of the way
    (`GIVEN_RAMPS`) from the default's output to the noise model's run on the file as it is and told that sigma
    (`given_level`)."""
    quality = params.get("quality")
    share = ramp(sigma, *GIVEN_RAMPS[noise_ramp(quality)])
    default, done = auto(im, params, **tiling) if share < 1 else (im, [])
    if not share:
        return default, done
    level = given_level(im, sigma, quality, params.get("steps"))
    out = repair_array(auto.noise, im, level=level, jpeg=quality is not None, **tiling)
    part = f"; {share:.0%} of the way from the default's output" if share < 1 else ""
    told = 255 * level * damage.NOISE_TOLD_MAX
    return blend(default, out, share), done + [f"noise (sigma {255 * sigma:g} levels as given, the model told "
                                               f"{told:.1f}{part})"]


def given_level(im: np.ndarray, sigma: float, quality: int | None = None, steps: np.ndarray | None = None) -> float:
    """What the noise model reads in its fourth channel for a photo the user says holds noise of `sigma`: that sigma,
    or past GIVEN_CAP, GIVEN_CAP or the photo's `noise_level` where that is higher."""
    level = damage.told_level("noise", {"sigma": min(sigma, GIVEN_CAP)})
    return level if sigma <= GIVEN_CAP else max(level, noise_level(im, quality, steps))


def blur_repairable(quality: int | None, model: nn.Module) -> bool:
    """Whether a told blur model may run on a file: a lossless one, or a JPEG of any quality for the model
    trained on JPEG files (`for_jpeg`); the lossless model sharpens a JPEG's blocks and ringing with the
    blur. On validation faces blurred by 1-3 px and saved at quality 70-95 (`python scripts/blur_estimate.py
    --jpeg`), told the true sigma it was worse than its input in most cells (VoxCeleb2 in every one, by up to
    10 dB), and told the low estimate the default would tell it, up to 0.18 dB worse a cell."""
    return quality is None or getattr(model, "for_jpeg", False)


def estimate_noise(im: np.ndarray) -> float:
    """Gaussian noise sigma in [0, 1] units of a uint8 (H, W, 3) image, read where the photo is flattest.

    Per NOISE_PATCH-px patch of its central window, the spread of the finest diagonal Haar band (median
    absolute value / 0.6745, per channel, averaged), then the NOISE_QUANTILE-th percentile over the
    patches: noise is in every patch, a face's texture (hair, a beard, JPEG-sourced detail) only in
    some. The whole-window estimate before it (Donoho's, `baselines.noise_sigma`) read textured faces
    as noisy, and the noise model then smoothed their detail."""
    x = central_window(im, NOISE_PROBE).astype(np.float32) / 255
    h, w = (side // NOISE_PATCH * NOISE_PATCH for side in x.shape[:2])
    if not h or not w:
        return 0.0
    x = x[:h, :w]
    diagonal = (x[0::2, 0::2] - x[0::2, 1::2] - x[1::2, 0::2] + x[1::2, 1::2]) / 2  # orthonormal Haar HH
    half = NOISE_PATCH // 2
    patches = np.abs(diagonal).reshape(h // NOISE_PATCH, half, w // NOISE_PATCH, half, 3)
    spread = np.median(patches.transpose(0, 2, 1, 3, 4).reshape(-1, half * half, 3), axis=1) / 0.6745
    return float(np.percentile(spread.mean(axis=1), NOISE_QUANTILE))


def chroma_spread(before: np.ndarray, after: np.ndarray) -> float:
    """The share of a correction's energy (uint8 `before` -> `after`, (H, W, 3)) in its chroma (what is left after
    its mean over the channels): 2/3 where it took away noise drawn for each channel on its own, near 0 where it
    took away what lies in the luma alone (a face's texture, a film's grain)."""
    change = central_window(after, NOISE_PROBE).astype(np.float32) - central_window(before, NOISE_PROBE)
    total = float((change ** 2).sum())
    grey = change.mean(axis=-1, keepdims=True)
    return float(((change - grey) ** 2).sum()) / total if total else 0.0


def spread_share(spread: float, grey: bool) -> float:
    """The part of its `noise_share` a lossless photo keeps where the model's correction has this `chroma_spread`:
    SPREAD_RAMP's, or all of it for a grey photo (`is_grey`), which has no chroma to read."""
    return 1.0 if grey else ramp(spread, *SPREAD_RAMP)


def is_grey(im: np.ndarray) -> bool:
    """Whether a uint8 photo is black-and-white (`colourfulness` under GREY_BELOW): its noise gets GREY_RAMP."""
    return colourfulness(im) < GREY_BELOW


def colourfulness(im: np.ndarray) -> float:
    """The root mean square of a uint8 photo's chroma (its difference from its mean over the channels), [0, 1]
    units, over its central window: near 0 for a black-and-white photo."""
    x = central_window(im, NOISE_PROBE).astype(np.float32) / 255
    return float(np.sqrt(((x - x.mean(axis=-1, keepdims=True)) ** 2).mean()))


def evenness(before: np.ndarray, after: np.ndarray) -> float:
    """How evenly a correction (uint8 `before` -> `after`, (H, W, 3)) spreads over a photo: of the variances of its
    luma in EVEN_PATCH-px patches of the central NOISE_PROBE window, the 25th percentile over the 75th (near 1
    where noise was taken from everywhere, near 0 where texture was smoothed in some patches alone)."""
    change = luma(central_window(after, NOISE_PROBE)) - luma(central_window(before, NOISE_PROBE))
    h, w = (side // EVEN_PATCH * EVEN_PATCH for side in change.shape)
    if not h or not w:
        return 0.0
    energy = change[:h, :w].reshape(h // EVEN_PATCH, EVEN_PATCH, w // EVEN_PATCH, EVEN_PATCH).var(axis=(1, 3))
    high = np.percentile(energy, 75)
    return float(np.percentile(energy, 25) / high) if high > 0 else 0.0


def noise_level(im: np.ndarray, quality: int | None = None, steps: np.ndarray | None = None) -> float:
    """What the noise model reads in its fourth channel for a uint8 (H, W, 3) image, in training as in
    use: its `estimate_noise`, not a true sigma, which reads higher wherever noise clips and than what a
    JPEG after the noise leaves (`damage.told_level`); in a JPEG file of `quality` (its luma `steps` where
    known) the larger of that and the noise read through its quantization (`estimate_jpeg_noise`), where
    a JPEG keeps light noise that `estimate_noise` no longer sees."""
    sigma = estimate_noise(im)
    if quality is not None:
        sigma = max(sigma, estimate_jpeg_noise(im, quality, steps))
    return damage.told_level("noise", {"sigma": sigma})


def noise_ramp(quality: int | None) -> str:
    """Which of NOISE_RAMPS applies to a file of JPEG `quality` (None: lossless): up to JPEG_LEAVE_ABOVE its
    noise is read after the JPEG model (`AutoRepair`)."""
    return "lossless" if quality is None else "jpeg" if leave_as_is(quality) else "deblocked"


def noise_share(sigma: float, kind: str, grey: bool = False) -> float:
    """The share of the noise model's correction to apply where `estimate_noise` reads `sigma` in a file of this
    `noise_ramp` kind (before, in a lossless colour photo, the ramp on its `chroma_spread`)."""
    return ramp(sigma, *first_ramp(kind, grey))


def first_ramp(kind: str, grey: bool = False) -> tuple[float, float]:
    """The ramp on `estimate_noise` of a file of this `noise_ramp` kind: NOISE_RAMPS[kind], or for a `grey` lossless
    photo GREY_RAMP."""
    return GREY_RAMP if grey and kind == "lossless" else NOISE_RAMPS[kind]


def denoise(model: nn.Module, im: np.ndarray, sigma: float, kind: str, params: dict | None = None,
            **tiling) -> np.ndarray:
    """The noise model's output on a uint8 photo whose `estimate_noise` reads `sigma` in a file of this
    `noise_ramp` kind (`params`: what the file tells, as `repair_known` takes it), its correction limited per
    pixel to NOISE_LIMITS[kind] * sigma where it has one."""
    out = repair_known(model, im, params or {}, **tiling)
    return out if kind not in NOISE_LIMITS else limit_change(im, out, NOISE_LIMITS[kind] * sigma)


def limit_change(before: np.ndarray, after: np.ndarray, limit: float) -> np.ndarray:
    """`after` (uint8) with its change from `before` limited to `limit` ([0, 1] units) per pixel."""
    change = np.clip(after.astype(np.float32) - before, -255 * limit, 255 * limit)
    return np.clip(np.round(before + change), 0, 255).astype(np.uint8)


def ramp(x: float, low: float, high: float) -> float:
    """0 up to `low`, 1 from `high`, linear between (where they are equal, a step at `low`)."""
    if high <= low:
        return float(x >= low)
    return float(np.clip((x - low) / (high - low), 0.0, 1.0))


def blend(before: np.ndarray, after: np.ndarray, share: float) -> np.ndarray:
    """`share` of the way from one uint8 image to another (all of it: `after` itself)."""
    if share >= 1:
        return after
    mixed = before.astype(np.float32) + share * (after.astype(np.float32) - before)
    return np.clip(np.round(mixed), 0, 255).astype(np.uint8)


def leave_as_is(quality: int | None) -> bool:
    """Whether the told JPEG model has nothing to undo: a lossless file, or above JPEG_LEAVE_ABOVE."""
    return quality is None or quality > JPEG_LEAVE_ABOVE


def mark(model: nn.Module, kind: str | None, strengths: str | None, for_jpeg: bool = False) -> nn.Module:
    """Record on `model` how it is run, as its file's metadata or its run's hparams say: `model.told`, the
    damage whose strength it reads in its fourth channel (a wide model of a TOLD damage; else None),
    `model.study`, whether it trained inside the study's ranges only (`repair-blind`: outside them it makes
    photos worse), `model.mirrored`, whether it runs as a flip self-ensemble (`hparams.mirrored`),
    `model.mosaic`, whether its input is shifted onto a mosaic's grid (`repair_known`), and `model.for_jpeg`,
    whether it trained on JPEG files (`--jpeg`)."""
    model.told = kind if told(kind, strengths) else None
    model.study = strengths != "wide"
    model.mirrored = mirrored(kind, strengths)
    model.mosaic = kind == "pixelate"
    model.for_jpeg = for_jpeg
    return model


def forward(model: nn.Module, inp: torch.Tensor, once: bool = False, shift: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """The model's output for an input batch; for a `mirrored` model, the mean of it and of its output on the
    mirrored input, mirrored back. `once`: the output run once (not mirrored) follows along the batch.
    `shift`: columns of replicated edge put before the input and before the mirrored input, cut from their
    outputs: a mosaic's blocks then start at the first column, as in training (`repair_array`'s `grid`), in
    the mirrored input too, where they would start wherever the photo's width left them."""
    first = _shifted(model, inp, shift[0])
    out = (first + _shifted(model, inp.flip(-1), shift[1]).flip(-1)) / 2 if getattr(model, "mirrored", False) else first
    return torch.cat([out, first]) if once else out


def _shifted(model: nn.Module, x: torch.Tensor, columns: int) -> torch.Tensor:
    if not columns:
        return model(x)
    return model(nn.functional.pad(x, (columns, 0, 0, 0), mode="replicate"))[..., columns:]


def model_for(kind: str, jpeg: bool = False) -> str:
    """The shipped model for a damage: in a JPEG file (`jpeg`) its `repair-KIND-jpeg` where shipped (a hole
    damage's or blur's, trained on JPEG files: `--jpeg`), else its specialist `repair-KIND` where shipped,
    else the blind one."""
    names = [f"repair-{kind}-jpeg"] * (jpeg and kind in JPEG_KINDS) + [f"repair-{kind}"]
    return next((name for name in names if (config.WEIGHTS_DIR / f"{name}.pt").is_file()), SHIPPED)


def load(ck: dict) -> nn.Module:
    """A shipped repair model from its file's dict (`zoo.load_shipped`) in eval mode, marked with the
    damage whose strength it is told and whether it is mirrored (`mark`); told nothing where the file says
    its fourth channel holds a hole mask (`INPUTS`: a model of a TOLD damage trained before it was told)."""
    model = build(ck["arch"])
    model.load_state_dict(ck["state_dict"])
    model = mark(model, ck.get("damage"), ck.get("strengths", "study"), bool(ck.get("saved_as")))
    if ck.get("inputs") == INPUTS:  # its fourth channel holds a hole mask, not a strength
        model.told = None
    return model.eval()


def load_model(name_or_path: str) -> tuple[nn.Module, dict]:
    """A shipped repair model (`weights/<name>.pt` or a path) in eval mode, and its file's contents."""
    ck = zoo.load_shipped(name_or_path, task="repair")
    return load(ck), ck
