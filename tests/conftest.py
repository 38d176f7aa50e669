import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # for ``import naive``


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def mnist_dir():
    """The real MNIST directory named by FASTAE_DATA, or None."""
    d = os.environ.get("FASTAE_DATA")
    return d if d and Path(d).is_dir() else None
