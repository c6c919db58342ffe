"""Rendering bokeh from any depth map: normalise it, pick the focus, blend (Eq. 1).

The weights come from :func:`bokeh_jax.ops.weights_from_depth` instead of the learned head,
so the same blend renders from a phone's depth map, a stereo disparity or the network's
depth head.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image
from scipy import ndimage

from bokeh_jax import ops


def to_disparity(values: np.ndarray, kind: str = "disparity") -> np.ndarray:
    """Any depth-like map -> (H,W) float32 disparity in [0,1], 1 = nearest.

    kind "disparity": larger = nearer (stereo disparity, most phone depth PNGs);
    "depth": larger = farther (metric depth; inverted, since blur follows 1/z).
    Non-finite values (and non-positive depth) are invalid and take the value of the
    nearest valid pixel. The range is normalised robustly (1st..99th percentile).
    """
    v = np.asarray(values, np.float64)
    if v.ndim == 3:
        v = v[..., 0]
    valid = np.isfinite(v)
    if kind == "depth":
        valid &= v > 0
        v = np.where(valid, 1.0 / np.where(valid, v, 1.0), 0.0)
    elif kind != "disparity":
        raise ValueError(f"unknown depth kind {kind!r}; use 'disparity' or 'depth'")
    if not valid.any():
        return np.zeros(v.shape, np.float32)
    if not valid.all():
        idx = ndimage.distance_transform_edt(~valid, return_distances=False,
                                             return_indices=True)
        v = v[tuple(idx)]
    lo, hi = np.percentile(v, [1.0, 99.0])
    if hi <= lo:
        return np.zeros(v.shape, np.float32)
    return np.clip((v - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def resize_map(values: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a single-channel float map to (H, W)."""
    if values.shape[:2] == tuple(hw):
        return values.astype(np.float32)
    img = Image.fromarray(np.asarray(values, np.float32), mode="F")
    return np.asarray(img.resize((hw[1], hw[0]), Image.BILINEAR), np.float32)


def focus_at(disparity: np.ndarray, xy: tuple[int, int]) -> float:
    """The disparity to keep sharp when the user points at pixel (x, y): a local median."""
    h, w = disparity.shape
    x, y = int(np.clip(xy[0], 0, w - 1)), int(np.clip(xy[1], 0, h - 1))
    r = max(1, min(h, w) // 40)
    return float(np.median(disparity[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1]))


def nearest_region_focus(disparity: np.ndarray, fraction: float = 0.1) -> float:
    """Default focus: the median disparity of the nearest ``fraction`` of the pixels.

    In EBB!-like photos the camera focuses on the foreground subject, which is also the
    nearest large region; a median over the nearest tenth ignores stray near pixels.
    """
    flat = np.sort(np.asarray(disparity, np.float32).ravel())
    return float(np.median(flat[int(len(flat) * (1.0 - fraction)):]))


@partial(jax.jit, static_argnames=("kernel_sizes",))
def render_from_disparity(image: jax.Array, disparity: jax.Array, focus: jax.Array,
                          strength: float, kernel_sizes: Sequence[int] = (25, 45, 75)):
    """(H,W,3) image in [0,1] and (H,W) disparity -> (bokeh (H,W,3), weights (H,W,K+1))."""
    weights = ops.weights_from_depth(disparity, focus, strength, kernel_sizes)
    stack = ops.blur_stack(image, kernel_sizes)
    return jnp.clip(ops.blend(image, stack, weights), 0.0, 1.0), weights
