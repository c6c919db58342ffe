"""bokeh_jax.refocus: point spreads, an independent layered-scene reference, the knobs."""

import cv2
import numpy as np
import pytest
from scipy import ndimage

import bokeh_jax
from bokeh_jax.inference import refocus as refocus_mod
from bokeh_jax.inference.depth import render_depth
from bokeh_jax.ops.aperture import aperture_kernel
from bokeh_jax.ops.layered import layer_radii

R = 12  # a small largest radius keeps the scenes quick


def _point(size=81):
    img = np.zeros((size, size, 3), np.float32)
    img[size // 2, size // 2] = 1.0
    return img, np.zeros((size, size), np.float32)


@pytest.mark.parametrize("renderer", ["layered", "blend"])
def test_point_spread_of_a_disk_is_a_flat_disk(renderer):
    img, d = _point()
    out = bokeh_jax.refocus(img, d, focus=1.0, max_radius=R, renderer=renderer)[..., 0]
    c = img.shape[0] // 2
    yy, xx = np.mgrid[:img.shape[0], :img.shape[1]] - c
    dist = np.hypot(yy, xx)
    assert abs(out.sum() - 1.0) < 1e-4  # energy conserved
    level = 1.0 / (np.pi * R * R)
    inner = out[dist <= R - 3]
    assert np.abs(inner / level - 1).max() < 0.05  # flat profile at the disk's height
    assert out[dist >= R + 3].max() < 0.02 * level  # nothing beyond the rim
    rim = out[(dist > R - 3) & (dist < R + 3)]
    assert rim.min() < 0.2 * level and rim.max() > 0.8 * level  # the rim falls within ~6 px


def test_point_spread_of_polygon_and_gaussian():
    img, d = _point()
    c = img.shape[0] // 2
    poly = bokeh_jax.refocus(img, d, focus=1.0, max_radius=R, aperture="polygon", blades=3,
                             renderer="blend")[..., 0]
    want = aperture_kernel("polygon", 2 * R + 1, blades=3)[::-1, ::-1]
    np.testing.assert_allclose(poly[c - R:c + R + 1, c - R:c + R + 1], want, atol=1e-5)
    lay = bokeh_jax.refocus(img, d, focus=1.0, max_radius=R, aperture="polygon", blades=3)
    # Layered renders a radius-12 layer at half resolution: the same triangle, rim softened.
    assert np.abs(lay[..., 0][c - R:c + R + 1, c - R:c + R + 1] - want).sum() < 0.25
    gauss = bokeh_jax.refocus(img, d, focus=1.0, max_radius=R, aperture="gaussian",
                              renderer="blend")[..., 0]
    want = aperture_kernel("gaussian", 2 * R + 1)
    np.testing.assert_allclose(gauss[c - R:c + R + 1, c - R:c + R + 1], want, atol=1e-6)


def test_blend_renderer_is_todays_depth_render():
    rng = np.random.default_rng(0)
    img = rng.random((60, 90, 3), np.float32)
    d = ndimage.gaussian_filter(rng.random((60, 90)), 5).astype(np.float32)
    got = bokeh_jax.refocus(img, d, focus=0.4, strength=2.0, renderer="blend",
                            aperture="gaussian")
    want = render_depth(img, None, d, 0.4, 2.0, (25, 45, 75))[0]
    np.testing.assert_array_equal(got, want)


# ---- an independent reference: planes whose full colour and coverage are known ----

def _scene(h=96, w=128):
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    bg = np.stack([0.2 + 0.15 * np.sin(xx / 9), 0.45 + 0.2 * np.cos(yy / 7),
                   0.6 + 0.1 * np.sin((xx + yy) / 11)], -1)
    subject = np.zeros((h, w), np.float32)
    subject[30:70, 40:75] = 1.0
    fg = (np.hypot(yy - 72, xx - 90) <= 20).astype(np.float32)
    planes = [(bg, np.ones((h, w), np.float32), 0.0),                  # far
              (np.broadcast_to(np.float32([0.9, 0.1, 0.1]), (h, w, 3)), subject, 0.5),
              (np.broadcast_to(np.float32([0.1, 0.8, 0.9]), (h, w, 3)), fg, 1.0)]  # near
    return planes, subject


def _reference(planes, focus, strength, max_radius):
    """Slow and obvious: blur each plane's colour*coverage and coverage with its own disk
    (scipy, reflect-101 borders), composite back to front."""
    p = np.zeros(planes[0][0].shape, np.float64)
    for colour, cover, disp in planes:
        r = int(round(min(max_radius, strength * abs(disp - focus) * max_radius)))
        kern = aperture_kernel("disk", 2 * r + 1).astype(np.float64)
        c = np.stack([ndimage.correlate(colour[..., i] * cover, kern, mode="mirror")
                      for i in range(3)], -1)
        a = ndimage.correlate(cover.astype(np.float64), kern, mode="mirror")[..., None]
        p = c + (1 - a) * p
    return p


def _sharp(planes):
    img = np.zeros(planes[0][0].shape, np.float32)
    disp = np.zeros(planes[0][0].shape[:2], np.float32)
    for colour, cover, d in planes:
        img = colour * cover[..., None] + img * (1 - cover[..., None])
        disp = np.where(cover > 0.5, d, disp)
    return img, disp


def _psnr(a, b):
    return 10 * np.log10(1.0 / np.mean((np.asarray(a, np.float64) - b) ** 2))


def test_layered_is_closer_to_the_layer_reference_than_blend():
    planes, subject = _scene()
    img, disp = _sharp(planes)
    ref = _reference(planes, 0.5, 2.0, R)
    kw = dict(focus=0.5, strength=2.0, max_radius=R, aperture="disk")
    layered = bokeh_jax.refocus(img, disp, renderer="layered", **kw)
    blend = bokeh_jax.refocus(img, disp, renderer="blend", **kw)
    p_layered, p_blend = _psnr(layered, ref), _psnr(blend, ref)
    assert p_layered > p_blend + 3.0, (p_layered, p_blend)

    # The red subject's glow into the blurred background beside it (no foreground there).
    dist = ndimage.distance_transform_edt(subject == 0)
    fg = planes[2][1]
    ring = (dist > 1) & (dist <= R) & (ndimage.distance_transform_edt(fg == 0) > R)
    leak_blend = np.mean(np.maximum(blend[..., 0] - ref[..., 0], 0)[ring])
    leak_layered = np.mean(np.maximum(layered[..., 0] - ref[..., 0], 0)[ring])
    assert leak_blend > 0.03  # the blend's glow is real...
    assert leak_layered < 0.2 * leak_blend, (leak_layered, leak_blend)  # ...layered's is not

    # The blurred foreground spreads over the sharp subject: soft, not a hard silhouette.
    edge = (ndimage.distance_transform_edt(fg == 0) > 0) & \
           (ndimage.distance_transform_edt(fg == 0) <= R // 2) & (subject > 0)
    assert np.abs(layered - ref)[edge].mean() < 0.5 * np.abs(blend - ref)[edge].mean()


def test_layer_radii_budget():
    radii = layer_radii(37)
    assert radii[:9] == tuple(range(9)) and radii[-1] == 37
    steps = np.diff(radii)
    assert np.all(steps[:8] == 1)  # a pixel of radius up to 8
    assert np.all(steps[8:] <= np.ceil(0.15 * np.asarray(radii[9:])))  # then ~1/8


def test_in_focus_pixels_are_kept_and_gamma_keeps_energy():
    rng = np.random.default_rng(4)
    img = rng.random((50, 70, 3), np.float32)
    d = np.full((50, 70), 0.5, np.float32)
    out = bokeh_jax.refocus(img, d, focus=0.5, gamma=2.2, max_radius=R)  # layered: the photo
    np.testing.assert_allclose(out, img, atol=2e-6)
    # The blend keeps w_0 > 0.999 at the focus (weights_from_depth), not exactly 1.
    out = bokeh_jax.refocus(img, d, focus=0.5, renderer="blend", max_radius=R)
    np.testing.assert_allclose(out, img, atol=1e-3)
    # One light on black, far from the focus: in linear light the disk keeps the light's
    # energy, so with gamma 2.2 it is brighter than the sRGB-space blur.
    pt, dd = _point()
    pt *= 0.9
    plain = bokeh_jax.refocus(pt, dd, focus=1.0, max_radius=R, renderer="blend")
    lin = bokeh_jax.refocus(pt, dd, focus=1.0, max_radius=R, renderer="blend", gamma=2.2)
    c = pt.shape[0] // 2
    expected = (0.9 ** 2.2 / (np.pi * R * R)) ** (1 / 2.2)
    assert abs(lin[c, c, 0] - expected) < 0.05 * expected
    assert lin[c, c, 0] > 10 * plain[c, c, 0]
    boosted = bokeh_jax.refocus(pt, dd, focus=1.0, max_radius=R, renderer="blend",
                                highlight=3.0)
    np.testing.assert_array_equal(boosted, plain)  # 0.9 is below the knee: no boost
    pt[c, c] = 1.0
    boosted = bokeh_jax.refocus(pt, dd, focus=1.0, max_radius=R, renderer="blend", highlight=3.0)
    plain = bokeh_jax.refocus(pt, dd, focus=1.0, max_radius=R, renderer="blend")
    # A one-pixel light: its spread is the 13-tap Gaussian's centre tap squared.
    small = 1 - float(cv2.getGaussianKernel(13, 0)[6, 0]) ** 2 / 0.5
    np.testing.assert_allclose(boosted[c, c, 0], (1 + 3.0 * small) * plain[c, c, 0], rtol=1e-4)
    # A large clipped area (an overcast sky) is a surface, not a light: left alone.
    sky = np.ones((60, 60, 3), np.float32)
    np.testing.assert_array_equal(
        bokeh_jax.refocus(sky, np.zeros((60, 60), np.float32), focus=1.0, max_radius=R,
                          highlight=3.0), sky)


def test_traced_knobs_do_not_recompile_and_tiles_match_the_whole():
    rng = np.random.default_rng(5)
    img = rng.random((200, 260, 3), np.float32)
    d = np.tile(np.linspace(0, 1, 260, dtype=np.float32), (200, 1))
    fn = refocus_mod._layered_tile
    bokeh_jax.refocus(img, d, focus=0.2, max_radius=R)
    before = fn._cache_size()
    whole = bokeh_jax.refocus(img, d, focus=0.7, strength=0.5, gamma=2.0, highlight=1.0,
                              max_radius=R)
    assert fn._cache_size() == before
    tiled = bokeh_jax.refocus(img, d, focus=0.7, strength=0.5, gamma=2.0, highlight=1.0,
                              max_radius=R, window=128)
    assert np.abs(tiled - whole).max() < 1e-4


def test_alpha_transparent_pixels_add_no_colour():
    img = np.zeros((40, 60, 3), np.float32)
    img[:, :30] = [0.2, 0.6, 0.3]  # visible
    alpha = np.zeros((40, 60), np.uint8)
    alpha[:, :30] = 255
    d = np.zeros((40, 60), np.float32)
    out = bokeh_jax.refocus(img, d, focus=1.0, max_radius=R, alpha=alpha)
    np.testing.assert_allclose(out[:, :30], np.broadcast_to([0.2, 0.6, 0.3], (40, 30, 3)),
                               atol=1e-5)


@pytest.mark.parametrize("kwargs,match", [
    (dict(renderer="scatter"), "unknown renderer 'scatter'"),
    (dict(aperture="star"), "unknown aperture 'star'"),
    (dict(gamma=0.0), "gamma=0.0"),
    (dict(strength=-1.0), "strength=-1.0"),
    (dict(max_radius=0), "max_radius=0"),
    (dict(focus=float("nan")), "focus=nan"),
    (dict(blades=1, aperture="polygon"), "3 to 64 blades"),
])
def test_bad_arguments_are_one_clear_error(kwargs, match):
    img = np.zeros((8, 8, 3), np.float32)
    d = np.zeros((8, 8), np.float32)
    kw = {"focus": 0.5, **kwargs}
    with pytest.raises(ValueError, match=match):
        bokeh_jax.refocus(img, d, **kw)
    with pytest.raises(ValueError, match="must match the image"):
        bokeh_jax.refocus(img, d[:4], focus=0.5)
