"""Photos of any size: Eq. 1 on overlapping tiles, so memory stays bounded.

Large-photo strategy: the blur stack is the only non-local step of the blend (the weights of
Eq. 1 are per pixel), so a photo larger than ``window`` pixels along an axis is cut into
windows of exactly ``window`` pixels that overlap by twice the halo (the largest kernel's
radius, ``max(k) // 2``). Each window is blurred and blended on its own; only the pixels at
least a halo away from a cut are kept. A kept pixel's blur then reads the same input pixels
as on the whole photo, and at the photo's own edges the window's edge is the photo's edge,
so the reflect-101 border matches too: the tiled result equals the untiled one (up to float
summation order, ~1e-7). All windows of a photo have one shape (evened out over the photo
and rounded to a multiple of 64, so one compiled program serves all its tiles and those of
photos of the same size); a photo that fits in one window (1024x1536 does) is rendered
whole. With the default 2048-pixel window an 8000x6000 photo takes 5x4 windows of
1664x1600, about 12% of repeated work, and under 2 GiB of memory in all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import jax
import numpy as np

from bokeh_jax import ops
from bokeh_jax.io.viz import to_uint8

DEFAULT_WINDOW = 2048


def halo(kernel_sizes: Sequence[int]) -> int:
    """Pixels of context a blurred pixel needs on each side: the largest kernel's radius."""
    return max(kernel_sizes) // 2


def window_size(n: int, window: int, margin: int) -> int:
    """The window length used along an axis of ``n`` pixels (at most ``window``).

    The fewest windows that fit, then evened out over the axis and rounded up to a multiple
    of 64 (so photos of similar sizes share compiled programs): an 8000-pixel axis gets five
    1664-pixel windows (4% repeated work) where fixed 2048-pixel windows would repeat 28%.
    """
    if n <= window:
        return n
    if window <= 2 * margin:
        raise ValueError(f"window {window} must exceed twice the halo ({2 * margin})")
    count = -(-(n - 2 * margin) // (window - 2 * margin))
    size = -(-(n - 2 * margin) // count) + 2 * margin
    return min(window, -(-size // 64) * 64)


def windows(n: int, window: int, margin: int) -> list[tuple[int, int, int, int]]:
    """Cuts an axis of ``n`` pixels into windows: (start, stop, keep_start, keep_stop).

    Every window has the length :func:`window_size` gives (at most ``window``); the kept
    ranges tile [0, n) exactly, and each kept pixel is at least ``margin`` pixels from its
    window's edges unless that edge is the axis's own (0 or n).
    """
    size = window_size(n, window, margin)
    if size == n:
        return [(0, n, 0, n)]
    out, keep = [], 0
    while keep < n:
        start = min(max(0, keep - margin), n - size)
        stop = start + size
        keep_stop = n if stop == n else stop - margin
        out.append((start, stop, keep, keep_stop))
        keep = keep_stop
    return out


def apply_tiled(fn: Callable[..., Sequence[jax.Array]], arrays: Sequence[np.ndarray | None],
                margin: int, window: int = DEFAULT_WINDOW) -> list[np.ndarray]:
    """Runs ``fn`` on matching windows of ``arrays`` (first two axes H, W) and stitches.

    ``fn(*windows)`` returns a sequence of arrays whose first two axes are the window's;
    ``None`` entries of ``arrays`` are passed through as ``None``. Returns the full-size
    outputs (numpy), built from each window's kept part (see :func:`windows`).
    """
    h, w = next(a for a in arrays if a is not None).shape[:2]
    outs: list[np.ndarray] | None = None
    for y0, y1, ky0, ky1 in windows(h, window, margin):
        for x0, x1, kx0, kx1 in windows(w, window, margin):
            parts = [None if a is None else a[y0:y1, x0:x1] for a in arrays]
            results = [np.asarray(r) for r in fn(*parts)]
            if outs is None:
                outs = [np.empty((h, w, *r.shape[2:]), r.dtype) for r in results]
            for full, r in zip(outs, results, strict=True):
                full[ky0:ky1, kx0:kx1] = r[ky0 - y0:ky1 - y0, kx0 - x0:kx1 - x0]
    return outs


@partial(jax.jit, static_argnames=("kernel_sizes", "method", "display", "aperture", "blades",
                                   "rotation"))
def _blend_tile(rgb, alpha, weights, *, kernel_sizes, method, display, aperture, blades,
                rotation):
    bokeh = ops.blend_photo(rgb, alpha, weights, kernel_sizes, method=method, aperture=aperture,
                            blades=blades, rotation=rotation)
    return (to_uint8(bokeh) if display else bokeh,)


def blend_tiled(rgb: np.ndarray, alpha: np.ndarray | None, weights: np.ndarray,
                kernel_sizes: Sequence[int], *, window: int = DEFAULT_WINDOW,
                method: str | None = None, display: bool = False, aperture: str = "gaussian",
                blades: int = 6, rotation: float = 0.0) -> np.ndarray:
    """Eq. 1 at full size from full-size weights, alpha-aware, in tiles.

    Args:
      rgb: (H,W,3) float32 in [0,1]; alpha: (H,W) uint8 or None.
      weights: (H,W,K+1) float32 blend weights (summing to 1 per pixel).
      window: tile size in pixels; method: the blur method (see :mod:`bokeh_jax.ops.blur`).
      aperture, blades, rotation: the kernels' shape (:func:`bokeh_jax.ops.blur_stack`).
      display: return 8-bit pixels (rounded inside each tile: a quarter of the memory of
        float32 on a large photo, the same values as :func:`bokeh_jax.io.viz.to_uint8`).
    Returns:
      The (H,W,3) render: float32 in [0,1], or uint8 with ``display``.
    """
    ks = tuple(int(k) for k in kernel_sizes)
    fn = partial(_blend_tile, kernel_sizes=ks, method=method, display=display,
                 aperture=aperture, blades=int(blades), rotation=float(rotation))
    return apply_tiled(fn, [rgb, alpha, weights], halo(ks), window)[0]
