"""The statistics the synthetic set is calibrated with, against hand-computed values and OpenCV;
and the calibrated generator's own properties."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from bokeh_jax.data import photo_stats as ps
from bokeh_jax.data import synthetic, textures


def _texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Fine random detail (uniform noise lightly smoothed), RGB in [0, 1]."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, (h, w, 3)).astype(np.float32)
    return cv2.GaussianBlur(x, (0, 0), 0.8)


def test_exposure_gain_is_the_ratio_of_channel_means():
    original = np.full((8, 10, 3), 0.4, np.float32)
    bokeh = np.empty_like(original)
    bokeh[..., 0], bokeh[..., 1], bokeh[..., 2] = 0.5, 0.44, 0.2
    np.testing.assert_allclose(ps.exposure_gain(original, bokeh), [1.25, 1.1, 0.5], rtol=1e-6)


@pytest.mark.parametrize("sigma", [3.0, 8.0])
def test_blur_map_finds_the_sigma_opencv_blurred_with(sigma):
    """Left half untouched, right half blurred by OpenCV (and the whole pair brighter by 10%):
    the fit returns 0 on the left tiles and sigma on the right ones."""
    original = _texture(128, 256)
    blurred = cv2.GaussianBlur(original, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)
    bokeh = original.copy()
    bokeh[:, 128:] = blurred[:, 128:]
    bokeh *= 1.1
    got, ok = ps.blur_map(original, bokeh, tile=32)
    assert got.shape == ok.shape == (4, 8) and ok.all()
    # Tiles next to the seam see both halves; the others are clean.
    np.testing.assert_array_equal(got[:, :3], 0.0)
    np.testing.assert_array_equal(got[:, 5:], sigma)


def test_blur_map_marks_flat_tiles_unmeasurable():
    original = _texture(64, 64)
    original[:32] = 0.5  # top half flat: any blur fits it
    _, ok = ps.blur_map(original, original, tile=32)
    np.testing.assert_array_equal(ok, [[False, False], [True, True]])


def test_region_stats_of_a_hand_drawn_mask():
    mask = np.zeros((50, 100), bool)
    mask[10:30, 40:60] = True  # the main part: 400 pixels
    mask[45:47, 0:3] = True  # a small separate one: 6 pixels
    s = ps.region_stats(mask)
    assert s["area"] == pytest.approx(406 / 5000)
    assert s["main_area"] == pytest.approx(400 / 5000)
    assert s["cx"] == pytest.approx(50 / 100) and s["cy"] == pytest.approx(20 / 50)
    assert s["height"] == pytest.approx(20 / 50) and s["width"] == pytest.approx(20 / 100)
    assert s["bottom"] == pytest.approx(30 / 50)
    empty = ps.region_stats(np.zeros((4, 4), bool))
    assert empty["area"] == 0.0 and np.isnan(empty["cx"])


def test_near_mask_splits_two_depth_modes():
    rng = np.random.default_rng(1)
    depth = rng.normal(0.2, 0.03, (40, 60))
    depth[5:25, 10:30] = rng.normal(0.8, 0.03, (20, 20))  # the near subject
    truth = np.zeros(depth.shape, bool)
    truth[5:25, 10:30] = True
    np.testing.assert_array_equal(ps.near_mask(depth), truth)


def test_detail_stats_of_a_cosine_match_the_gaussian_transfer_function():
    """cos(2 pi f x) through a Gaussian of sigma keeps exp(-2 pi^2 sigma^2 f^2) of its
    amplitude; gradient energy scales with the amplitude squared. 65 columns with f = 1/8
    make the mirrored borders exact continuations of the cosine."""
    f, amplitude = 1 / 8, 0.3
    x = np.arange(65, dtype=np.float64)
    img = np.tile(0.5 + amplitude * np.cos(2 * np.pi * f * x), (33, 1))
    keep = {s: np.exp(-2 * np.pi**2 * s**2 * f**2) for s in (1.5, 2.0, 8.0)}
    s = ps.detail_stats(img, sigma=1.5, removed_sigmas=(2.0, 8.0))
    assert s["hf_share"] == pytest.approx(1 - keep[1.5] ** 2, abs=0.01)
    # RMS over the image of (1 - keep) * A cos(.): sampled exactly 8 points a period.
    for sig in (2.0, 8.0):
        want = (1 - keep[sig]) * amplitude * np.sqrt(np.mean(np.cos(2 * np.pi * f * x) ** 2))
        assert s[f"removed_rms_{sig:g}"] == pytest.approx(want, rel=0.02)
    flat = ps.detail_stats(np.full((16, 16), 0.3))
    assert flat["grad_energy"] == 0.0 and flat["hf_share"] == 0.0


def test_background_blur_is_drawn_in_pixels_whatever_the_image_size():
    """The calibration's point: the wall's circle of confusion has EBB!'s size in pixels
    (median BG_RADIUS_MEDIAN) at any image size, so the kernels 25/45/75 keep their meaning."""
    def radii(h, w):
        out = []
        for i in range(60):
            scene = synthetic.sample_scene(np.random.default_rng([i, 3]), h, w)
            out.append(max(lay.radius for lay in scene.layers if lay.sort_depth
                           == max(la.sort_depth for la in scene.layers)))
        return np.array(out)

    small, large = radii(24, 36), radii(48, 72)
    np.testing.assert_allclose(small, large)  # the same draws, the same pixels
    lo, hi = synthetic.BG_RADIUS_RANGE
    assert lo <= small.min() and small.max() <= hi
    assert np.median(small) == pytest.approx(synthetic.BG_RADIUS_MEDIAN, rel=0.25)


def test_foliage_has_fine_detail_but_no_pixel_noise():
    """Foliage is detail at the scale of leaves: most of its gradient energy survives a
    one-pixel blur that would remove pixel noise, unlike uniform noise."""
    rng = np.random.default_rng(0)
    leaves = textures.foliage(rng, 96, 144)
    assert leaves.shape == (96, 144, 3) and leaves.dtype == np.float32
    assert 0.0 <= leaves.min() and leaves.max() <= 1.0
    noise = rng.uniform(0, 1, (96, 144)).astype(np.float32)
    assert ps.detail_stats(leaves, sigma=1.0)["hf_share"] < 0.75
    assert ps.detail_stats(noise, sigma=1.0)["hf_share"] > 0.9
    assert ps.detail_stats(leaves)["removed_rms_2"] > 0.01  # not flat either


def test_native_crop_keeps_the_photo_scale():
    """A native crop of a photo shows its detail at about one photo pixel per pixel: its
    gradient energy is within the scale jitter of the photo's own, where a crop shrunk to
    fit (the old textures) has several times more."""
    from PIL import Image

    photo = Image.fromarray((_texture(200, 300, seed=2) * 255).astype(np.uint8))
    whole = ps.detail_stats(np.asarray(photo) / 255.0)["grad_energy"]
    rng = np.random.default_rng(4)
    crops = [ps.detail_stats(textures.native_crop(rng, photo, 40, 60) / 255.0)["grad_energy"]
             for _ in range(20)]
    assert 0.4 * whole < np.median(crops) < 1.6 * whole
    big = textures.native_crop(rng, photo, 500, 700)  # larger than the photo: mirror-tiled
    assert big.shape == (500, 700, 3)
