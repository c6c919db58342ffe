"""Image quality metrics with the paper's protocol: PSNR, SSIM, LPIPS (and dm-pix's SSIM).

All functions are jitted and batched: they take two (N,H,W,C) float batches in [0,1]
(C = 3 for LPIPS) and return (N,) per-image values.

Protocol (docs/method.md, "Measuring"): PSNR and SSIM are computed on 8-bit images, as a saved PNG
would hold them: `round(clip(x, 0, 1) * 255)` (`quantize=False` skips that and uses x * 255
as given). SSIM is scikit-image's `structural_similarity` with its defaults on 8-bit RGB.
LPIPS is AlexNet with the v0.1 linear layers (:mod:`bokeh_jax.evaluation.lpips`). `ssim_gaussian` is
dm-pix's SSIM (11x11 Gaussian, sigma 1.5) on the raw floats: what the phase-3 loss uses,
reported beside the paper's SSIM, never instead.
"""

from __future__ import annotations

import functools

import dm_pix
import jax
import jax.numpy as jnp

from bokeh_jax.evaluation.batches import check_pair, mean_hw
from bokeh_jax.evaluation.lpips import MIN_SIDE as _LPIPS_MIN_SIDE
from bokeh_jax.evaluation.lpips import lpips_distance as lpips

__all__ = ["LPIPS_MIN_SIDE", "SSIM_WINDOW", "lpips", "psnr", "quantize_8bit", "ssim",
           "ssim_gaussian"]

LPIPS_MIN_SIDE = _LPIPS_MIN_SIDE["alex"]  # the net the paper reports

SSIM_WINDOW = 7  # scikit-image's default window (7x7 uniform)
_NP = SSIM_WINDOW * SSIM_WINDOW
# scikit-image's constants on data_range 255: C1 = (K1 * R)^2, C2 = (K2 * R)^2.
_C1 = (0.01 * 255.0) ** 2
_C2 = (0.03 * 255.0) ** 2


@jax.jit
def quantize_8bit(x: jax.Array) -> jax.Array:
    """The 8-bit values a saved PNG would hold: round(clip(x,0,1)*255), as float32 in 0..255.

    Rounds half to even (as numpy's `np.round`).
    """
    return jnp.round(jnp.clip(x.astype(jnp.float32), 0.0, 1.0) * 255.0)


@functools.partial(jax.jit, static_argnames=("quantize",))
def psnr(x: jax.Array, y: jax.Array, *, quantize: bool = True) -> jax.Array:
    """PSNR in dB with data range 255 on the 8-bit values, per image.

    Args:
      x, y: (N,H,W,C) float images in [0,1].
      quantize: round to 8-bit first (the paper's protocol); False uses x*255 as given.
    Returns:
      (N,) float32, +inf for identical images. We keep +inf (what scikit-image's
      `peak_signal_noise_ratio` returns, and the true value) rather than a cap: a cap would
      silently bias any mean it enters, while an inf in a report is visible.
    """
    check_pair("psnr", x, y, 1)
    if quantize:
        a, b = quantize_8bit(x), quantize_8bit(y)
    else:
        a, b = x.astype(jnp.float32) * 255.0, y.astype(jnp.float32) * 255.0
    # On 8-bit values each squared difference is an exact float32 integer (<= 65025).
    mse = jnp.mean(mean_hw((a - b) ** 2), axis=-1)
    return jnp.where(mse > 0, 10.0 * jnp.log10(255.0 ** 2 / mse), jnp.inf)


def _box_sums(a: jax.Array) -> jax.Array:
    """Sums over every full 7x7 window: (N,H,W,C) -> (N,H-6,W-6,C). Exact on int32."""
    h, w = a.shape[1] - SSIM_WINDOW + 1, a.shape[2] - SSIM_WINDOW + 1
    rows = sum(a[:, i:i + h] for i in range(SSIM_WINDOW))
    return sum(rows[:, :, j:j + w] for j in range(SSIM_WINDOW))


@functools.partial(jax.jit, static_argnames=("quantize",))
def ssim(x: jax.Array, y: jax.Array, *, quantize: bool = True) -> jax.Array:
    """SSIM as scikit-image's `structural_similarity` with its defaults on 8-bit RGB.

    That is: `channel_axis=-1, data_range=255`, a 7x7 uniform window, sample covariance
    (N/(N-1) with N = 49), K1 = 0.01, K2 = 0.03, the SSIM map averaged over the region where
    the window fits entirely (scikit-image crops 3 pixels from each border), per channel,
    then the channels averaged.

    Args:
      x, y: (N,H,W,C) float images in [0,1], H and W at least 7.
      quantize: round to 8-bit first (the paper's protocol); False uses x*255 as given.
    Returns:
      (N,) float32 in [-1, 1]; 1 for identical images.
    """
    check_pair("ssim", x, y, SSIM_WINDOW)
    if quantize:
        # On 8-bit integers the window sums, and 49*49*48 times the (co)variances, are exact
        # in int32 (at most 49 * 49 * 255^2 ~ 1.6e8 < 2^31). The textbook E[x^2] - E[x]^2 in
        # float32 would cancel catastrophically on 0..255 values in flat regions.
        a = quantize_8bit(x).astype(jnp.int32)
        b = quantize_8bit(y).astype(jnp.int32)
        offset_a = offset_b = 0.0
    else:
        # Floats: centre each image-channel on its mean so the cancellation above is small;
        # (co)variances do not change, and the means are shifted back below.
        a, b = x.astype(jnp.float32) * 255.0, y.astype(jnp.float32) * 255.0
        offset_a = mean_hw(a)[:, None, None, :]
        offset_b = mean_hw(b)[:, None, None, :]
        a, b = a - offset_a, b - offset_b
    sa, sb = _box_sums(a), _box_sums(b)
    # 49 * sum(a^2) - (sum a)^2 = 49 * 48 * (sample variance); likewise the covariance.
    qa = _NP * _box_sums(a * a) - sa * sa
    qb = _NP * _box_sums(b * b) - sb * sb
    qab = _NP * _box_sums(a * b) - sa * sb
    f32 = functools.partial(jnp.asarray, dtype=jnp.float32)
    mu_a = f32(sa) / _NP + offset_a
    mu_b = f32(sb) / _NP + offset_b
    norm = float(_NP * (_NP - 1))
    var_a, var_b, cov = f32(qa) / norm, f32(qb) / norm, f32(qab) / norm
    s_map = ((2.0 * mu_a * mu_b + _C1) * (2.0 * cov + _C2)
             / ((mu_a * mu_a + mu_b * mu_b + _C1) * (var_a + var_b + _C2)))
    return jnp.mean(mean_hw(s_map), axis=-1)


@jax.jit
def ssim_gaussian(x: jax.Array, y: jax.Array) -> jax.Array:
    """dm-pix's SSIM (11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03) on [0,1] floats.

    What the phase-3 loss maximises; differentiable, no quantisation, channels averaged.

    Args:
      x, y: (N,H,W,C) float images in [0,1], H and W at least 11.
    Returns:
      (N,) float32.
    """
    check_pair("ssim_gaussian", x, y, 11)
    return dm_pix.ssim(x.astype(jnp.float32), y.astype(jnp.float32), max_val=1.0,
                       filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03)
