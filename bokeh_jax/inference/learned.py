"""Photo in, bokeh out, for a trained model: the one inference path.

``eval.py`` (and so training validation), :meth:`BokehModel.render` and
``python -m bokeh_jax.render`` all call :func:`render_photo`, so the numbers the evaluation
prints describe the code users run. The network runs at the checkpoint's resolution turned
to the photo's orientation (:func:`~bokeh_jax.inference.resample.working_size`), whatever
the photo's size: it compiles once per working size. Then, per policy (docs/method.md,
"Test policy"):

- ``"paper"``: blend at the working size (Eq. 1) and resize the render back to the photo's
  size (bilinear), the paper's test policy;
- ``"fullres"``: upsample the weight maps (bilinear keeps them summing to 1) and blend the
  full-size photo, in tiles for large photos (:mod:`~bokeh_jax.inference.tiling`), keeping
  its sharp regions sharp.

Photos with an alpha channel get alpha-aware blurs (:func:`bokeh_jax.ops.blend_photo`).
Resizing is on the host (:mod:`~bokeh_jax.inference.resample`).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import numpy as np

from bokeh_jax import ops
from bokeh_jax.inference import depth, tiling
from bokeh_jax.inference.resample import resize, working_size
from bokeh_jax.io import viz
from bokeh_jax.names import PAPER, POLICIES
from bokeh_jax.network.models import BokehNet


class Rendered(NamedTuple):
    """One photo's render, at the photo's size; what was not asked for is None."""

    bokeh: np.ndarray  # (H,W,3) float32 in [0,1] (uint8 with display=True)
    weights: np.ndarray | None  # (H,W,K+1) float32 blend weights (Eq. 2), upsampled
    log_depth: np.ndarray | None  # (H,W,1) float32 log-depth of the depth head, upsampled
    disparity: np.ndarray | None  # (H,W) float32 in [0,1], 1 = nearest, from the depth head


@partial(jax.jit, static_argnums=(0,))
def _network(module: BokehNet, variables: dict, small: jax.Array):
    """(weights (h,w,K+1), log-depth (h,w,1)) at the working size; one compile per working
    size, shared by both policies."""
    weights, log_depth = module.apply(variables, small[None], method=BokehNet.maps)
    return weights[0], log_depth[0]


@partial(jax.jit, static_argnames=("kernel_sizes", "method", "aperture", "blades", "rotation"))
def _blend_small(small: jax.Array, small_alpha: jax.Array | None, weights: jax.Array, *,
                 kernel_sizes: tuple[int, ...], method: str | None, aperture: str,
                 blades: int, rotation: float):
    """The paper policy's Eq. 1 at the working size, alpha-aware."""
    return ops.blend_photo(small, small_alpha, weights, kernel_sizes, method=method,
                           aperture=aperture, blades=blades, rotation=rotation)


def depth_head_disparity(module: BokehNet, variables: dict, resolution: tuple[int, int],
                         rgb: np.ndarray) -> np.ndarray:
    """The depth head's disparity in [0,1] (1 = nearest) at the photo's (H,W) size: what
    ``--depth auto`` renders from. Normalised at the working size, then resized."""
    rgb = np.asarray(rgb, np.float32)
    _, log_depth = _network(module, variables, resize(rgb, working_size(rgb.shape[:2],
                                                                        resolution)))
    return _disparity(np.asarray(log_depth), rgb.shape[:2])


def _disparity(small_log_depth: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    return resize(depth.disparity_from_log_depth(small_log_depth), hw)


def check_policy(policy: str) -> str:
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; choose one of {', '.join(POLICIES)}")
    return policy


def render_photo(module: BokehNet, variables: dict, resolution: tuple[int, int],
                 rgb: np.ndarray, alpha: np.ndarray | None = None, *, policy: str = PAPER,
                 with_weights: bool = False, with_depth: bool = False,
                 window: int = tiling.DEFAULT_WINDOW, display: bool = False) -> Rendered:
    """Renders one photo of any size with a trained network.

    Args:
      module, variables: the :class:`BokehNet` and its variables.
      resolution: (H, W) the network runs at (the checkpoint's), turned to the photo.
      rgb: (H,W,3) float32 in [0,1]; alpha: (H,W) uint8 or None (alpha-aware blurs; the
        alpha itself is the caller's to write back).
      policy: "paper" or "fullres" (see the module docstring).
      with_weights: also return the weights at the photo's size ("fullres" always has them).
      with_depth: also return the depth head's log-depth and disparity at the photo's size.
      window: tile size of the full-size blend ("fullres").
      display: the bokeh as uint8 (:func:`bokeh_jax.io.viz.to_uint8` of the float render;
        "fullres" rounds inside each tile, a quarter of the memory on a large photo).
    Returns:
      A :class:`Rendered`.
    """
    paper = check_policy(policy) == PAPER
    rgb = np.asarray(rgb, np.float32)
    hw = rgb.shape[:2]
    work = working_size(hw, resolution)
    small = resize(rgb, work)
    weights, log_depth = _network(module, variables, small)
    full_weights = resize(np.asarray(weights), hw) if with_weights or not paper else None
    if paper:
        small_alpha = None if alpha is None else resize(np.asarray(alpha, np.float32) / 255, work)
        small_bokeh = _blend_small(small, small_alpha, weights,
                                   kernel_sizes=tuple(module.kernel_sizes),
                                   **module.blur_options())
        bokeh = np.clip(resize(np.asarray(small_bokeh), hw), 0.0, 1.0)
        bokeh = viz.to_uint8(bokeh) if display else bokeh
    else:
        bokeh = tiling.blend_tiled(rgb, alpha, full_weights, tuple(module.kernel_sizes),
                                   window=window, display=display, **module.blur_options())
    full_log_depth = disparity = None
    if with_depth:
        small_log_depth = np.asarray(log_depth)
        full_log_depth = resize(small_log_depth, hw)
        disparity = _disparity(small_log_depth, hw)  # what `--depth auto` renders from
    return Rendered(bokeh, full_weights, full_log_depth, disparity)
