"""Statistics of bokeh pairs and photos: what the synthetic dataset is calibrated to.

Measured on EBB! (``experiments/ebb_statistics.py``; the numbers are in
``docs/synthetic_data.md``) and on our own synthetic pairs, so the two can be compared
with the same code:

- :func:`exposure_gain`: per-channel ratio of the bokeh photo's mean to the original's
  (EBB!'s two photos are separate exposures).
- :func:`blur_map`: per tile, the Gaussian sigma that best maps the original to the bokeh
  photo (after the exposure gain), in pixels of the image it is measured on. A disk of
  radius R has the per-axis spread of a Gaussian of sigma R/2 (its second moment), which
  turns the fit into a circle-of-confusion radius.
- :func:`region_stats`: the fraction of the frame a mask covers and where its largest
  connected part sits (the sharp subject from a blur map, or the near region of a depth
  map, :func:`near_mask`).
- :func:`detail_stats`: how much fine detail a photo has: the share of its gradient
  energy at scales below ``sigma`` pixels, and the RMS of what a blur of sigma removes.

All images are float arrays in [0, 1], (H, W, 3) or (H, W).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

# Candidate sigmas of the blur fit, in pixels: 0 (identity), then a geometric grid.
BLUR_SIGMAS: tuple[float, ...] = (0.0, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 11.0, 16.0, 22.0,
                                  32.0, 45.0, 64.0)
# A tile is "sharp" when its best sigma is at most this (pixels at EBB!'s 1536x1024),
# "blurred" from BLURRED_MIN up; in between it is neither.
SHARP_MAX = 2.0
BLURRED_MIN = 4.0


def _gray(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x if x.ndim == 2 else x @ np.array([0.299, 0.587, 0.114], np.float32)


def gaussian(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of the two spatial axes with mirrored borders (OpenCV's REFLECT_101)."""
    if sigma <= 0:
        return np.asarray(x, np.float32)
    sig = (sigma, sigma) + (0,) * (np.ndim(x) - 2)
    return ndimage.gaussian_filter(np.asarray(x, np.float32), sig, mode="mirror", truncate=3.0)


def exposure_gain(original: np.ndarray, bokeh: np.ndarray) -> np.ndarray:
    """(3,) mean(bokeh) / mean(original) per channel.

    Blurring does not change a channel's mean (away from the borders), so the ratio
    measures the exposure and white-balance difference of the two photos.
    """
    o = np.asarray(original, np.float64).reshape(-1, 3).mean(0)
    b = np.asarray(bokeh, np.float64).reshape(-1, 3).mean(0)
    return (b / np.maximum(o, 1e-6)).astype(np.float32)


def _tile_means(x: np.ndarray, tile: int) -> np.ndarray:
    th, tw = x.shape[0] // tile, x.shape[1] // tile
    return x[:th * tile, :tw * tile].reshape(th, tile, tw, tile).mean((1, 3))


def blur_map(original: np.ndarray, bokeh: np.ndarray, *, tile: int = 64,
             sigmas: tuple[float, ...] = BLUR_SIGMAS,
             min_contrast: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """Per-tile best-fit Gaussian sigma from original to bokeh.

    Returns (sigma, measurable), both (H // tile, W // tile): ``sigma`` the candidate with
    the least squared error over the tile, ``measurable`` False where the original's tile
    is too flat (grey-level standard deviation below ``min_contrast``) for the blur to
    show, so any sigma fits.
    """
    gain = exposure_gain(original, bokeh)
    src = np.asarray(original, np.float32) * gain
    tgt = np.asarray(bokeh, np.float32)
    errors = np.stack([_tile_means(((gaussian(src, s) - tgt) ** 2).mean(-1), tile)
                       for s in sigmas])
    sigma = np.asarray(sigmas, np.float32)[errors.argmin(0)]
    g = _gray(original)
    contrast = np.sqrt(np.maximum(_tile_means(g * g, tile) - _tile_means(g, tile) ** 2, 0))
    return sigma, contrast >= min_contrast


def near_mask(depth: np.ndarray) -> np.ndarray:
    """The near region of a disparity-like map (brighter = nearer): above Otsu's threshold."""
    d = np.asarray(depth, np.float64)
    hist, edges = np.histogram(d, bins=256)
    p = hist / hist.sum()
    w0 = np.cumsum(p)
    mu = np.cumsum(p * (edges[:-1] + edges[1:]) / 2)
    # Otsu: the split maximising the between-class variance.
    between = (mu[-1] * w0 - mu) ** 2 / np.maximum(w0 * (1 - w0), 1e-12)
    return d > edges[1:][int(np.argmax(between[:-1]))]


def region_stats(mask: np.ndarray) -> dict[str, float]:
    """Where a (h, w) boolean mask lies, in fractions of the frame.

    ``area``: fraction of the frame in the mask; of its largest 8-connected component:
    ``main_area`` (fraction of the frame), centroid ``cx``, ``cy`` (0 = left/top,
    1 = right/bottom), ``height`` and ``width`` of its bounding box, ``bottom`` (its lowest
    row, 1 = the frame's bottom edge). All NaN but ``area`` when the mask is empty.
    """
    mask = np.asarray(mask, bool)
    h, w = mask.shape
    out = {"area": float(mask.mean())}
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    if n == 0:
        return out | dict.fromkeys(("main_area", "cx", "cy", "height", "width", "bottom"),
                                   float("nan"))
    sizes = ndimage.sum(mask, labels, range(1, n + 1))
    main = labels == 1 + int(np.argmax(sizes))
    ys, xs = np.nonzero(main)
    return out | {"main_area": float(main.mean()), "cx": float((xs.mean() + 0.5) / w),
                  "cy": float((ys.mean() + 0.5) / h),
                  "height": float((ys.max() - ys.min() + 1) / h),
                  "width": float((xs.max() - xs.min() + 1) / w),
                  "bottom": float((ys.max() + 1) / h)}


def _grad_energy(g: np.ndarray) -> float:
    gy, gx = np.diff(g, axis=0), np.diff(g, axis=1)
    return float((gy * gy).mean() + (gx * gx).mean())


def detail_stats(image: np.ndarray, sigma: float = 1.5,
                 removed_sigmas: tuple[float, ...] = (2.0, 8.0)) -> dict[str, float]:
    """Fine detail of a photo, on its grey levels at the resolution given.

    ``grad_energy``: mean squared finite difference (both axes, summed);
    ``hf_share``: the share of that energy a Gaussian blur of ``sigma`` removes (detail at
    scales below ~sigma pixels); ``removed_rms_<s>``: RMS of ``g - blur_s(g)``, the error a
    global blur of sigma s makes on a target that is sharp (the identity/blur trade-off).
    """
    g = _gray(image)
    e = _grad_energy(g)
    share = 1.0 - _grad_energy(gaussian(g, sigma)) / e if e > 0 else 0.0
    out = {"grad_energy": e, "hf_share": share}
    for s in removed_sigmas:
        out[f"removed_rms_{s:g}"] = float(np.sqrt(((g - gaussian(g, s)) ** 2).mean()))
    return out
