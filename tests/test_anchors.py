"""The strong classical anchors: AVIF 4:4:4 at its slow best, HEVC intra 4:4:4 (x265 through PyAV),
what is reported when one is missing, lfw-val as a dataset, and the BD-rate of the learned codecs
against every anchor over 0.1-2 bpp."""
import av
import numpy as np
import pytest

from aeutils.benchmark import classical, compare, hevc
from aeutils.datasets import photos
from aeutils.datasets.sources import smoke_images
from aeutils.metrics import bpp, psnr

needs_x265 = pytest.mark.skipif(hevc.unavailable() is not None, reason=str(hevc.unavailable()))


@pytest.fixture(scope="module")
def face():
    # 50x38: not a multiple of x265's 8-pixel coding grid, so the padding path is exercised.
    return smoke_images(n=1, size=96, seed=4)[0].resize((50, 38))


def by_name(name):
    return {c.name: c for c in classical.classical_codecs()}[name]


@needs_x265
def test_hevc_round_trip_counts_every_byte_and_rate_rises_as_qp_falls(face):
    codec = by_name("hevc444")
    sizes, quality = [], []
    for qp in codec.qualities[::3]:
        data = codec.encode(face, qp)
        out = codec.decode(data)
        assert out.mode == "RGB" and out.size == face.size
        assert data.startswith(b"\0\0\0\1") and b"x265" not in data  # raw stream, no version SEI
        sizes.append(len(data))
        quality.append(psnr(np.asarray(face), np.asarray(out)))
    assert sizes == sorted(sizes) and quality == sorted(quality)
    assert bpp(sizes[0], *face.size) == 8 * sizes[0] / (50 * 38)
    assert codec.encode(face, 30) == codec.encode(face, 30)  # deterministic


def test_hevc_colour_conversion_is_lossless_at_10_bits():
    rgb = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    assert np.array_equal(hevc.to_rgb_array(hevc.to_ycc(rgb)), rgb)


def test_slow_avif_round_trips_and_rate_rises_with_quality(face):
    codec = by_name("avif444-slow")
    sizes = [len(codec.encode(face, q)) for q in (codec.qualities[0], codec.qualities[-1])]
    assert codec.decode(codec.encode(face, 60)).size == face.size
    assert sizes[0] < sizes[1]
    assert f"speed {classical.AVIF_SLOW_SPEED}" in codec.description


def test_a_missing_encoder_is_skipped_with_its_reason(monkeypatch):
    def no_codec(name, mode="r"):
        raise av.codec.codec.UnknownCodecError(name)

    monkeypatch.setattr(av.codec, "Codec", no_codec)
    assert "libx265" in hevc.unavailable()
    assert "hevc444" not in {c.name for c in classical.classical_codecs()}
    missing = classical.unavailable_codecs()
    assert "libx265" in missing["hevc444"] and "decoder only" in missing["vvc-intra"]


def test_list_names_what_is_not_available(capsys):
    from aeutils.cli import main

    assert main(["compare-codecs", "--list"]) == 0
    out = capsys.readouterr().out
    assert "avif444-slow" in out and "vvc-intra" in out and "not available" in out


def fake(name, rates, psnrs, kind="classical"):
    return {"name": name, "kind": kind, "results": {"bpp": list(rates), "psnr": list(psnrs),
                                                      "ms_ssim": [1 - 10 ** (-p / 20) for p in psnrs]}}


def test_bd_rate_is_taken_within_0_1_to_2_bpp():
    rates = [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0]
    psnrs = [28.0, 30.0, 33.0, 36.0, 39.0, 42.0, 45.0]
    # The test is 20% cheaper below 0.1 bpp and above 2 bpp only: no difference inside the window.
    cheaper_outside = [r * 0.8 if r < 0.1 or r > 2 else r for r in rates]
    anchor, test = fake("jpeg2000", rates, psnrs), fake("face-codec", cheaper_outside, psnrs, "learned")
    assert abs(compare.bd_rate_of(anchor, test)) < 2
    assert compare.quality_window(anchor) == pytest.approx((30.0, 42.0))
    assert compare.quality_window(fake("x", [2.5, 3, 4, 5], psnrs[:4])) is None


def test_learned_codecs_get_a_bd_rate_against_every_anchor_present():
    rates, psnrs = [0.1, 0.25, 0.5, 1.0, 2.0], [30.0, 33.0, 36.0, 39.0, 42.0]
    results = [fake("jpeg2000", rates, psnrs), fake("hevc444", [r / 2 for r in rates], psnrs),
               fake("face-codec", [r * 0.9 for r in rates], psnrs, "learned")]
    got = compare.learned_bd_rates({"lfw": results})
    assert set(got["lfw"]) == {"face-codec"}
    assert got["lfw"]["face-codec"]["jpeg2000"]["psnr"] == pytest.approx(-10.0, abs=1e-6)
    assert got["lfw"]["face-codec"]["jpeg2000"]["ms_ssim"] == pytest.approx(-10.0, abs=1e-6)
    table = compare.anchors_table({"lfw": results})
    assert "| face-codec | jpeg2000 | -10.0% / -10.0% |" in table and "| face-codec | hevc444 |" in table
    assert "lfw-val" in table


def test_lfw_is_a_dataset_of_the_odd_numbered_images(tmp_path, monkeypatch):
    for i in range(5):
        smoke_images(n=1, size=32, seed=i)[0].save(tmp_path / f"p{i}.png")
    monkeypatch.setattr(photos, "lfw_dir", lambda: tmp_path)
    assert [name for name, _ in compare.dataset_images("lfw")] == ["p1.png", "p3.png"]


def test_a_nested_comparison_folder_is_not_a_dataset(tmp_path):
    for folder in ("celeba", "anchors/celeba"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "jpeg2000.json").write_text("{}")
    (tmp_path / "anchors" / "tables.md").write_text("")
    (tmp_path / "anchors" / "bd_rates.json").write_text("{}")
    assert compare.saved_datasets(tmp_path) == ["celeba"]
    assert compare.saved_datasets(tmp_path / "anchors") == ["celeba"]
