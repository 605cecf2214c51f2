import os

import pytest

os.environ.setdefault("AEUTILS_PROFILE", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")

from aeutils import config  # noqa: E402

needs_celeba = pytest.mark.skipif(not (config.celeba_dir() / "identity.csv").is_file(),
                                  reason="CelebA not found under the data root (../shared/data)")
needs_voxceleb2 = pytest.mark.skipif(not config.voxceleb2_dir().is_dir(),
                                     reason="VoxCeleb2 clips not found under the data root (../shared/data)")
needs_kodak = pytest.mark.skipif(not config.kodak_dir().is_dir(),
                                 reason="Kodak not found under the data root (../shared/data)")
