"""Aperture kernels and the disk/polygon blur stack against OpenCV and slow numpy references."""

import cv2
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bokeh_jax import ops
from bokeh_jax.ops.aperture import aperture_kernel, polygon_vertices, radius_kernel


def _supersampled(inside, ksize, n=64):
    """Slow obvious coverage: the fraction of n x n sample points per pixel inside."""
    r = (ksize - 1) / 2
    sub = (np.arange(n) + 0.5) / n - 0.5
    c = np.arange(ksize) - r
    xs = (c[:, None] + sub[None, :]).ravel()
    x, y = np.meshgrid(xs, xs)
    return inside(x, y).reshape(ksize, n, ksize, n).mean(axis=(1, 3))


def _in_polygon(verts):
    def inside(x, y):
        ok = np.ones(x.shape, bool)
        for p, q in zip(verts, np.roll(verts, -1, axis=0), strict=True):
            ok &= (q[0] - p[0]) * (y - p[1]) - (q[1] - p[1]) * (x - p[0]) <= 0
        return ok
    return inside


@pytest.mark.parametrize("ksize", [3, 7, 25, 75])
def test_disk_kernel_is_pixel_coverage(ksize):
    r = (ksize - 1) / 2
    ref = _supersampled(lambda x, y: x * x + y * y <= r * r, ksize)
    kern = aperture_kernel("disk", ksize)
    assert kern.shape == (ksize, ksize) and kern.dtype == np.float32
    assert abs(kern.sum() - 1) < 1e-5
    # Exact areas (closed form) against 4096 samples a pixel: agree to the sampling error.
    np.testing.assert_allclose(kern * np.pi * r * r, ref, atol=0.01)
    assert kern[ksize // 2, ksize // 2] == kern.max()  # flat: the interior taps are equal
    interior = kern[ref == 1]
    assert np.ptp(interior) < 1e-6 * interior.max()


@pytest.mark.parametrize("blades,rotation", [(6, 0.0), (5, 17.0), (3, 0.0), (8, 22.5)])
def test_polygon_kernel_is_pixel_coverage(blades, rotation):
    ksize = 31
    r = (ksize - 1) / 2
    verts = polygon_vertices(blades, r, rotation)
    ref = _supersampled(_in_polygon(verts), ksize)
    area = 0.5 * blades * r * r * np.sin(2 * np.pi / blades)
    kern = aperture_kernel("polygon", ksize, blades=blades, rotation=rotation)
    np.testing.assert_allclose(kern * area, ref, atol=0.01)


def test_polygon_orientation_and_rotation():
    tri = aperture_kernel("polygon", 41, blades=3)
    rows = tri.sum(axis=1)
    assert rows[:10].sum() < rows[-15:].sum()  # a vertex up, a flat side down (y down)
    np.testing.assert_allclose(aperture_kernel("polygon", 41, blades=3, rotation=180.0),
                               tri[::-1], atol=1e-6)
    np.testing.assert_allclose(aperture_kernel("polygon", 41, blades=6, rotation=60.0),
                               aperture_kernel("polygon", 41, blades=6), atol=1e-6)
    np.testing.assert_allclose(aperture_kernel("polygon", 41, blades=4, rotation=90.0),
                               np.rot90(aperture_kernel("polygon", 41, blades=4)), atol=1e-6)


def test_gaussian_kernel_is_opencvs_outer_product():
    for k in (5, 25, 75):
        g = cv2.getGaussianKernel(k, 0, cv2.CV_32F)
        np.testing.assert_allclose(aperture_kernel("gaussian", k), g @ g.T, atol=1e-7)


def test_radius_kernel_whole_radius_matches_and_fraction_grows():
    np.testing.assert_array_equal(radius_kernel("disk", 12.0), aperture_kernel("disk", 25))
    k = radius_kernel("disk", 4.5)
    assert k.shape == (11, 11)
    area = (k > 0).sum()
    assert (radius_kernel("disk", 4.0) > 0).sum() < area < (radius_kernel("disk", 5.0) > 0).sum()


def test_kernel_arguments_are_checked():
    with pytest.raises(ValueError, match="unknown aperture 'hexagon'"):
        aperture_kernel("hexagon", 5)
    with pytest.raises(ValueError, match="3 to 64 blades"):
        aperture_kernel("polygon", 5, blades=2)
    with pytest.raises(ValueError, match="positive odd"):
        aperture_kernel("disk", 4)


def _filter2d(x, kern):
    return cv2.filter2D(x, -1, kern, borderType=cv2.BORDER_REFLECT_101)


@pytest.mark.parametrize("aperture,opts", [("disk", {}), ("polygon", {"blades": 5,
                                                                      "rotation": 12.0})])
@pytest.mark.parametrize("method", ["fft", "conv"])
def test_blur_stack_matches_filter2d(aperture, opts, method):
    rng = np.random.default_rng(1)
    ks = (3, 5, 11, 25, 75, 151) if method == "fft" else (3, 11, 25)
    for h, w in [(64, 83), (5, 7), (1, 9), (9, 1)]:  # smaller than the kernels, 1-pixel axes
        x = rng.random((h, w, 3), np.float32)
        got = np.asarray(jax.jit(lambda a: ops.blur_stack(a, ks, aperture, method=method,
                                                          **opts))(x))
        for i, k in enumerate(ks):
            ref = _filter2d(x, aperture_kernel(aperture, k, **opts))
            np.testing.assert_allclose(got[i], ref, atol=1e-5, err_msg=f"{h}x{w} k={k}")


def test_blur_stack_odd_sizes_3_to_151_fft():
    x = np.random.default_rng(2).random((40, 52, 3), np.float32)
    ks = tuple(range(3, 152, 2))
    got = np.asarray(ops.blur_stack(x, ks, "disk"))
    worst = max(np.abs(got[i] - _filter2d(x, aperture_kernel("disk", k))).max()
                for i, k in enumerate(ks))
    assert worst < 1e-5


def test_blur_stack_point_spread_is_the_kernel():
    x = np.zeros((61, 61, 1), np.float32)
    x[30, 30] = 1.0
    out = np.asarray(ops.blur_stack(x, (21,), "polygon", blades=3))[0, ..., 0]
    kern = aperture_kernel("polygon", 21, blades=3)
    # filter2D correlates: a point becomes the kernel turned by 180 degrees.
    np.testing.assert_allclose(out[20:41, 20:41], kern[::-1, ::-1], atol=1e-6)
    assert abs(out.sum() - 1) < 1e-5


def test_blur_stack_gradient_matches_the_adjoint():
    rng = np.random.default_rng(3)
    x, g = rng.random((2, 20, 23, 2), np.float32)
    ks = (5, 9)

    def loss(a, method):
        return jnp.sum(ops.blur_stack(a, ks, "polygon", method=method, blades=5) * g)

    grad_fft = np.asarray(jax.grad(loss)(x, "fft"))
    grad_conv = np.asarray(jax.grad(loss)(x, "conv"))
    np.testing.assert_allclose(grad_fft, grad_conv, atol=1e-5)
    # The blur is linear: a finite difference along a random direction is exact up to float.
    v = rng.standard_normal(x.shape).astype(np.float32)
    fd = (loss(x + 0.5 * v, "conv") - loss(x - 0.5 * v, "conv"))
    assert abs(float(fd) - float(np.sum(grad_fft * v))) < 1e-3 * abs(float(fd)) + 1e-3


def test_blur_stack_rejects_a_gaussian_only_method_for_disks():
    with pytest.raises(ValueError, match="does not do the disk aperture"):
        ops.blur_stack(jnp.zeros((4, 5, 3)), (3,), "disk", method="banded")


def test_filter_2d_direct_matches_filter2d_for_small_kernels():
    x = np.random.default_rng(6).random((1, 30, 41, 4), np.float32)
    kernels = [aperture_kernel("disk", 7), aperture_kernel("polygon", 5, blades=3)]
    got = np.asarray(ops.filter_2d(x, kernels, method="direct"))
    for i, kern in enumerate(kernels):
        np.testing.assert_allclose(got[0, i], _filter2d(x[0], kern), atol=1e-5)
    # A 1-pixel axis is constant (OpenCV), the other still reflects.
    row = x[:, :1]
    got = np.asarray(ops.filter_2d(row, kernels[:1], method="direct"))[0, 0]
    np.testing.assert_allclose(got, _filter2d(row[0], kernels[0]), atol=1e-5)
