"""bokeh_jax.network.conv: every weight-gradient method against PyTorch's, and the custom VJP."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

from bokeh_jax.network import conv, models

torch = pytest.importorskip("torch")


def _torch_weight_grad(x: np.ndarray, g: np.ndarray, k: int) -> np.ndarray:
    """PyTorch's dL/dW for NCHW conv2d with padding (k-1)//2, returned as HWIO."""
    xt = torch.from_numpy(x.transpose(0, 3, 1, 2).astype(np.float64))
    gt = torch.from_numpy(g.transpose(0, 3, 1, 2).astype(np.float64))
    dw = torch.nn.grad.conv2d_weight(xt, (g.shape[-1], x.shape[-1], k, k), gt,
                                     padding=(k - 1) // 2)
    return dw.numpy().transpose(2, 3, 1, 0)


# (N, H, W, Ci, Co, k): images narrower than a DFT block, wider than one block and not a
# multiple of it, smaller than the kernel, single pixels, and the 1x1 case. (Few channels in
# the wide case: the im2col forms stack k*k*C slices, a compile cost that grows with C.)
SHAPES = [(2, 9, 70, 3, 2, 11), (1, 7, 5, 3, 6, 7), (2, 16, 24, 8, 4, 5), (1, 4, 3, 5, 2, 11),
          (1, 1, 1, 4, 3, 3), (2, 6, 130, 3, 2, 3), (1, 5, 6, 4, 3, 1)]


@pytest.mark.parametrize("method", ["xla", "dft", "im2col", "im2col_grad"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_weight_grad_matches_pytorch(method, shape):
    n, h, w, ci, co, k = shape
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal((n, h, w, ci)).astype(np.float32)
    g = rng.standard_normal((n, h, w, co)).astype(np.float32)
    got = np.asarray(jax.jit(conv.weight_grad, static_argnums=(2, 3))(x, g, k, method))
    want = _torch_weight_grad(x, g, k)
    assert got.shape == (k, k, ci, co)
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-5 * np.abs(want).max())


def test_dft_block_boundaries():
    # A block of 8 columns: several blocks, a partial last one, and a halo longer than a block.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 5, 21, 3)).astype(np.float32)
    g = rng.standard_normal((1, 5, 21, 2)).astype(np.float32)
    dft = jax.jit(conv._dft_weight_grad, static_argnums=(2, 3))
    for k in (3, 9, 11):
        got = np.asarray(dft(x, g, k, 8))
        want = _torch_weight_grad(x, g, k)
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-5 * np.abs(want).max())


def test_conv2d_value_and_gradients_equal_xla_autodiff():
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.standard_normal((2, 12, 20, 6)), jnp.float32)
    w = jnp.asarray(rng.standard_normal((7, 7, 6, 4)), jnp.float32)

    def loss(conv_fn, x, w):
        return jnp.sum(jnp.sin(conv_fn(x, w)))

    ours = jax.jit(jax.value_and_grad(lambda x, w: loss(
        lambda a, b: conv.conv2d(a, b, "dft"), x, w), argnums=(0, 1)))
    ref = jax.jit(jax.value_and_grad(lambda x, w: loss(conv._xla_conv, x, w), argnums=(0, 1)))
    (v1, (dx1, dw1)), (v2, (dx2, dw2)) = ours(x, w), ref(x, w)
    np.testing.assert_allclose(v1, v2, rtol=1e-6)
    np.testing.assert_array_equal(dx1, dx2)  # the input gradient is XLA's in both
    np.testing.assert_allclose(dw1, dw2, rtol=0, atol=2e-5 * float(jnp.abs(dw2).max()))


def test_conv_module_matches_flax_conv():
    # Large enough that "auto" picks the DFT gradient for k=11 (N*H*W >= MIN_PIXELS).
    n, h, w = 1, 128, 128
    assert conv.choose_method(11, 8, 4, n * h * w) == "dft"
    x = jnp.asarray(np.random.default_rng(2).standard_normal((n, h, w, 8)), jnp.float32)
    ours = models.Conv(4, 11)
    ref = nn.Conv(4, (11, 11), padding=((5, 5), (5, 5)))
    params = ours.init(jax.random.key(0), x)
    assert jax.tree.map(jnp.shape, params) == jax.tree.map(jnp.shape, ref.init(
        jax.random.key(0), x))

    def grads(module):
        return jax.jit(jax.grad(lambda p: jnp.sum(module.apply(p, x) ** 2)))(params)

    got, want = grads(ours), grads(ref)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * float(jnp.abs(b).max()))


@pytest.mark.parametrize("args, want", [
    ((11, 64, 16, 4 * 256 * 384), "dft"),
    ((7, 32, 32, 4 * 128 * 192), "dft"),
    ((7, 3, 128, 4 * 256 * 384), "im2col"),
    ((3, 64, 4, 4 * 256 * 384), "im2col_grad"),
    ((3, 64, 32, 4 * 128 * 192), "xla"),
    ((11, 64, 16, 4 * 32 * 48), "xla"),  # small images: XLA's gradient, less to compile
    ((1, 64, 16, 4 * 256 * 384), "xla"),
])
def test_choose_method(args, want):
    assert conv.choose_method(*args) == want


def test_unknown_method_is_rejected():
    x = jnp.zeros((1, 4, 4, 2))
    with pytest.raises(ValueError, match="unknown weight-gradient method 'fast'"):
        conv.weight_grad(x, x, 3, "fast")
