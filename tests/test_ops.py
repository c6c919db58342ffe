"""Blur, blend and depth-weight ops against OpenCV and hand-computed values.

Every blur method is compared with ``cv2.GaussianBlur(x, (k, k), 0)``; kernel sweeps are
grouped into one compiled program per shape (compile time, not run time, dominates here).
"""

from __future__ import annotations

import math

import cv2
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bokeh_jax import ops

ALL_KS = tuple(range(3, 102, 2))
# OpenCV's fixed tables (3-9), the first sigma-rule size, the paper's sizes, the largest.
SOME_KS = (3, 9, 11, 25, 45, 75, 101)
TOL = 1e-5


def _image(shape, seed=0):
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def _cv2_stack(x: np.ndarray, ks) -> np.ndarray:
    """(N,H,W,C) or (H,W,C) -> (N,K,H,W,C) or (K,H,W,C) via OpenCV, one image at a time."""
    def one(img):
        return np.stack([cv2.GaussianBlur(img, (k, k), 0).reshape(img.shape) for k in ks])
    return np.stack([one(i) for i in x]) if x.ndim == 4 else one(x)


def _max_err(method, x, ks):
    got = np.asarray(jax.jit(lambda a: ops.blur_stack(a, ks, method=method))(x))
    want = _cv2_stack(x, ks)
    assert got.shape == want.shape
    return float(np.abs(got - want).max())


def test_kernel_taps_equal_opencv_for_every_size():
    for k in range(1, 102, 2):
        want = cv2.getGaussianKernel(k, 0, cv2.CV_32F).ravel()
        got = ops.gaussian_kernel(k)
        assert got.dtype == np.float32 and got.shape == (k,)
        np.testing.assert_array_equal(got, want, err_msg=f"ksize {k}")


def test_sigma_rule():
    assert [round(ops.gaussian_sigma(k), 2) for k in (25, 45, 75)] == [4.1, 7.1, 11.6]
    assert ops.gaussian_sigma(3) == pytest.approx(0.8)


@pytest.mark.parametrize("bad", [0, 2, -3, 4.5, True])
def test_bad_kernel_size_is_refused(bad):
    with pytest.raises(ValueError, match="positive odd integer"):
        ops.gaussian_kernel(bad)


# Tiny shapes: smaller than most radii (OpenCV reflects periodically), 1-pixel-wide axes
# (left unchanged), and a batch.
@pytest.mark.parametrize("shape", [(1, 1, 3), (2, 3, 3), (5, 40, 3), (40, 5, 1),
                                   (2, 19, 33, 3)])
def test_fft_every_ksize_matches_opencv(shape):
    assert _max_err("fft", _image(shape), ALL_KS) <= TOL


def test_default_method_every_ksize_matches_opencv():
    # H=5 and W=40 are both below the largest radii: periodic reflection on both axes.
    assert _max_err(None, _image((2, 5, 40, 3), seed=1), ALL_KS) <= TOL


@pytest.mark.parametrize("method", ops.METHODS)
@pytest.mark.parametrize("shape", [(2, 3, 3), (2, 37, 70, 3)])
def test_every_method_matches_opencv(method, shape):
    assert _max_err(method, _image(shape, seed=2), SOME_KS) <= TOL


@pytest.mark.parametrize("method", ops.METHODS)
def test_one_pixel_wide_axes(method):
    # OpenCV leaves a 1-pixel axis unchanged (ksize 1 there); the other axis is still blurred.
    for shape in [(9, 1, 3), (1, 9, 1)]:
        assert _max_err(method, _image(shape, seed=3), (3, 75)) <= TOL


def test_paper_kernels_at_realistic_size():
    # Several blocks of the banded form (256 rows: 4 blocks of 64, 2 of 128).
    x = _image((256, 160, 3), seed=4)
    for method in ("banded", "fft"):
        assert _max_err(method, x, (25, 45, 75)) <= TOL


def test_gaussian_blur_shapes_and_values():
    x = _image((2, 12, 17, 3), seed=4)
    blur = jax.jit(ops.gaussian_blur, static_argnums=(1,))
    batched = np.asarray(blur(x, 7))
    single = np.asarray(blur(x[1], 7))
    assert batched.shape == x.shape and single.shape == x.shape[1:]
    np.testing.assert_allclose(single, cv2.GaussianBlur(x[1], (7, 7), 0), atol=TOL)
    np.testing.assert_allclose(batched[1], single, atol=1e-6)
    assert ops.blur_stack(x[0], (3, 5)).shape == (2, 12, 17, 3)


def test_blur_stack_rejects_bad_arguments():
    x = jnp.zeros((4, 5, 3))
    with pytest.raises(ValueError, match="unknown blur method 'gpu'"):
        ops.blur_stack(x, (3,), method="gpu")
    with pytest.raises(ValueError, match=r"\(H,W,C\) or \(N,H,W,C\)"):
        ops.blur_stack(jnp.zeros((4, 5)), (3,))
    with pytest.raises(ValueError, match="empty"):
        ops.blur_stack(x, ())


def _dense_operator(h, w, k):
    """The blur as a (h*w, h*w) matrix, column j = OpenCV's blur of the j-th impulse."""
    cols = []
    for j in range(h * w):
        e = np.zeros(h * w, np.float32)
        e[j] = 1.0
        cols.append(cv2.GaussianBlur(e.reshape(h, w), (k, k), 0).ravel())
    return np.stack(cols, axis=1).astype(np.float64)


@pytest.mark.parametrize("method", ops.METHODS)
def test_gradient_is_the_adjoint_of_opencvs_operator(method):
    # d/dx <g, blur(x)> = A^T g with A built from OpenCV impulse responses: an independent
    # formulation that also checks the reflection's adjoint near the borders.
    h, w, c, ks = 6, 9, 2, (5, 11)
    x = _image((1, h, w, c), seed=5)
    g = _image((1, len(ks), h, w, c), seed=6) - 0.5
    grad = jax.jit(jax.grad(lambda a, g: jnp.sum(ops.blur_stack(a, ks, method=method) * g)))(x, g)
    want = np.zeros((h * w, c))
    for i, k in enumerate(ks):
        want += _dense_operator(h, w, k).T @ g[0, i].reshape(h * w, c)
    np.testing.assert_allclose(np.asarray(grad)[0].reshape(h * w, c), want, atol=TOL)


def test_blend_is_eq1():
    n, h, w, c, k = 2, 3, 4, 3, 2
    image = _image((n, h, w, c), 7)
    stack = _image((n, k, h, w, c), 8)
    wts = jax.nn.softmax(jnp.asarray(_image((n, h, w, k + 1), 9)) * 4.0)
    got = np.asarray(jax.jit(ops.blend)(image, stack, wts))
    wts = np.asarray(wts)
    px = (1, 2, 3)  # one pixel by hand
    want = wts[px][0] * image[px] + wts[px][1] * stack[1, 0, 2, 3] + wts[px][2] * stack[1, 1, 2, 3]
    np.testing.assert_allclose(got[px], want, rtol=1e-6)
    full = wts[..., :1] * image + np.einsum("nhwk,nkhwc->nhwc", wts[..., 1:], stack)
    np.testing.assert_allclose(got, full, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(ops.blend(image[0], stack[0], wts[0])), got[0],
                               rtol=1e-6)


def test_blend_gradients_by_hand():
    image, stack = _image((1, 2, 2, 3), 10), _image((1, 2, 2, 2, 3), 11)
    wts, g = _image((1, 2, 2, 3), 12), _image((1, 2, 2, 3), 13)
    gi, gs, gw = jax.grad(lambda *a: jnp.sum(ops.blend(*a) * g), argnums=(0, 1, 2))(
        image, stack, wts)
    np.testing.assert_allclose(gi, g * wts[..., :1], rtol=1e-6)
    np.testing.assert_allclose(gs[:, 1], g * wts[..., 2:3], rtol=1e-6)
    np.testing.assert_allclose(gw[..., 0], np.sum(g * image, -1), rtol=1e-6)
    np.testing.assert_allclose(gw[..., 2], np.sum(g * stack[:, 1], -1), rtol=1e-6)


def test_blend_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="do not match"):
        ops.blend(jnp.zeros((1, 4, 4, 3)), jnp.zeros((1, 3, 4, 4, 3)), jnp.zeros((1, 4, 4, 3)))


def test_blend_of_blur_stack_matches_opencv_and_differentiates():
    x = _image((1, 20, 24, 3), 14)
    wts = jax.nn.softmax(jnp.asarray(_image((1, 20, 24, 4), 15)) * 3.0)
    render = jax.jit(lambda a, w: ops.blend(a, ops.blur_stack(a, (25, 45, 75)), w))
    got = np.asarray(render(x, wts))
    stack = _cv2_stack(x, (25, 45, 75))
    w = np.asarray(wts)
    want = w[..., :1] * x + np.einsum("nhwk,nkhwc->nhwc", w[..., 1:], stack)
    np.testing.assert_allclose(got, want, atol=TOL)
    gw = jax.grad(lambda w: jnp.sum(render(x, w)))(wts)  # what training back-propagates
    np.testing.assert_allclose(gw[..., 3], stack[:, 2].sum(-1), atol=1e-4)


# ---- weights_from_depth -------------------------------------------------------------------

KS = (25, 45, 75)
SIGMAS = np.array([0.0, 4.1, 7.1, 11.6])  # sigma_0 = 0, then OpenCV's rule
TAU = 0.35 * 3.0                         # 0.35 x the smallest level gap (7.1 - 4.1)


def test_weights_at_the_focus_by_hand():
    w = np.asarray(ops.weights_from_depth(jnp.full((2, 3), 0.4), 0.4, 1.0, KS))
    # c = 0: logits -sigma_i^2 / (2 tau^2) = 0, -7.624, -22.86, -61.02 (tau = 1.05)
    logits = [0.0, -4.1**2 / (2 * TAU**2), -7.1**2 / (2 * TAU**2), -11.6**2 / (2 * TAU**2)]
    want = np.exp(logits) / np.sum(np.exp(logits))
    assert want[0] == pytest.approx(0.99951, abs=1e-5)  # the focus plane stays sharp
    np.testing.assert_allclose(w, np.broadcast_to(want, (2, 3, 4)), rtol=1e-5)


def test_weights_pick_the_matching_blur_level():
    # strength 1, focus 0: disparity sigma_i / sigma_max asks for exactly sigma_i.
    d = jnp.asarray(SIGMAS / SIGMAS[-1]).reshape(1, 4)
    w = np.asarray(ops.weights_from_depth(d, 0.0, 1.0, KS))
    assert list(w[0].argmax(-1)) == [0, 1, 2, 3]


def test_weights_along_a_disparity_ramp():
    d = jnp.linspace(0.0, 1.0, 101).reshape(1, 101)
    w = np.asarray(jax.jit(ops.weights_from_depth, static_argnums=(3,))(d, 0.0, 1.0, KS))[0]
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-6)
    assert np.all(w >= 0)
    assert np.all(np.diff(w[:, 0]) < 0) and np.all(np.diff(w[:, 3]) > 0)
    expected_sigma = w @ SIGMAS
    assert np.all(np.diff(expected_sigma) > 0)
    assert w[0].argmax() == 0 and w[-1].argmax() == 3


def test_weights_depend_on_distance_to_the_focus_only():
    d = jnp.asarray([[0.2, 0.5, 0.8]])
    w = np.asarray(ops.weights_from_depth(d, 0.5, 2.0, KS))[0]
    np.testing.assert_allclose(w[0], w[2], rtol=1e-6)
    np.testing.assert_allclose(w[1], np.asarray(ops.weights_from_depth(d, 0.5, 0.0, KS))[0, 0],
                               rtol=1e-6)  # strength 0 = everything at the focus


def test_weights_shapes_and_focus_per_image():
    d = _image((2, 5, 6), 16)
    wfd = jax.jit(ops.weights_from_depth, static_argnums=(3,))
    per_image = np.asarray(wfd(d, np.asarray([0.1, 0.9]), 1.0, KS))
    assert per_image.shape == (2, 5, 6, 4)
    for i, f in enumerate([0.1, 0.9]):
        np.testing.assert_allclose(per_image[i], wfd(d[i], f, 1.0, KS), rtol=1e-6)
    np.testing.assert_allclose(wfd(d[..., None], 0.3, 1.0, KS), wfd(d, 0.3, 1.0, KS),
                               rtol=1e-6)
    assert wfd(d[0, ..., None], 0.3, 1.0, (25,)).shape == (5, 6, 2)
    with pytest.raises(ValueError, match="focus of shape"):
        ops.weights_from_depth(d, jnp.zeros(3), 1.0, KS)
    with pytest.raises(ValueError, match="disparity of shape"):
        ops.weights_from_depth(jnp.zeros(5), 0.0, 1.0, KS)


def test_weights_render_a_depth_aware_bokeh():
    # Near half in focus: the rendered near half equals the image, the far half a blur.
    x = _image((16, 32, 3), 17)
    d = jnp.concatenate([jnp.ones((16, 16)), jnp.zeros((16, 16))], axis=1)
    w = ops.weights_from_depth(d, 1.0, 1.0, KS, tau_fraction=0.05)  # nearly hard levels
    out = np.asarray(jax.jit(lambda a, w: ops.blend(a, ops.blur_stack(a, KS), w))(x, w))
    np.testing.assert_allclose(out[:, :16], x[:, :16], atol=1e-5)
    np.testing.assert_allclose(out[:, 16:], _cv2_stack(x, (75,))[0][:, 16:], atol=1e-5)
    assert math.isclose(float(w[0, 0, 0]), 1.0, abs_tol=1e-6)
