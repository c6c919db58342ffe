"""Refocus any photo from its disparity map, like a lens: the one depth-driven renderer.

:func:`refocus` is what the render CLI's depth mode, the gallery, ``eval.py``'s
``depth_prior`` baseline and the app call. Two renderers:

- ``"blend"``: the paper's method (Eq. 1) driven by depth: the photo blurred with three
  kernels (the paper's 25/45/75, scaled to ``max_radius``) and blended per pixel with
  :func:`bokeh_jax.ops.weights_from_depth`; with ``aperture="gaussian"``, ``gamma=1`` and
  ``max_radius=37`` it is exactly :func:`bokeh_jax.inference.depth.render_depth`.
- ``"layered"``: occlusion-aware depth layers, each blurred with its own circle of
  confusion and composited back to front (:mod:`bokeh_jax.ops.layered`).

Any size: photos larger than ``window`` are rendered in overlapping tiles (one compiled
program per tile size; focus, strength, gamma and highlight are traced, so changing them
does not recompile).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

import jax
import numpy as np

from bokeh_jax import ops
from bokeh_jax.inference import depth, tiling
from bokeh_jax.io import viz
from bokeh_jax.names import PAPER_KERNELS
from bokeh_jax.ops import layered
from bokeh_jax.ops.aperture import check_aperture
from bokeh_jax.ops.blend import unit_alpha

RENDERERS = ("blend", "layered")
# What the render CLI's depth mode, the gallery and the app use when not told otherwise:
# occlusion-aware layers, a disk aperture, linear light (README, "Depth mode defaults").
LENS_DEFAULTS = {"renderer": "layered", "aperture": "disk", "gamma": 2.2}
# The radius of the paper's largest kernel (75): strength 1 spans the paper's range.
DEFAULT_MAX_RADIUS = max(PAPER_KERNELS) // 2
# Radii above this would need kernels larger than any photo tile wants.
LARGEST_RADIUS = 256


def blend_kernels(max_radius: float) -> tuple[int, ...]:
    """The paper's kernel sizes (25, 45, 75) scaled so the largest has radius max_radius."""
    scale = max_radius / DEFAULT_MAX_RADIUS
    ks = sorted({2 * max(1, round((k // 2) * scale)) + 1 for k in PAPER_KERNELS})
    return tuple(ks)


def layered_margin(max_radius: float) -> int:
    """The layered renderer's tile halo: a layer's blur reaches max_radius, and so does the
    filling under nearer layers; plus the coarsest scale's blocks."""
    return 2 * math.ceil(max_radius) + 2 * layered.MAX_SCALE


def _check(image, disparity, focus, strength, max_radius, aperture, blades, rotation, renderer,
           gamma, highlight, alpha):
    if renderer not in RENDERERS:
        raise ValueError(f"unknown renderer {renderer!r}; use one of {', '.join(RENDERERS)}")
    check_aperture(aperture, blades, rotation)
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image of shape {image.shape} must be (H,W,3) float in [0,1]")
    disparity = np.asarray(disparity)
    if disparity.shape != image.shape[:2]:
        raise ValueError(f"disparity of shape {disparity.shape} must match the image's "
                         f"{image.shape[:2]} (resize it first, e.g. with "
                         "bokeh_jax.inference.depth.disparity_map)")
    if not np.isfinite(disparity).all():
        raise ValueError("disparity has non-finite values; fill them first (e.g. with "
                         "bokeh_jax.inference.depth.to_disparity)")
    if alpha is not None and np.shape(alpha) != image.shape[:2]:
        raise ValueError(f"alpha of shape {np.shape(alpha)} must be {image.shape[:2]}")
    for name, value, ok, hint in (
            ("focus", focus, lambda v: True, "the disparity to keep sharp"),
            ("strength", strength, lambda v: v >= 0, ">= 0; 1 spans the paper's range"),
            ("max_radius", max_radius, lambda v: 1 <= v <= LARGEST_RADIUS,
             f"a radius in pixels, 1..{LARGEST_RADIUS}; default {DEFAULT_MAX_RADIUS}"),
            ("gamma", gamma, lambda v: 0.2 <= v <= 10, "0.2..10; 1 = off, 2.2 ~ sRGB"),
            ("highlight", highlight, lambda v: v >= 0, ">= 0; 0 = off")):
        try:
            v = float(value)
        except (TypeError, ValueError):
            v = math.nan
        if not (math.isfinite(v) and ok(v)):
            raise ValueError(f"{name}={value!r}: give a finite number ({hint})")


@partial(jax.jit, static_argnames=("max_radius", "aperture", "blades", "rotation", "display"))
def _layered_tile(rgb, alpha, disparity, focus, strength, gamma, highlight, *, max_radius,
                  aperture, blades, rotation, display):
    a = None if alpha is None else unit_alpha(alpha)
    out = layered.render_layered(rgb, disparity, focus, strength, max_radius=max_radius,
                                 aperture=aperture, blades=blades, rotation=rotation,
                                 gamma=gamma, highlight=highlight, alpha=a)
    return (viz.to_uint8(out) if display else out,)


def refocus(image: np.ndarray, disparity: np.ndarray, *, focus: float, strength: float = 1.0,
            max_radius: float | None = None, aperture: str = "disk", blades: int = 6,
            rotation: float = 0.0, renderer: str = "layered", gamma: float = 1.0,
            highlight: float = 0.0, alpha: np.ndarray | None = None,
            kernel_sizes: Sequence[int] | None = None, window: int = tiling.DEFAULT_WINDOW,
            display: bool = False) -> np.ndarray:
    """Depth-of-field of a lens focused at disparity ``focus``.

    Args:
      image: (H,W,3) float32 sRGB in [0,1].
      disparity: (H,W) float32, larger = nearer, used as given (no renormalisation).
      focus: the disparity kept sharp.
      strength: the circle of confusion has radius ``strength * |disparity - focus| *
        max_radius`` pixels (thin lens), never more than ``max_radius``.
      max_radius: pixels; default 37, the radius of the paper's largest kernel (75).
      aperture: "disk", "polygon" (``blades`` sides, ``rotation`` degrees) or "gaussian"
        (the paper's kernels; size k for radius (k-1)/2).
      renderer: "layered" (occlusion-aware) or "blend" (the paper's Eq. 1).
      gamma: blur in linear light, ``I ** gamma`` before and ``** (1/gamma)`` after (1: off).
      highlight: boost of near-clipped pixels before the blur (0: off; see
        :func:`bokeh_jax.ops.layered.to_linear`).
      alpha: optional (H,W) uint8 or [0,1] coverage: transparent pixels add no colour.
      kernel_sizes: the blend renderer's kernel sizes (default :func:`blend_kernels`).
      window: tile size for large photos; display: return uint8 (rounded inside each tile).

    Returns:
      (H,W,3) float32 in [0,1] (uint8 with ``display``).
    """
    max_radius = DEFAULT_MAX_RADIUS if max_radius is None else max_radius
    _check(image, disparity, focus, strength, max_radius, aperture, blades, rotation, renderer,
           gamma, highlight, alpha)
    max_radius = float(max_radius)
    shape = dict(aperture=aperture, blades=int(blades), rotation=float(rotation),
                 display=display)
    if renderer == "layered":
        fn = partial(_layered_tile, max_radius=max_radius, **shape)
        margin = layered_margin(max_radius)
    else:
        ks = tuple(int(k) for k in kernel_sizes) if kernel_sizes else blend_kernels(max_radius)
        fn = partial(depth.blend_tile, kernel_sizes=ks, **shape)
        margin = tiling.halo(ks)
    scalars = [np.float32(v) for v in (focus, strength, gamma, highlight)]
    fn = partial(fn, focus=scalars[0], strength=scalars[1], gamma=scalars[2],
                 highlight=scalars[3])
    arrays = [np.asarray(image, np.float32), None if alpha is None else np.asarray(alpha),
              np.asarray(disparity, np.float32)]
    return tiling.apply_tiled(fn, arrays, margin, window)[0]


def blur_picture(disparity: np.ndarray, *, focus: float, strength: float = 1.0,
                 max_radius: float | None = None, renderer: str = "layered",
                 kernel_sizes: Sequence[int] | None = None) -> np.ndarray:
    """A (H,W,3) uint8 picture of where and how much :func:`refocus` blurs.

    ``blend``: the blend weights (:func:`bokeh_jax.io.viz.weights_to_rgb`: white = sharp;
    blue, green, orange = the kernels). ``layered``: the circle-of-confusion radius, dark
    (sharp) to bright (``max_radius``), through :func:`bokeh_jax.io.viz.colorize`.
    """
    max_radius = float(DEFAULT_MAX_RADIUS if max_radius is None else max_radius)
    d = np.asarray(disparity, np.float32)
    if renderer == "layered":
        radius = np.abs(np.asarray(layered.coc_radius(d, focus, strength, max_radius)))
        return viz.colorize(radius, 0.0, max_radius)
    ks = tuple(int(k) for k in kernel_sizes) if kernel_sizes else blend_kernels(max_radius)
    rows = []
    for y in range(0, d.shape[0], 512):  # bounded memory on large photos
        w = ops.weights_from_depth(d[y:y + 512], np.float32(focus), np.float32(strength), ks)
        rows.append(np.asarray(viz.weights_to_rgb(w)))
    return np.concatenate(rows, axis=0)
