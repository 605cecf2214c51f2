"""A saved codec result's quality curve and a dataset's title, read the same way by the comparison's
tables (`compare`) and its figures (`figures`); here so that neither has to import the other."""
from __future__ import annotations

import numpy as np

DATASET_TITLES = {"voxceleb2": "VoxCeleb2 test identity", "celeba": "CelebA test identities",
                  "kodak": "Kodak", "lfw": "lfw-val test (odd) images", "faces": "fixture faces"}


def msssim_db(values) -> list[float]:
    """MS-SSIM on the decibel scale the field plots, -10 log10(1 - MS-SSIM) (spreads values near 1)."""
    return [float(-10 * np.log10(max(1 - v, 1e-10))) for v in values]


def quality_curve(result: dict, metric: str = "psnr") -> list[float]:
    """A result's quality values: PSNR (dB), or (metric "ms_ssim") MS-SSIM in dB."""
    res = result["results"]
    return list(res["psnr"]) if metric == "psnr" else msssim_db(res.get("ms_ssim") or res["ssim"])
