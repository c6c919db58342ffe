"""Eq. 1 and its weights: the blend of a photo with its blurred copies, depth-driven weights.

Plain jnp code: jit it with the kernel sizes static, and differentiate through it freely.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from bokeh_jax.ops.blur import blur_stack
from bokeh_jax.ops.gaussian import gaussian_sigma

# Softness of the depth -> blur-level assignment, as a fraction of the smallest gap between
# consecutive blur levels (sigma_0 = 0 included): small enough that the in-focus region gets
# the sharp image alone (w_0 > 0.999 at the focus for 25/45/75), large enough that levels
# cross-fade smoothly.
TAU_FRACTION = 0.35


def blend(image: jax.Array, stack: jax.Array, weights: jax.Array) -> jax.Array:
    """Eq. 1: B = W0 * I + sum_i Wi * G_ki(I), each weight map broadcast over the channels.

    Args:
      image: (N,H,W,C) or (H,W,C) float32 image(s) I.
      stack: (N,K,H,W,C) or (K,H,W,C) blurred copies G_ki(I) (see :func:`blur_stack`).
      weights: (N,H,W,K+1) or (H,W,K+1); weights[..., 0] multiplies the image,
        weights[..., i] the i-th blur. They should sum to 1 per pixel (Eq. 2's softmax).

    Returns:
      The (N,H,W,C) or (H,W,C) rendered image, float32.
    """
    image, stack, weights = jnp.asarray(image), jnp.asarray(stack), jnp.asarray(weights)
    unbatched = image.ndim == 3
    if unbatched:
        image, stack, weights = image[None], stack[None], weights[None]
    if image.ndim != 4 or stack.ndim != 5 or weights.ndim != 4:
        raise ValueError(f"blend wants image (N,H,W,C), stack (N,K,H,W,C), weights "
                         f"(N,H,W,K+1) (or all without N); got {image.shape}, "
                         f"{stack.shape}, {weights.shape}")
    n, h, w, c = image.shape
    k = stack.shape[1]
    if stack.shape != (n, k, h, w, c) or weights.shape != (n, h, w, k + 1):
        raise ValueError(f"blend: stack {stack.shape} and weights {weights.shape} do not "
                         f"match image {image.shape}: want stack {(n, k, h, w, c)} and "
                         f"weights {(n, h, w, k + 1)}")
    out = weights[..., :1] * image
    for i in range(k):
        out = out + weights[..., i + 1:i + 2] * stack[:, i]
    return out[0] if unbatched else out


def weights_from_depth(disparity: jax.Array, focus, strength, kernel_sizes: Sequence[int],
                       *, tau_fraction: float = TAU_FRACTION) -> jax.Array:
    """Blend weights (last axis, K+1) from a disparity map: sharp at the focus, blurrier away.

    Thin lens: the circle of confusion grows with |1/z - 1/z_focus|, i.e. with
    |disparity - focus|. With sigma_0 = 0 (the sharp image) and sigma_i =
    ``gaussian_sigma(k_i)`` for the kernels, the wanted defocus (in pixels of sigma) is

        c = strength * |disparity - focus| * sigma_max,

    so strength 1 gives the strongest blur to a disparity difference of 1 (the full range of
    a [0,1]-normalised map), and the weights are a soft nearest-blur-level assignment

        w_i = softmax_i( -(c - sigma_i)^2 / (2 tau^2) ),
        tau = tau_fraction * min_i (sigma_i - sigma_{i-1})   (the smallest level gap).

    Since w_i is proportional to exp((c sigma_i - sigma_i^2 / 2) / tau^2), the weights form
    an exponential family in c: the expected sigma rises monotonically with c, w_0 falls and
    the weight of the largest kernel rises; at the focus (c = 0) w_0 is the largest.

    Args:
      disparity: (H,W), (N,H,W), or either with a trailing axis of size 1 ((H,W,1),
        (N,H,W,1)); larger = nearer, any units; values must be finite.
      focus: the disparity kept sharp, same units; a scalar, or (N,) for batched maps.
      strength: blur strength (scalar, >= 0); 0 renders the sharp image everywhere.
      kernel_sizes: the odd kernel sizes of the blur stack, e.g. (25, 45, 75).
      tau_fraction: softness (default TAU_FRACTION = 0.35).

    Returns:
      (H,W,K+1) or (N,H,W,K+1) float32 weights summing to 1 over the last axis.
    """
    ks = tuple(kernel_sizes)
    if not ks:
        raise ValueError("kernel_sizes is empty; pass at least one odd kernel size")
    sigmas = np.array([0.0] + [gaussian_sigma(k) for k in ks], np.float32)
    sigma_max = float(sigmas.max())
    tau = tau_fraction * float(np.diff(np.sort(sigmas)).min())
    if tau <= 0:
        raise ValueError(f"kernel sizes {ks} repeat a blur level; give distinct sizes")

    d = jnp.asarray(disparity, jnp.float32)
    if d.ndim in (3, 4) and d.shape[-1] == 1:
        d = d[..., 0]
    if d.ndim not in (2, 3):
        raise ValueError(f"disparity of shape {jnp.shape(disparity)} must be (H,W), (N,H,W), "
                         "(H,W,1) or (N,H,W,1)")
    f = jnp.asarray(focus, jnp.float32)
    if f.ndim == 1 and d.ndim == 3 and f.shape[0] == d.shape[0]:
        f = f[:, None, None]  # one focus per image
    elif f.ndim != 0:
        raise ValueError(f"focus of shape {f.shape} must be a scalar, or (N,) with N = "
                         f"{d.shape[0] if d.ndim == 3 else 'the batch size'} for (N,H,W) maps")
    c = jnp.asarray(strength, jnp.float32) * jnp.abs(d - f) * sigma_max
    logits = -jnp.square(c[..., None] - sigmas) / (2.0 * tau * tau)
    return jax.nn.softmax(logits, axis=-1)


# Below this blurred alpha a pixel is (almost) fully transparent around: its colour is moot.
_ALPHA_EPS = 1e-6


def unit_alpha(alpha: jax.Array) -> jax.Array:
    """An (H,W) alpha channel as float32 in [0,1]: uint8 (0..255) or already float."""
    alpha = jnp.asarray(alpha)
    a = alpha.astype(jnp.float32)
    return a / 255.0 if jnp.issubdtype(alpha.dtype, jnp.integer) else a


def blend_photo(rgb: jax.Array, alpha: jax.Array | None, weights: jax.Array,
                kernel_sizes: Sequence[int], method: str | None = None, *,
                aperture: str = "gaussian", blades: int = 6,
                rotation: float = 0.0) -> jax.Array:
    """Eq. 1 on one (H,W,3) image in [0,1] with (H,W,K+1) weights; alpha-aware blurs.

    With an alpha channel ((H,W) uint8 or float in [0,1]) the blurred copies are
    alpha-weighted, G(a*I) / G(a): the colour under fully transparent pixels (often black)
    must not bleed into the visible picture. The alpha itself is left to the caller (it is
    written back unchanged). ``aperture``, ``blades``, ``rotation``: the kernels' shape
    (:func:`blur_stack`; the paper's Gaussian by default).
    """
    rgb = jnp.asarray(rgb, jnp.float32)
    shape = dict(aperture=aperture, method=method, blades=blades, rotation=rotation)
    if alpha is None:
        stack = blur_stack(rgb, kernel_sizes, **shape)
    else:
        a = unit_alpha(alpha)
        both = blur_stack(jnp.concatenate([rgb * a[..., None], a[..., None]], -1),
                          kernel_sizes, **shape)
        stack = both[..., :3] / jnp.maximum(both[..., 3:], _ALPHA_EPS)
    return jnp.clip(blend(rgb, stack, weights), 0.0, 1.0)
