"""Which pixels of a synthetic pair are in focus, from its depth: the focus loss's labels.

A synthetic pair knows what a real one does not: the depth of every pixel and the focus
distance (:mod:`bokeh_jax.data.synthetic`). The thin lens gives a point at depth ``z`` a
circle of confusion of radius ``r_inf * |z_f / z - 1|`` pixels, with ``r_inf`` at least
the wall's radius, which is never under 6 px (``synthetic.BG_RADIUS_RANGE``). So, without
knowing ``r_inf``:

- ``|z_f / z - 1| <= IN_FOCUS`` (2%): the subject's own layer, and ground rows at its
  depth: blur under 0.1 px of sigma at the median wall radius; label 1;
- ``|z_f / z - 1| >= OUT_OF_FOCUS`` (50%): at least a 3 px circle (sigma 1.5), 13 px at
  the median: label 0;
- in between the answer depends on the scene's lens: label -1, left out of the loss.

The training step's focus loss (``focus_loss_weight``, docs/synthetic_data.md) is the
binary cross-entropy of the sharp weight ``w_0`` (Eq. 2) against these labels: it tells the
network, densely and on flat surfaces too, where the subject is, which the image loss
says only at textured pixels (a flat blob looks the same blurred).
"""

from __future__ import annotations

import numpy as np

IN_FOCUS = 0.02
OUT_OF_FOCUS = 0.5
IGNORE = -1.0


def focus_label(depth: np.ndarray, focus_depth: float) -> np.ndarray:
    """(H, W) float32: 1 in focus, 0 out of focus, -1 undecided, from depth in metres."""
    depth = np.asarray(depth, np.float64)
    if not np.isfinite(focus_depth) or focus_depth <= 0:
        raise ValueError(f"focus_depth must be a positive distance, got {focus_depth}")
    defocus = np.abs(focus_depth / np.maximum(depth, 1e-6) - 1.0)
    label = np.full(depth.shape, IGNORE, np.float32)
    label[defocus <= IN_FOCUS] = 1.0
    label[defocus >= OUT_OF_FOCUS] = 0.0
    return label
