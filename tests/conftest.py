import os

import pytest
import torch

os.environ.setdefault("AEUTILS_PROFILE", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")

from aeutils import config
from aeutils.datasets import photos  # noqa: E402

# What `@pytest.mark.needs_data(NAME)` checks under the data root (../shared/data) before the test runs.
DATA = {"celeba": lambda: (config.celeba_dir() / "identity.csv").is_file(),
        "lfw-val": lambda: photos.lfw_dir().is_dir(),
        "voxceleb2": lambda: config.voxceleb2_dir().is_dir()}

needs_celeba = pytest.mark.needs_data("celeba")
needs_voxceleb2 = pytest.mark.needs_data("voxceleb2")


def pytest_runtest_setup(item):
    """Skip, with a reason, a test whose `needs_data` sets are absent (`-m "not needs_data"` deselects them)."""
    for mark in item.iter_markers("needs_data"):
        for name in mark.args:
            if not DATA[name]():
                pytest.skip(f"{name} not found under the data root (../shared/data)")


@pytest.fixture(autouse=True)
def restore_thread_count():
    """Every test may call torch.set_num_threads (the thread-count tests, and commands' main() run
    in-process, which set --threads): the count is restored after it, pass or fail."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)
