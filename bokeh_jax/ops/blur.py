"""OpenCV-exact Gaussian blurs in JAX: the G_k(I) of Eq. 1, one kernel or a stack of them.

Every method here equals ``cv2.GaussianBlur(x, (k, k), 0)`` on float32 images (max abs
difference ~5e-7 on [0,1] images): the same taps as ``cv2.getGaussianKernel(k, 0, CV_32F)``,
separable, BORDER_REFLECT_101 (``dcb|abcd|cba``), which for images smaller than the kernel
radius continues periodically, and a 1-pixel-wide axis is left unchanged (OpenCV then uses
ksize 1 on that axis). All are jit-compatible (kernel sizes are static) and reverse-mode
differentiable (``jax.grad``/``vjp``; the shifted-slice sums carry their own adjoint, so
forward-mode ``jvp`` is not available for "banded" and "direct").

Methods (``method=``), chosen by measurement (``bench/bench_blur.py``; README):

- ``"banded"`` (CPU default): along W (the contiguous axis in NHWC) a symmetric sum of shifted
  slices; along H a block-banded matrix product (the reflection folded into the blocks),
  which XLA runs as one batched GEMM on all cores.
- ``"direct"`` (default elsewhere): symmetric sums of shifted slices on both axes; pure
  elementwise XLA fusions, the form a GPU runs best without vendor kernels.
- ``"fft"``: one forward ``rfft2`` of the reflect-padded planes shared by all kernels, then
  one product and inverse per kernel. XLA's CPU FFT is single-threaded.
- ``"conv"``: depthwise ``lax.conv_general_dilated``, two 1-D passes (cuDNN on GPU;
  ~50x slower than OpenCV on this CPU).

Disk and polygon apertures (:mod:`bokeh_jax.ops.aperture`; the paper's future work) are not
separable. Their blurs equal ``cv2.filter2D(x, -1, aperture_kernel(...),
borderType=cv2.BORDER_REFLECT_101)`` (a correlation; max abs ~1e-6 on [0,1] images), with
the same borders as above (reflect-101, periodic past the image, a 1-pixel axis constant):

- ``"fft"`` (default): one ``rfft2`` of the padded planes shared by the whole stack, one
  product and inverse per kernel. XLA's CPU FFT is fast at 2^a 3^b 5^c 7^d sizes.
- ``"conv"``: one depthwise 2-D ``lax.conv_general_dilated`` per kernel (k^2 taps a pixel).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from bokeh_jax.ops.aperture import aperture_kernel, check_aperture
from bokeh_jax.ops.gaussian import _check_ksize, gaussian_kernel

METHODS = ("banded", "direct", "fft", "conv")
# The methods for the non-separable apertures (disk, polygon).
METHODS_2D = ("fft", "conv")

def default_method() -> str:
    """The method used when none is given: measured fastest exact form per backend."""
    return "banded" if jax.default_backend() == "cpu" else "direct"


def _reflect101(idx: np.ndarray, n: int) -> np.ndarray:
    """OpenCV's BORDER_REFLECT_101 index map, periodic for any offset (n=1: constant)."""
    if n == 1:
        return np.zeros_like(idx)
    period = 2 * (n - 1)
    idx = np.mod(idx, period)
    return np.where(idx < n, idx, period - idx)


def _pad_reflect(x: jax.Array, axis: int, pad: int) -> jax.Array:
    """Reflect-101 padding of one axis by ``pad`` on both sides (periodic if pad >= n)."""
    if pad == 0 or x.shape[axis] == 1:
        return x
    widths = [(0, 0)] * x.ndim
    widths[axis] = (pad, pad)
    # jnp.pad "reflect" is BORDER_REFLECT_101 and continues periodically like OpenCV.
    return jnp.pad(x, widths, mode="reflect")


@partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3, 4, 5))
def _correlate(x: jax.Array, k: int, axis: int, centre: int, length: int,
               stride: int) -> jax.Array:
    """y = sum_j taps[r+j] * x[centre + j*stride : ... + length] along ``axis``, |j| <= r.

    Uses the symmetry taps[r+j] == taps[r-j] (half the multiplies).
    """
    taps, r = gaussian_kernel(k), k // 2

    def take(j):
        return lax.slice_in_dim(x, centre + j * stride, centre + j * stride + length, axis=axis)

    terms = [float(taps[r]) * take(0)]
    terms += [float(taps[r + j]) * (take(j) + take(-j)) for j in range(1, r + 1)]
    return _balanced_sum(terms)


def _balanced_sum(terms: list[jax.Array]) -> jax.Array:
    # XLA keeps the order of the adds, and a chain would serialise on the add latency.
    while len(terms) > 1:
        terms = [terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i]
                 for i in range(0, len(terms), 2)]
    return terms[0]


def _correlate_fwd(x, k, axis, centre, length, stride):
    return _correlate(x, k, axis, centre, length, stride), x.shape[axis]


def _correlate_bwd(k, axis, centre, length, stride, n_in, g):
    # The adjoint is the same symmetric correlation of the zero-padded cotangent. Without
    # this rule autodiff emits a sum of k padded copies, ~10x slower than the forward.
    r = k // 2
    widths = [(0, 0)] * g.ndim
    widths[axis] = (centre + r * stride, n_in + r * stride - centre - length)
    return (_correlate(jnp.pad(g, widths), k, axis, r * stride, n_in, stride),)


_correlate.defvjp(_correlate_fwd, _correlate_bwd)


def _blur_w_direct(xp: jax.Array, k: int, pad: int, w: int, c: int) -> jax.Array:
    """W pass on (..., rows, (w + 2*pad)*c) flattened rows: shifts by c elements."""
    return _correlate(xp, k, xp.ndim - 1, pad * c, w * c, c)


def _blur_h_direct(xp: jax.Array, k: int, pad: int, h: int) -> jax.Array:
    """H pass on (N, h + 2*pad, L): shifts by whole rows."""
    return _correlate(xp, k, 1, pad, h, 1)


def _block_size(k: int) -> int:
    # Blocks at least 2r rows tall keep the band block-tridiagonal with at most 2x output
    # rows per block; 64/128 measured fastest for kernels 25-75 (README).
    return 64 * max(1, math.ceil((k - 1) / 64))


def _band_blocks(k: int, n: int, b: int) -> np.ndarray:
    """The n x n reflect-101 blur operator split by input blocks of b rows.

    Returns (nb, b + 2r, b) float32: block i maps input rows [i*b, i*b+b) to output rows
    [i*b - r, i*b + b + r); rows past n (zero padding up to nb*b) get no weight.
    """
    r = k // 2
    nb = -(-n // b)
    taps = gaussian_kernel(k).astype(np.float64)
    out = np.repeat(np.arange(n), k)
    col = _reflect101(out + np.tile(np.arange(-r, r + 1), n), n)
    blk = col // b
    row = out - blk * b + r
    # Reflected taps stay within r of their output row (or n <= b: one block), so this holds.
    assert np.all((row >= 0) & (row < b + 2 * r)), "band wider than the block structure"
    blocks = np.zeros((nb, b + 2 * r, b))
    np.add.at(blocks, (blk, row, col - blk * b), np.tile(taps, n))
    return blocks.astype(np.float32)


def _blur_h_banded(y: jax.Array, k: int, h: int) -> jax.Array:
    """H pass on (N, h, L) as a batched GEMM over row blocks, then adds the block overlaps."""
    n_img, _, length = y.shape
    r, b = k // 2, _block_size(k)
    blocks = _band_blocks(k, h, b)
    nb = blocks.shape[0]
    if nb * b > h:
        y = jnp.pad(y, ((0, 0), (0, nb * b - h), (0, 0)))
    a = jnp.broadcast_to(jnp.asarray(blocks), (n_img, *blocks.shape))
    p = jnp.einsum("niok,nikl->niol", a, y.reshape(n_img, nb, b, length),
                   precision=lax.Precision.HIGHEST)  # (N, nb, b + 2r, L)
    out = p[:, :, r:r + b]
    if nb > 1:
        # Rows a block sends above itself belong to the block before, rows below to the next.
        out = out + jnp.pad(p[:, 1:, :r], ((0, 0), (0, 1), (b - r, 0), (0, 0)))
        out = out + jnp.pad(p[:, :-1, r + b:], ((0, 0), (1, 0), (0, b - r), (0, 0)))
    return out.reshape(n_img, nb * b, length)[:, :h]


def _stack_banded(x: jax.Array, ks: tuple[int, ...]) -> jax.Array:
    n_img, h, w, c = x.shape
    pad = max(ks) // 2 if w > 1 else 0
    xp = _pad_reflect(x, 2, pad).reshape(n_img, h, (w + 2 * pad) * c)
    outs = []
    for k in ks:
        y = _blur_w_direct(xp, k, pad, w, c) if w > 1 else xp
        y = _blur_h_banded(y, k, h) if h > 1 else y
        outs.append(y.reshape(n_img, h, w, c))
    return jnp.stack(outs, axis=1)


def _stack_direct(x: jax.Array, ks: tuple[int, ...]) -> jax.Array:
    n_img, h, w, c = x.shape
    ph = max(ks) // 2 if h > 1 else 0
    pw = max(ks) // 2 if w > 1 else 0
    xp = _pad_reflect(_pad_reflect(x, 1, ph), 2, pw).reshape(n_img, h + 2 * ph, -1)
    outs = []
    for k in ks:
        y = _blur_h_direct(xp, k, ph, h) if h > 1 else xp
        y = _blur_w_direct(y, k, pw, w, c) if w > 1 else y
        outs.append(y.reshape(n_img, h, w, c))
    return jnp.stack(outs, axis=1)


def _good_fft_size(n: int) -> int:
    """Smallest 2^a 3^b 5^c 7^d >= n (sizes pocketfft/ducc transform fastest)."""
    best = 1 << max(0, (n - 1).bit_length())
    p2 = 1
    while p2 < best:
        p3 = p2
        while p3 < best:
            p5 = p3
            while p5 < best:
                p7 = p5
                while p7 < best:
                    if p7 >= n:
                        best = p7
                    p7 *= 7
                p5 *= 5
            p3 *= 3
        p2 *= 2
    return best


def _transfer(k: int, size: int, rfft: bool) -> np.ndarray:
    """Real DFT of the centred taps (a symmetric kernel has a real transfer function)."""
    v = np.zeros(size)
    v[:k] = gaussian_kernel(k)
    v = np.roll(v, -(k // 2))
    t = np.fft.rfft(v) if rfft else np.fft.fft(v)
    return t.real.astype(np.float32)


def _stack_fft(x: jax.Array, ks: tuple[int, ...]) -> jax.Array:
    _, h, w, _ = x.shape
    ph = max(ks) // 2 if h > 1 else 0
    pw = max(ks) // 2 if w > 1 else 0
    xp = jnp.transpose(_pad_reflect(_pad_reflect(x, 1, ph), 2, pw), (0, 3, 1, 2))
    # Circular convolution is exact on the centre once the padding covers the radius.
    sh, sw = _good_fft_size(h + 2 * ph), _good_fft_size(w + 2 * pw)
    spec = jnp.fft.rfft2(xp, s=(sh, sw))  # shared by every kernel
    outs = []
    for k in ks:
        ty = _transfer(k, sh, False) if h > 1 else np.ones(sh, np.float32)
        tx = _transfer(k, sw, True) if w > 1 else np.ones(sw // 2 + 1, np.float32)
        y = jnp.fft.irfft2(spec * (ty[:, None] * tx[None, :]), s=(sh, sw))
        outs.append(jnp.transpose(y[:, :, ph:ph + h, pw:pw + w], (0, 2, 3, 1)))
    return jnp.stack(outs, axis=1)


def _stack_conv(x: jax.Array, ks: tuple[int, ...]) -> jax.Array:
    _, h, w, c = x.shape
    outs = []
    for k in ks:
        taps = jnp.asarray(gaussian_kernel(k))
        y = x
        for axis, size in ((1, h), (2, w)):
            if size == 1:
                continue
            shape = (k, 1, 1, c) if axis == 1 else (1, k, 1, c)
            kern = jnp.broadcast_to(taps.reshape((*shape[:2], 1, 1)), shape)
            y = lax.conv_general_dilated(
                _pad_reflect(y, axis, k // 2), kern, (1, 1), "VALID",
                dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=c,
                precision=lax.Precision.HIGHEST)
        outs.append(y)
    return jnp.stack(outs, axis=1)


_IMPLS = {"banded": _stack_banded, "direct": _stack_direct, "fft": _stack_fft,
          "conv": _stack_conv}


def _pad_2d(x: jax.Array, ph: int, pw: int) -> jax.Array:
    """Reflect-101 padding of H and W; a 1-pixel axis is constant (OpenCV's border rule)."""
    widths = [(0, 0), (ph, ph), (pw, pw), (0, 0)]
    for axis, n in ((1, x.shape[1]), (2, x.shape[2])):
        if n == 1:
            x = jnp.pad(x, [w if i == axis else (0, 0) for i, w in enumerate(widths)],
                        mode="edge")
            widths[axis] = (0, 0)
    return jnp.pad(x, widths, mode="reflect")


def _transfer_2d(kernel: np.ndarray, sh: int, sw: int) -> np.ndarray:
    """rfft2 of the flipped, centred kernel: a product with it is filter2D's correlation."""
    k = kernel.shape[0]
    v = np.zeros((sh, sw))
    v[:k, :k] = kernel[::-1, ::-1]
    return np.fft.rfft2(np.roll(v, (-(k // 2), -(k // 2)), axis=(0, 1))).astype(np.complex64)


def _stack_fft_2d(x: jax.Array, kernels: tuple[np.ndarray, ...]) -> jax.Array:
    _, h, w, _ = x.shape
    pad = max(k.shape[0] for k in kernels) // 2
    xp = jnp.transpose(_pad_2d(x, pad, pad), (0, 3, 1, 2))
    # Circular correlation is exact on the centre once the padding covers the radius.
    sh, sw = _good_fft_size(h + 2 * pad), _good_fft_size(w + 2 * pad)
    spec = jnp.fft.rfft2(xp, s=(sh, sw))  # shared by every kernel
    outs = []
    for kern in kernels:
        y = jnp.fft.irfft2(spec * _transfer_2d(kern, sh, sw), s=(sh, sw))
        outs.append(jnp.transpose(y[:, :, pad:pad + h, pad:pad + w], (0, 2, 3, 1)))
    return jnp.stack(outs, axis=1)


def _stack_conv_2d(x: jax.Array, kernels: tuple[np.ndarray, ...]) -> jax.Array:
    c = x.shape[3]
    outs = []
    for kern in kernels:
        r = kern.shape[0] // 2
        taps = jnp.broadcast_to(jnp.asarray(kern)[:, :, None, None], (*kern.shape, 1, c))
        outs.append(lax.conv_general_dilated(
            _pad_2d(x, r, r), taps, (1, 1), "VALID",
            dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=c,
            precision=lax.Precision.HIGHEST))
    return jnp.stack(outs, axis=1)


def _stack_direct_2d(x: jax.Array, kernels: tuple[np.ndarray, ...]) -> jax.Array:
    """Sums of shifted copies over the nonzero taps: for small kernels (k^2 slices)."""
    _, h, w, _ = x.shape
    outs = []
    for kern in kernels:
        k = kern.shape[0]
        xp = _pad_2d(x, k // 2, k // 2)
        outs.append(_balanced_sum([float(kern[i, j]) * xp[:, i:i + h, j:j + w]
                                   for i in range(k) for j in range(k) if kern[i, j] != 0]))
    return jnp.stack(outs, axis=1)


_IMPLS_2D = {"fft": _stack_fft_2d, "conv": _stack_conv_2d}
# filter_2d also takes "direct": sums of shifted copies, the fastest form for small kernels.
_FILTERS_2D = {**_IMPLS_2D, "direct": _stack_direct_2d}


def filter_2d(x: jax.Array, kernels: Sequence[np.ndarray], method: str = "fft") -> jax.Array:
    """Correlates (N,H,W,C) images with each odd square kernel: (N,K,H,W,C).

    Entry i equals ``cv2.filter2D(x, -1, kernels[i], borderType=cv2.BORDER_REFLECT_101)``;
    the kernels are static numpy arrays (e.g. :func:`~bokeh_jax.ops.aperture.radius_kernel`).
    ``method``: "fft", "conv" or "direct" (sums of shifted copies, for small kernels).
    """
    kernels = tuple(np.asarray(k, np.float32) for k in kernels)
    if any(k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape[0] % 2 == 0 for k in kernels):
        raise ValueError("filter_2d wants odd square kernels, e.g. (75, 75)")
    return _FILTERS_2D[method](jnp.asarray(x, jnp.float32), kernels)


def blur_stack(x: jax.Array, kernel_sizes: Sequence[int], aperture: str = "gaussian",
               method: str | None = None, *, blades: int = 6,
               rotation: float = 0.0) -> jax.Array:
    """Blurs one image with every kernel size: the G_ki(I) of Eq. 1, sharing work.

    Args:
      x: (N,H,W,C) or (H,W,C) float32 image(s), values typically in [0,1].
      kernel_sizes: odd kernel sizes (static), e.g. (25, 45, 75); K = len(kernel_sizes).
      aperture: "gaussian" (the paper's, OpenCV-exact and separable), "disk" or "polygon"
        (see :func:`bokeh_jax.ops.aperture.aperture_kernel`; radius (k-1)/2).
      method: for the Gaussian one of METHODS, for disk and polygon one of METHODS_2D;
        None picks the measured fastest (:func:`default_method`). All are exact.
      blades, rotation: the polygon's sides and rotation in degrees (static).

    Returns:
      (N,K,H,W,C) float32, or (K,H,W,C) for an unbatched input; entry i equals
      ``cv2.GaussianBlur(x, (k_i, k_i), 0)`` for the Gaussian and ``cv2.filter2D(x, -1,
      aperture_kernel(aperture, k_i, ...), borderType=cv2.BORDER_REFLECT_101)`` otherwise.
    """
    ks = tuple(_check_ksize(k) for k in kernel_sizes)
    if not ks:
        raise ValueError("kernel_sizes is empty; pass at least one odd kernel size")
    check_aperture(aperture, blades, rotation)
    x = jnp.asarray(x)
    if x.ndim not in (3, 4):
        raise ValueError(f"image of shape {x.shape} must be (H,W,C) or (N,H,W,C)")
    x = x.astype(jnp.float32)
    batch = x[None] if x.ndim == 3 else x
    if aperture == "gaussian":
        method = default_method() if method is None else method
        if method not in _IMPLS:
            raise ValueError(f"unknown blur method {method!r}; use one of {', '.join(METHODS)}")
        out = _IMPLS[method](batch, ks)
    else:
        method = "fft" if method is None else method
        if method not in _IMPLS_2D:
            raise ValueError(f"blur method {method!r} does not do the {aperture} aperture; "
                             f"use one of {', '.join(METHODS_2D)}")
        kernels = tuple(aperture_kernel(aperture, k, blades=blades, rotation=rotation)
                        for k in ks)
        out = _IMPLS_2D[method](batch, kernels)
    return out[0] if x.ndim == 3 else out


def gaussian_blur(x: jax.Array, ksize: int, method: str | None = None) -> jax.Array:
    """``cv2.GaussianBlur(x, (ksize, ksize), 0)`` for (H,W,C) or (N,H,W,C) float32 arrays."""
    out = blur_stack(x, (ksize,), method=method)
    return out[0] if out.ndim == 4 else out[:, 0]
