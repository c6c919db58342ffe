"""Real sample photos for demos and galleries, found at run time (never shipped).

- scikit-image's Middlebury ``stereo_motorcycle`` (left view + ground-truth disparity,
  invalid pixels ``inf``), always available;
- ``shared/data/`` beside the checkout (or ``$BOKEH_JAX_SHARED_DATA``): 6 EBB! pairs
  (``ebb_samples``) and 12 EBB! photos with depth maps (``pynet_samples``), when present.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np


def shared_data_dir() -> Path:
    """``$BOKEH_JAX_SHARED_DATA``, else ``shared/data`` beside the checkout (may not exist)."""
    env = os.environ.get("BOKEH_JAX_SHARED_DATA")
    if env:
        return Path(env)
    checkout = Path(__file__).resolve().parents[2]  # bokeh_jax/io/samples.py -> the repo
    return checkout.parent / "shared" / "data"


def motorcycle() -> tuple[np.ndarray, np.ndarray]:
    """(image (H,W,3) float32 in [0,1], disparity (H,W) float32 with inf where unknown)."""
    import skimage.data

    left, _, disparity = skimage.data.stereo_motorcycle()
    return left.astype(np.float32) / 255.0, disparity.astype(np.float32)


def _by_number(paths) -> list[Path]:
    return sorted(paths, key=lambda p: (int(p.stem) if p.stem.isdigit() else 1 << 30, p.stem))


def pynet_pairs(root: Path | None = None) -> Iterator[tuple[str, Path, Path]]:
    """(name, photo, depth map) of the PyNET samples; depth maps are brighter = nearer."""
    root = Path(root) if root else shared_data_dir() / "pynet_samples"
    for photo in _by_number((root / "images").glob("*.jpg")):
        depth = root / "depth_maps" / f"{photo.stem}.png"
        if depth.is_file():
            yield f"ebb_{photo.stem}", photo, depth


def ebb_originals(root: Path | None = None) -> list[Path]:
    """The all-in-focus photos of the EBB! sample pairs (empty when absent)."""
    root = Path(root) if root else shared_data_dir() / "ebb_samples"
    return _by_number((root / "Training" / "original").glob("*.jpg"))
