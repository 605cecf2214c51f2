"""Finding a mosaic (`repair.find_mosaic`) and its grid, or one over part of a photo (`repair.find_region`), the
mosaic model run only where one is found (and there alone): by the command's default and by `--damage pixelate`,
and run mirrored with its input shifted onto the mosaic's grid."""
import io

import numpy as np
import pytest
import torch
from PIL import Image

from aeutils import cli, metrics
from aeutils.datasets import damage
from aeutils.images import sample_faces, to_tensor, to_uint8
from aeutils.tasks import repair


@pytest.fixture(scope="module")
def photo():
    return to_tensor(sample_faces()["grace_hopper"])[:, :192, :192]  # a real photo, in one tile


def saved(im: np.ndarray, quality: int | None) -> np.ndarray:
    """`im` as read back from a JPEG file of `quality` (None: as it is)."""
    if quality is None:
        return im
    buf = io.BytesIO()
    Image.fromarray(im).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


@pytest.mark.parametrize("factor", [2, 3, 5, 8, 13, 16])
def test_a_mosaic_is_found_at_any_offset_lossless_or_saved_as_a_jpeg(photo, factor):
    mosaic = to_uint8(damage.apply("pixelate", photo, factor=factor).image)
    for im in (mosaic, mosaic[5:, 3:], saved(mosaic, 90), saved(mosaic[1:, 6:], 50)):
        assert repair.find_mosaic(im) is not None
    assert repair.find_mosaic(mosaic[7:, 2:]) == factor


def test_no_mosaic_is_found_in_photos_without_one(photo):
    noisy, blurred = (to_uint8(damage.sweep_damage(kind, photo, s, seed=1).image)
                      for kind, s in (("noise", 10 / 255), ("blur", 1.5)))
    clean = to_uint8(photo)
    for im in (clean, noisy, blurred):
        for quality in (None, 95, 75, 50, 30):
            assert repair.find_mosaic(saved(im, quality)) is None
            assert repair.find_region(saved(im, quality)) is None
    flat = np.full((64, 64, 3), 128, np.uint8)
    for im in (flat, clean[:3, :3], clean[:5]):  # nothing to tell a mosaic from: none
        assert repair.find_mosaic(im) is None and repair.find_region(im) is None


def test_a_mosaic_over_part_of_a_photo_is_a_box_pixelated_from_its_corner(photo):
    d = damage.apply("pixelate", photo, seed=1, factor=5, part=0.4)
    top, left, h, w = d.params["box"]
    assert (h, w) == (round(0.4 * 192), round(0.4 * 192)) and d.params["part"] == 0.4
    out, clean = to_uint8(d.image), to_uint8(photo)
    inside = np.zeros(out.shape[:2], bool)
    inside[top:top + h, left:left + w] = True
    assert np.array_equal(out[~inside], clean[~inside]) and not np.array_equal(out[inside], clean[inside])
    block = out[top:top + 5, left:left + 5].reshape(-1, 3)
    assert (block == block[0]).all()  # the box's first block is flat, from its corner


@pytest.mark.parametrize("factor, qualities, part", [(3, [None], 0.5), (6, [None, 90], 0.5), (8, [None, 90], 0.5),
                                                     (6, [None, 90], 0.35)])
def test_a_mosaic_over_part_of_a_photo_is_found_there_and_on_its_grid(photo, factor, qualities, part):
    """A box of part of each side pixelated: too little for the photo-wide search, found block by block, on the
    box's grid, and in the box (whole blocks of it, its edge blocks too, and at most a flat block of the photo
    next to it); saved as a JPEG too, where its blocks are larger than the JPEG's error (small ones in a JPEG are
    found less often: docs/repair.md)."""
    d = damage.apply("pixelate", photo, seed=3, factor=factor, part=part)
    top, left, h, w = d.params["box"]
    for quality in qualities:
        im = saved(to_uint8(d.image), quality)
        assert repair.find_mosaic(im) is None
        region = repair.find_region(im)
        assert (region.factor, region.top, region.left) == (factor, top % factor, left % factor)
        rows, cols = np.nonzero(region.mask)
        assert top - factor <= rows.min() and rows.max() < top + h + factor
        assert left - factor <= cols.min() and cols.max() < left + w + factor
        inside = region.mask[top:top + h, left:left + w].sum()
        assert region.mask.sum() - inside <= 2 * factor ** 2
        assert inside >= 0.5 * h * w  # its edge blocks too, not its flat blocks whose neighbours are flat (dark cloth)


def test_a_mosaic_of_too_few_blocks_is_left_as_it_is(photo):
    """Large blocks in a small box (3 x 3 blocks of 16 px): the mosaic model made faces worse on so few blocks, and
    the box is not taken for a mosaic of a divisor of its side either."""
    im = to_uint8(damage.apply("pixelate", photo, seed=3, factor=16, part=0.3).image)
    assert repair.find_mosaic(im) is None and repair.find_region(im) is None


def test_the_mosaic_grid_is_found_at_its_offset(photo):
    mosaic = to_uint8(damage.apply("pixelate", photo, factor=6).image)
    assert repair.mosaic_grid(mosaic) == (6, 0)
    assert repair.mosaic_grid(mosaic[3:, 2:]) == (6, 4)  # cut 2 columns: blocks now start at column 4
    assert repair.mosaic_grid(to_uint8(photo)) is None


def test_the_mirrored_mosaic_model_sees_whole_blocks_from_its_first_column(photo):
    """As in training, both passes of the flip self-ensemble see the mosaic's blocks start at the input's first
    column, whatever the photo's offset and width; the columns put before them are cut from the output."""
    seen = []

    class Recorder(torch.nn.Module):  # stands in for the mosaic model: records its input, returns it
        def forward(self, x):
            seen.append(x[0, :3])
            return x[:, :3]

    model = repair.mark(Recorder(), "pixelate", "wide")
    assert model.mirrored and model.mosaic
    mosaic = to_uint8(damage.apply("pixelate", photo, factor=6).image)[:, 2:-1]  # from column 4, 189 wide
    assert np.array_equal(repair.repair_known(model, mosaic, {}), mosaic)
    assert len(seen) == 2 and [x.shape[-1] for x in seen] == [191, 190]
    for x in seen:
        runs = x[..., :x.shape[-1] // 6 * 6].reshape(3, x.shape[1], -1, 6)
        assert torch.equal(runs, runs[..., :1].expand_as(runs))


def test_a_mosaic_over_part_of_a_photo_is_repaired_there_alone_from_a_block_on(photo):
    """The model sees the region's bounding box alone, starting on a block as in training; its output
    is kept on the region's blocks and every other pixel comes back as it was."""
    seen = []

    class Negative(torch.nn.Module):  # stands in for the mosaic model: records its input, returns its negative
        def forward(self, x):
            seen.append(x[0, :3])
            return 1 - x[:, :3]

    d = damage.apply("pixelate", photo, seed=3, factor=6, part=0.5)
    im = to_uint8(d.image)
    region = repair.find_region(im)
    out = repair.repair_region(repair.mark(Negative(), "pixelate", "wide"), im, region)
    assert np.array_equal(out[~region.mask], im[~region.mask])
    assert np.array_equal(out[region.mask], 255 - im[region.mask])
    x = (seen[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)  # the first pass's input, in the photo:
    rows, cols = np.nonzero(region.mask)
    at = [(t, c) for t in range(max(rows.min() - 22, 0), rows.min() + 1) for c in range(max(cols.min() - 22, 0),
                                                                                         cols.min() + 1)
          if np.array_equal(im[t:t + x.shape[0], c:c + x.shape[1]], x)]
    assert len(at) == 1 and (at[0][0] % 6, at[0][1] % 6) == (region.top, region.left)  # from a block on
    assert repair.unmosaic(Negative(), to_uint8(photo)) is None
    assert repair.unmosaic(Negative(), im)[1] == f"a mosaic of 6 px blocks over {region.mask.mean():.0%} of the photo"


def test_auto_repair_runs_the_mosaic_model_where_a_mosaic_is_found_after_the_jpeg_model(photo):
    calls = []

    class Recorder(torch.nn.Module):  # stands in for a model: records which ran
        def __init__(self, name):
            super().__init__()
            self.name, self.told = name, name if name in ("jpeg", "blur") else None

        def forward(self, x):
            calls.append(self.name)
            return x[:, :3]

    auto = repair.AutoRepair(*(Recorder(k) for k in ("jpeg", "noise", "blur", "pixelate")))
    mosaic = to_uint8(damage.apply("pixelate", photo, factor=6).image)
    for im, quality, expected in ((mosaic, None, ["pixelate"]), (saved(mosaic, 90), 90, ["pixelate"]),
                                  (saved(mosaic, 40), 40, ["jpeg", "pixelate"])):
        calls.clear()
        _, done = auto(im, {"quality": quality})
        assert calls == expected and done[-1] == "a mosaic of 6 px blocks" and len(done) == len(expected)
    calls.clear()
    out, done = auto(to_uint8(photo), {"quality": None})
    assert calls == [] and done == []


@pytest.mark.slow
def test_the_mosaic_model_runs_only_where_a_mosaic_is_found_through_the_cli(tmp_path, capsys, photo):
    """`aeutils repair --damage pixelate` with the shipped model: a clean photo, lossless or a JPEG,
    is written unchanged with a one-line note (the model altered clean photos); a mosaic comes back
    closer to the photo, as it does from the default; one over part of the photo too, the rest as it was (but
    for a flat block of the photo next to the mosaic's edge)."""
    gt = to_uint8(photo)
    mosaic = to_uint8(damage.apply("pixelate", photo, factor=6).image)
    part = damage.apply("pixelate", photo, seed=3, factor=8, part=0.5)
    top, left, h, w = part.params["box"]
    outside = np.ones(gt.shape[:2], bool)
    outside[top:top + h, left:left + w] = False
    Image.fromarray(gt).save(tmp_path / "clean.png")
    Image.fromarray(gt).save(tmp_path / "clean.jpg", quality=75)
    Image.fromarray(mosaic).save(tmp_path / "mosaic.png")
    Image.fromarray(to_uint8(part.image)).save(tmp_path / "part.png")
    for name in ("clean.png", "clean.jpg", "mosaic.png", "part.png"):
        for damage_args in (["--damage", "pixelate"], []):
            out = tmp_path / f"out-{len(damage_args)}-{name}.png"
            assert cli.main(["repair", str(tmp_path / name), str(out), *damage_args, "--no-progress"]) == 0
            err = capsys.readouterr().err
            src, res = np.asarray(Image.open(tmp_path / name).convert("RGB")), np.asarray(Image.open(out))
            if name.startswith("clean"):
                assert np.array_equal(res, src) and "written unchanged" in err
            elif name == "part.png":
                assert metrics.psnr(res, gt) >= metrics.psnr(src, gt) + 0.3 and "a mosaic of 8 px blocks over" in err
                assert ((res != src).any(-1) & outside).sum() <= 2 * 8 ** 2  # at most a flat block next to the box
            else:
                assert metrics.psnr(res, gt) >= metrics.psnr(mosaic, gt) + 1.0
                assert "no mosaic found" not in err
