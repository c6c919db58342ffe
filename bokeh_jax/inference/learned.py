"""Rendering users' photos with a trained checkpoint: the learned weights or its depth head.

The network runs at the checkpoint's resolution, turned to the photo's orientation
(:func:`bokeh_jax.model_io.working_size`), whatever the photo's size: it is compiled once per
working resolution. Then, per ``policy`` (the paper's test policy or full resolution):

- ``"paper"``: blend at the working resolution (Eq. 1, as :meth:`BokehModel.render`) and
  resize the rendered image back to the photo's size (bilinear);
- ``"fullres"``: upsample the weight maps (bilinear keeps them summing to 1) and blend the
  full-size photo in tiles (:mod:`bokeh_jax.tiling`), keeping its sharp regions sharp.

:meth:`LearnedRenderer.disparity` is what ``--depth auto`` uses: the depth head's log-depth
turned into a [0,1] disparity at the photo's size.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bokeh_jax import depth_render, tiling, viz
from bokeh_jax.model_io import POLICIES, BokehModel, working_size
from bokeh_jax.models import BokehNet


class LearnedOutput(NamedTuple):
    bokeh: np.ndarray  # (H,W,3) uint8
    weights_rgb: np.ndarray | None  # (H,W,3) uint8 picture of the weights, if asked
    disparity: np.ndarray | None  # (H,W) float32 in [0,1] from the depth head, if asked


@partial(jax.jit, static_argnames=("work_hw",))
def _shrink(rgb: jax.Array, alpha: jax.Array | None, *, work_hw: tuple[int, int]):
    """The photo (and alpha) at the working resolution; antialiased like model_io's resize."""
    small = jax.image.resize(rgb, (*work_hw, 3), "linear")
    if alpha is None:
        return small, None
    a = jax.image.resize(alpha.astype(jnp.float32) / 255.0, work_hw, "linear")
    return small, a


@partial(jax.jit, static_argnums=(0,))
def _network(module: BokehNet, variables: dict, small: jax.Array):
    """(weights (h,w,K+1), log-depth (h,w,1)) at the working size: one compile per size."""
    weights, log_depth = module.apply(variables, small[None], method=BokehNet.maps)
    return weights[0], log_depth[0]


@partial(jax.jit, static_argnames=("kernel_sizes",))
def _blend_small(small: jax.Array, alpha: jax.Array | None, weights: jax.Array, *,
                 kernel_sizes: tuple[int, ...]):
    """The paper policy's blend (Eq. 1) at the working size, alpha-aware."""
    return tiling.blend_photo(small, alpha, weights, kernel_sizes)


def upsample(x: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of an (h,w) or (h,w,C) float map to ``hw``, channel by channel.

    Pillow's float resize: the same half-pixel-centred triangle filter (antialiased when
    shrinking) as ``jax.image.resize(..., "linear")`` (max difference ~3e-6), without a
    compile per photo size and fast on photo-sized outputs.
    """
    x = np.asarray(x, np.float32)
    if x.ndim == 2:
        return depth_render.resize_map(x, hw)
    return np.stack([depth_render.resize_map(x[..., i], hw) for i in range(x.shape[-1])], -1)


class LearnedRenderer:
    """Renders photos of any size with a loaded :class:`BokehModel`."""

    def __init__(self, model: BokehModel, policy: str = "paper",
                 window: int = tiling.DEFAULT_WINDOW):
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r}; choose one of {POLICIES}")
        self.model, self.policy, self.window = model, policy, window

    def _run(self, rgb: np.ndarray, alpha: np.ndarray | None, paper: bool):
        hw = working_size(rgb.shape[:2], self.model.resolution)
        small, small_alpha = _shrink(rgb, alpha, work_hw=hw)
        weights, log_depth = _network(self.model.module, self.model.variables, small)
        bokeh = (_blend_small(small, small_alpha, weights,
                              kernel_sizes=self.model.kernel_sizes) if paper else None)
        return weights, log_depth, bokeh

    def render(self, rgb: np.ndarray, alpha: np.ndarray | None = None, *,
               with_weights: bool = False, with_depth: bool = False) -> LearnedOutput:
        """(H,W,3) float32 in [0,1] (+ (H,W) uint8 alpha) -> :class:`LearnedOutput`."""
        hw = rgb.shape[:2]
        paper = self.policy == "paper"
        weights, log_depth, small_bokeh = self._run(rgb, alpha, paper)
        weights_rgb = None
        if paper:
            bokeh = viz.to_uint8(upsample(np.asarray(small_bokeh), hw))
            if with_weights:
                weights_rgb = viz.weights_to_rgb(upsample(np.asarray(weights), hw))
        else:
            out = tiling.render_with_weights(rgb, alpha, upsample(np.asarray(weights), hw),
                                             self.model.kernel_sizes,
                                             with_weights=with_weights, window=self.window)
            bokeh, weights_rgb = out[0], (out[1] if with_weights else None)
        disparity = None
        if with_depth:
            disparity = upsample(depth_render.disparity_from_log_depth(np.asarray(log_depth)),
                                 hw)
        return LearnedOutput(np.asarray(bokeh),
                             None if weights_rgb is None else np.asarray(weights_rgb),
                             disparity)

    def disparity(self, rgb: np.ndarray) -> np.ndarray:
        """The depth head's disparity in [0,1] (1 = nearest) at the photo's (H,W) size."""
        if not self.model.has_depth_head:
            raise ValueError("this checkpoint has no depth head")
        _, log_depth, _ = self._run(rgb, None, paper=False)
        return upsample(depth_render.disparity_from_log_depth(np.asarray(log_depth)),
                        rgb.shape[:2])
