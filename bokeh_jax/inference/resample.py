"""Resampling between a photo's size and the network's: the working size and a bilinear resize.

Both inference paths (:mod:`~bokeh_jax.inference.learned`, :mod:`~bokeh_jax.inference.depth`)
resize on the host with Pillow's float bilinear filter: a half-pixel-centred triangle,
antialiased when shrinking, the same filter as ``jax.image.resize(..., "linear")`` (they
agree to ~1e-4 on [0,1] values), without a compile per photo size.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def working_size(image_hw: tuple[int, int], resolution: tuple[int, int]) -> tuple[int, int]:
    """The model resolution, turned to match the image's orientation (portrait/landscape)."""
    rh, rw = resolution
    if (image_hw[0] > image_hw[1]) != (rh > rw):
        rh, rw = rw, rh
    return int(rh), int(rw)


def resize(x: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of an (h,w) or (h,w,C) float map to ``hw``, channel by channel."""
    x = np.asarray(x, np.float32)
    if x.shape[:2] == tuple(hw):
        return x
    if x.ndim == 3:
        return np.stack([resize(x[..., i], hw) for i in range(x.shape[-1])], -1)
    img = Image.fromarray(np.ascontiguousarray(x), mode="F")
    return np.asarray(img.resize((hw[1], hw[0]), Image.BILINEAR), np.float32)
