"""Depth map in, bokeh out: normalise the map, pick the focus, blend (Eq. 1).

The one place that renders from a depth map: the render CLI's depth mode, the gallery and
``eval.py``'s ``depth_prior`` baseline call :func:`render_depth`. The weights come from
:func:`bokeh_jax.ops.weights_from_depth` instead of the learned head, so the same blend
renders from a phone's depth map, a stereo disparity or the network's depth head.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import jax
import numpy as np
from scipy import ndimage

from bokeh_jax import ops
from bokeh_jax.inference import tiling
from bokeh_jax.inference.resample import resize
from bokeh_jax.io import viz
from bokeh_jax.names import PAPER_KERNELS
from bokeh_jax.ops import layered


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
    flat = np.asarray(disparity, np.float32).ravel()
    k = int(len(flat) * (1.0 - fraction))
    # The same set as the top of a full sort, found in linear time (48 MP photos).
    return float(np.median(np.partition(flat, k)[k:]))


def disparity_map(raw: np.ndarray, hw: tuple[int, int], kind: str = "disparity"
                  ) -> tuple[np.ndarray, bool]:
    """A raw depth/disparity map -> ((H,W) disparity in [0,1] at the photo's size, stretched).

    Normalised at its own size (so invalid pixels are filled before any resampling), then
    resized bilinearly to ``hw``. ``stretched`` is True when the map's aspect ratio differs
    from the photo's by more than 1% plus the rounding of the map's size (a map of another
    photo, or one not turned like it).
    """
    disparity = to_disparity(raw, kind)
    h, w = disparity.shape
    stretched = abs((w / h) / (hw[1] / hw[0]) - 1.0) > 0.01 + 1.0 / h + 1.0 / w
    return resize(disparity, hw), stretched


def disparity_from_log_depth(log_depth: np.ndarray) -> np.ndarray:
    """The network's (H,W) or (H,W,1) log-depth -> disparity in [0,1] (1 = nearest)."""
    ld = np.asarray(log_depth, np.float64).reshape(np.shape(log_depth)[:2])
    # exp(-log z) = 1/z; centring first keeps exp finite for any trained offset.
    return to_disparity(np.exp(-(ld - np.median(ld))), "disparity")


@partial(jax.jit, static_argnames=("kernel_sizes", "with_weights", "display", "aperture",
                                   "blades", "rotation"))
def blend_tile(rgb, alpha, disparity, focus, strength, gamma=1.0, highlight=0.0, *,
               kernel_sizes, with_weights=False, display=False, aperture="gaussian",
               blades=6, rotation=0.0):
    """Eq. 1 from a disparity map on one tile, in linear light with ``gamma`` (1: off, as
    the paper) and any aperture: :func:`render_depth` and ``refocus(renderer="blend")``."""
    weights = ops.weights_from_depth(disparity, focus, strength, kernel_sizes)
    lin = layered.to_linear(rgb, gamma, highlight)
    bokeh = ops.blend_photo(lin, alpha, weights, kernel_sizes, aperture=aperture,
                            blades=blades, rotation=rotation)
    bokeh = layered.from_linear(bokeh, gamma)
    if display:
        bokeh, weights = viz.to_uint8(bokeh), viz.weights_to_rgb(weights)
    return (bokeh, weights) if with_weights else (bokeh,)


def render_depth(rgb: np.ndarray, alpha: np.ndarray | None, disparity: np.ndarray,
                 focus: float, strength: float, kernel_sizes: Sequence[int] = PAPER_KERNELS, *,
                 with_weights: bool = False, window: int = tiling.DEFAULT_WINDOW,
                 display: bool = False) -> list[np.ndarray]:
    """Depth-driven bokeh of a photo of any size, in tiles (see :mod:`~bokeh_jax.inference.tiling`).

    Args:
      rgb: (H,W,3) float32 in [0,1]; alpha: (H,W) uint8 or None (alpha-aware blurs).
      disparity: (H,W) float32, larger = nearer (e.g. :func:`disparity_map`'s output).
      focus: the disparity kept sharp; strength: see :func:`bokeh_jax.ops.weights_from_depth`.
      window: tile size in pixels.
      display: 8-bit results for files, made inside each tile (a quarter of the memory on a
        large photo): the bokeh as uint8 (:func:`bokeh_jax.io.viz.to_uint8`) and the
        weights as their uint8 picture (:func:`bokeh_jax.io.viz.weights_to_rgb`).
    Returns:
      [bokeh (H,W,3) float32 in [0,1]] and, if ``with_weights``, the (H,W,K+1) weights; or
      both as uint8 pictures with ``display``.
    """
    ks = tuple(int(k) for k in kernel_sizes)
    # Focus and strength are traced arguments: a new value does not recompile.
    # gamma and highlight traced as refocus passes them: one program, the same pixels.
    fn = partial(blend_tile, focus=np.float32(focus), strength=np.float32(strength),
                 gamma=np.float32(1.0), highlight=np.float32(0.0),
                 kernel_sizes=ks, with_weights=with_weights, display=display)
    return tiling.apply_tiled(fn, [rgb, alpha, np.asarray(disparity, np.float32)],
                              tiling.halo(ks), window)
