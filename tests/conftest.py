"""Shared test setup: JAX's persistent compilation cache, data locations, skips."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("BOKEH_JAX_SHARED_DATA", REPO.parent / "shared" / "data"))

# Compiled programs are reused across test runs (and across the subprocesses
# some tests start), which keeps the suite fast on a 2-core CPU.
os.environ.setdefault("BOKEH_JAX_CACHE", str(REPO / ".cache" / "jax-tests"))

from bokeh_jax.cli import enable_compilation_cache  # noqa: E402

enable_compilation_cache(os.environ["BOKEH_JAX_CACHE"])


def pytest_collection_modifyitems(config, items):
    """The long end-to-end tests (slow, browser) first: with the suite spread over the cores
    (make test: pytest -n auto), one started last would run on alone at the end."""
    items.sort(key=lambda item: not any(item.get_closest_marker(m) for m in ("slow", "browser")))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real sample data beside the checkout; skips the test when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real sample data not found at {SHARED_DATA} (only present beside the "
                    "project's own checkout; set BOKEH_JAX_SHARED_DATA to point at it)")
    return SHARED_DATA


# --- shared inputs ---------------------------------------------------------------------
# Helpers are imported by the test modules (`from conftest import ...`); fixtures are found
# by pytest.

TINY_KERNELS = (5, 9)
TINY_RESOLUTION = (32, 48)
# The tests' network keeps one of the hourglass's four levels (compiles ~3x faster); the
# whole MegaDepth network is checked against its PyTorch definition in test_megadepth and
# test_convert, and trains from a .pth in test_train.
TINY_LEVELS = 1


def host_leaves(tree) -> list[np.ndarray]:
    """A pytree's leaves as numpy arrays: compared on the host, where a jnp op per leaf
    would compile programs per leaf shape."""
    import jax

    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def sample_photo(name: str, h: int, w: int) -> np.ndarray:
    """A scikit-image sample photo resized to h x w, float32 in [0,1]."""
    import skimage.data
    from PIL import Image

    img = Image.fromarray(getattr(skimage.data, name)()).resize((w, h), Image.BILINEAR)
    return np.asarray(img, np.float32) / 255


def noisy(x: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """``x`` plus Gaussian noise of std ``sigma``, clipped to [0,1]."""
    rng = np.random.default_rng(seed)
    return np.clip(x + sigma * rng.standard_normal(x.shape), 0, 1).astype(np.float32)


def textured(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Textured uint8 RGB (noise over a gradient): blur visibly changes it."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([x, y, 1 - x], -1) * 120 + 60
    return np.clip(base + rng.normal(0, 40, (h, w, 3)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory) -> Path:
    """A checkpoint folder of the network with random weights: kernels 5/9, one hourglass
    level, run at 32x48, so every test that renders with it compiles small programs."""
    from bokeh_jax.network.checkpoint import save_checkpoint
    from bokeh_jax.network.models import BokehNet
    from bokeh_jax.train.state import init_variables

    meta = {"kind": "test", "kernel_sizes": list(TINY_KERNELS), "head_kernel": 3,
            "head_init": "random", "has_depth_head": True, "hourglass_levels": TINY_LEVELS,
            "resolution": list(TINY_RESOLUTION)}
    variables = init_variables(BokehNet(kernel_sizes=TINY_KERNELS, levels=TINY_LEVELS), 0)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", variables, meta)


@pytest.fixture(scope="session")
def tiny_model(tiny_ckpt):
    from bokeh_jax.inference.model import load_model

    return load_model(tiny_ckpt)
