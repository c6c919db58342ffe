"""OpenCV's Gaussian kernels: the taps of ``cv2.getGaussianKernel(k, 0)`` (Eq. 1's G_k).

A leaf module: :mod:`bokeh_jax.ops.blur` blurs with these taps, and
:mod:`bokeh_jax.ops.aperture` builds the 2-D Gaussian aperture from them.
"""

from __future__ import annotations

import numpy as np

# OpenCV replaces the sigma rule by fixed tables for these sizes when sigma <= 0
# (smallGaussTab in imgproc/src/smooth.dispatch.cpp; the 9-tap row since OpenCV 4.x).
_SMALL_TABLES = {
    1: [1.0],
    3: [0.25, 0.5, 0.25],
    5: [0.0625, 0.25, 0.375, 0.25, 0.0625],
    7: [0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125],
    9: [0.015625, 0.05078125, 0.1171875, 0.19921875, 0.234375,
        0.19921875, 0.1171875, 0.05078125, 0.015625],
}


def _check_ksize(ksize: int) -> int:
    if isinstance(ksize, (bool, np.bool_)) or int(ksize) != ksize or ksize < 1 or ksize % 2 == 0:
        raise ValueError(f"Gaussian kernel size {ksize!r} must be a positive odd integer "
                         "(OpenCV's rule), e.g. 25, 45 or 75")
    return int(ksize)


def gaussian_sigma(ksize: int) -> float:
    """OpenCV's sigma for ``GaussianBlur(..., (k, k), 0)``: 0.3*((k-1)*0.5 - 1) + 0.8.

    (4.1, 7.1 and 11.6 for 25, 45 and 75.) For k <= 9 OpenCV blurs with fixed tables
    instead, whose spread is close to, not exactly, this value.
    """
    k = _check_ksize(ksize)
    return 0.3 * ((k - 1) * 0.5 - 1.0) + 0.8


def gaussian_kernel(ksize: int) -> np.ndarray:
    """The (k,) float32 taps of ``cv2.getGaussianKernel(k, 0, cv2.CV_32F)``, summing to 1."""
    k = _check_ksize(ksize)
    if k in _SMALL_TABLES:
        return np.asarray(_SMALL_TABLES[k], np.float32)
    sigma = gaussian_sigma(k)
    x = np.arange(k, dtype=np.float64) - (k - 1) * 0.5
    taps = np.exp(-0.5 * (x / sigma) ** 2)
    # OpenCV computes in double and rounds the normalised taps to float once.
    return (taps / taps.sum()).astype(np.float32)


