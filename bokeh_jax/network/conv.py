"""Stride-1 "same" 2-D convolution whose weight gradient is fast on CPU.

The forward pass and the input gradient are XLA's own convolutions (fast on every backend).
The weight gradient is where XLA's CPU backend is slow: it lowers dL/dW to a convolution
whose "kernel" is the whole HxW output gradient, which runs 3-7x slower than the forward
pass (bench/bench_conv.py; 11x11 64->16 on 4x256x384: about 320 ms forward, 840 ms dL/dW).
That alone made a JAX train step slower than PyTorch's on CPU. So on CPU we compute

    dW[a, b, i, o] = sum_{n,y,x} Xp[n, y+a, x+b, i] * G[n, y, x, o]      (Xp: padded input)

in one of these ways, picked per layer shape by :func:`choose_method`:

- ``"dft"`` (kernels >= 5): cut the columns into blocks of 64 (the input side with a k-1
  halo). Within a block the correlation over x is a product of real DFTs of length 64+k-1,
  computed as small matmuls; the correlation over y and the sums over images, rows and
  blocks are one batched matmul per frequency; an inverse DFT at the k wanted offsets gives
  dW. For k=11 that is about 4x fewer flops than the direct sum, all in matmuls.
- ``"im2col"`` (few input channels: the first 7x7 conv on RGB): the k*k*Ci patch matrix is
  small, and dW is one matmul with G.
- ``"im2col_grad"`` (few output channels: the 3x3 heads): the same with the k*k shifts taken
  of G instead of the input.
- ``"xla"``: XLA's own gradient: 1x1 and 3x3 kernels, small images, and every other backend
  (cuDNN's weight gradient is fast).

All are exact up to float32 rounding; tests/test_conv.py checks each against PyTorch.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

MIN_PIXELS = 16384  # N*H*W from which the CPU weight gradients beat XLA's (4x64x64)
DFT_BLOCK = 64  # columns per DFT block; 32-128 measured within 10%, 64 best at 256x384.


def _pad(x: jax.Array, k: int) -> jax.Array:
    """Zero padding (k-1)/2 on both sides of H and W: the input as the conv sees it."""
    p = (k - 1) // 2
    return jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))


def _xla_conv(x: jax.Array, w: jax.Array) -> jax.Array:
    p = (w.shape[0] - 1) // 2
    return lax.conv_general_dilated(x, w, (1, 1), ((p, p), (p, p)),
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _xla_weight_grad(x: jax.Array, g: jax.Array, k: int) -> jax.Array:
    w0 = jnp.zeros((k, k, x.shape[-1], g.shape[-1]), x.dtype)
    return jax.vjp(lambda w: _xla_conv(x, w), w0)[1](g)[0]


def _im2col_weight_grad(x: jax.Array, g: jax.Array, k: int) -> jax.Array:
    """The k*k*Ci input patches as one (k*k*Ci, N*H*W) matrix, times G: for small Ci."""
    n, h, w, c = x.shape
    xp = _pad(x, k)
    # Pixels minor: the layout XLA's CPU matmul takes without another transpose.
    patches = jnp.stack([xp[:, a:a + h, b:b + w, i]
                         for a in range(k) for b in range(k) for i in range(c)])
    dw = lax.dot_general(patches, g, (((1, 2, 3), (0, 1, 2)), ((), ())))
    return dw.reshape(k, k, c, g.shape[-1])


def _im2col_grad_side(x: jax.Array, g: jax.Array, k: int) -> jax.Array:
    """The same sum with the k*k shifts taken of G instead: for small Co (the output heads).

    dW[a, b, i, o] = sum_{n,y',x'} Xp[n, y', x', i] G[n, y' - a, x' - b, o] over the padded
    grid, with G zero outside the image.
    """
    n, h, w, ci = x.shape
    co = g.shape[-1]
    hp, wp = h + k - 1, w + k - 1
    xp = _pad(x, k)
    gp = jnp.pad(g, ((0, 0), (k - 1, k - 1), (k - 1, k - 1), (0, 0)))
    shifted = jnp.stack([gp[:, k - 1 - a:k - 1 - a + hp, k - 1 - b:k - 1 - b + wp, o]
                         for a in range(k) for b in range(k) for o in range(co)])
    dw = lax.dot_general(shifted, xp, (((1, 2, 3), (0, 1, 2)), ((), ())))  # (k*k*Co, Ci)
    return dw.reshape(k, k, co, ci).transpose(0, 1, 3, 2)


@functools.lru_cache(maxsize=64)
def _dft_tables(length: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Forward real DFT (F, 2, L) as [cos; -sin], and the inverse at offsets 0..k-1 (2, F, k)."""
    f = np.arange(length // 2 + 1)[:, None]
    ang = 2 * np.pi * f * np.arange(length)[None, :] / length
    fwd = np.stack([np.cos(ang), -np.sin(ang)], axis=1).astype(np.float32)
    # c[b] = (1/L) sum_f w_f Re(Z_f e^{2 pi i f b / L}); w_f = 2 except at f = 0 and f = L/2.
    wf = np.full(f.shape, 2.0)
    wf[0] = 1.0
    if length % 2 == 0:
        wf[-1] = 1.0
    ang = 2 * np.pi * f * np.arange(k)[None, :] / length
    inv = np.stack([wf * np.cos(ang), -wf * np.sin(ang)]) / length
    return fwd, inv.astype(np.float32)


def _dft_weight_grad(x: jax.Array, g: jax.Array, k: int, block: int = DFT_BLOCK) -> jax.Array:
    n, h, w, ci = x.shape
    co = g.shape[-1]
    p = (k - 1) // 2
    bx = min(block, w)
    nv = -(-w // bx)  # blocks along x
    length = bx + k - 1  # no circular wrap: x + b <= bx - 1 + k - 1
    nf = length // 2 + 1
    hp = h + k - 1
    fwd, inv = _dft_tables(length, k)
    fwd = jnp.asarray(fwd)

    # Input side: overlapping blocks of length bx+k-1, then their DFT over the block axis.
    xp = jnp.pad(x, ((0, 0), (p, p), (p, p + nv * bx - w), (0, 0)))
    cols = (np.arange(nv) * bx)[:, None] + np.arange(length)[None, :]
    xb = xp[:, :, cols, :]  # (N, Hp, V, L, Ci)
    xf = lax.dot_general(fwd, xb, (((2,), (3,)), ((), ())))  # (F, 2, N, Hp, V, Ci)
    xf = xf.reshape(nf, 2, n * hp * nv, ci)

    # Gradient side: non-overlapping blocks (zero beyond bx), their DFT, and the k shifts
    # along y stacked on the output axis: gs[..., y', a, :] = G[..., y' - a, :].
    gb = jnp.pad(g, ((0, 0), (0, 0), (0, nv * bx - w), (0, 0))).reshape(n, h, nv, bx, co)
    gf = lax.dot_general(fwd[:, :, :bx], gb, (((2,), (3,)), ((), ())))  # (F, 2, N, H, V, Co)
    gf = jnp.pad(gf.transpose(0, 2, 3, 4, 1, 5),
                 ((0, 0), (0, 0), (k - 1, k - 1), (0, 0), (0, 0), (0, 0)))
    gs = jnp.stack([gf[:, :, k - 1 - a:k - 1 - a + hp] for a in range(k)], axis=5)
    gs = gs.reshape(nf, n * hp * nv, 2 * k * co)  # (F, K, [re|im] x a x Co)

    # Z_f = X_f conj(G_f), summed over images, rows and blocks: one matmul per frequency.
    prod = lax.dot_general(xf, gs, (((2,), (1,)), ((0,), (0,))))  # (F, 2, Ci, 2*k*Co)
    prod = prod.reshape(nf, 2, ci, 2, k, co)
    z_re = prod[:, 0, :, 0] + prod[:, 1, :, 1]  # Xr Gr + Xi Gi
    z_im = prod[:, 1, :, 0] - prod[:, 0, :, 1]  # Xi Gr - Xr Gi
    # Inverse DFT at the k offsets b: (F, Ci, a, Co) -> (a, b, Ci, Co).
    return (jnp.einsum("fcao,fb->abco", z_re, inv[0])
            + jnp.einsum("fcao,fb->abco", z_im, inv[1]))


def choose_method(k: int, cin: int, cout: int, pixels: int) -> str:
    """The fastest CPU weight gradient for a k x k kernel, cin -> cout, over N*H*W pixels.

    From bench/bench_conv.py on the MegaDepth layer shapes. Below MIN_PIXELS XLA's own
    gradient is as fast, and the alternatives would only add compile time.
    """
    if pixels < MIN_PIXELS or k == 1:
        return "xla"
    if k * k * cin <= 160:
        return "im2col"  # the first 7x7 conv on RGB: 147 patch rows
    if k * k * cout <= 64:
        return "im2col_grad"  # the 3x3 output heads (1 and N+1 channels)
    return "dft" if k >= 5 else "xla"


_METHOD_FNS = {"xla": _xla_weight_grad, "dft": _dft_weight_grad, "im2col": _im2col_weight_grad,
               "im2col_grad": _im2col_grad_side}
METHODS = ("auto", *_METHOD_FNS)


def weight_grad(x: jax.Array, g: jax.Array, k: int, method: str = "auto") -> jax.Array:
    """dL/dW of :func:`conv2d` for input x (N,H,W,Ci) and output gradient g (N,H,W,Co)."""
    if method == "auto":
        n, h, w, cin = x.shape
        method = choose_method(k, cin, g.shape[-1], n * h * w)
    if method not in _METHOD_FNS:
        raise ValueError(f"unknown weight-gradient method {method!r}; choose one of {METHODS}")
    return _METHOD_FNS[method](x, g, k)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv2d(x: jax.Array, w: jax.Array, method: str = "auto") -> jax.Array:
    """Stride-1 convolution with symmetric (k-1)/2 zero padding (PyTorch's padding=(k-1)//2).

    Args:
      x: (N, H, W, Ci) float32.
      w: (k, k, Ci, Co) float32, k odd.
      method: the weight gradient on CPU, one of :data:`METHODS`; "auto" picks by shape.
        Off CPU the gradient is always XLA's. The forward pass is XLA's in every case.
    """
    return _xla_conv(x, w)


def _conv2d_fwd(x, w, method):
    return _xla_conv(x, w), (x, w)


def _conv2d_bwd(method, res, g):
    x, w = res
    k = w.shape[0]
    dx = jax.vjp(lambda x_: _xla_conv(x_, w), x)[1](g)[0]
    dw = lax.platform_dependent(
        x, g,
        cpu=lambda x_, g_: weight_grad(x_, g_, k, method),
        default=lambda x_, g_: _xla_weight_grad(x_, g_, k))
    return dx, dw.astype(w.dtype)


conv2d.defvjp(_conv2d_fwd, _conv2d_bwd)
