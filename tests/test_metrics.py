"""PSNR and SSIM against scikit-image on 8-bit images; dm-pix SSIM against scikit-image's
Gaussian SSIM; hand-computed values."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import noisy, sample_photo
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio as sk_psnr
from skimage.metrics import structural_similarity as sk_ssim

from bokeh_jax.evaluation import metrics

TOL = 1e-4


def _u8(x: np.ndarray) -> np.ndarray:
    """The reference's 8-bit image, with the same rule as metrics.quantize_8bit."""
    return np.round(np.clip(x, 0, 1) * np.float32(255)).astype(np.uint8)


def _pairs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    astro = sample_photo("astronaut", 37, 53)
    coffee = sample_photo("coffee", 61, 97)
    return {
        "noise_37x53": (rng.random((37, 53, 3), np.float32), rng.random((37, 53, 3), np.float32)),
        "astronaut_37x53_vs_noisy": (astro, noisy(astro, 0.05, 1)),
        "coffee_61x97_vs_chelsea": (coffee, sample_photo("chelsea", 61, 97)),
        # Out-of-range values: quantisation clips them, as saving a PNG would.
        "coffee_61x97_out_of_range": (coffee, (coffee - 0.5) * 1.3 + 0.5),
        # Bright and nearly flat: where E[x^2]-E[x]^2 in float32 would cancel.
        "bright_flat_61x97": (np.full((61, 97, 3), 0.98, np.float32),
                              noisy(np.full((61, 97, 3), 0.98, np.float32), 0.004, 2)),
    }


PAIRS = _pairs()


@pytest.fixture(scope="module")
def ebb_pairs(shared_data) -> list[tuple[np.ndarray, np.ndarray]]:
    """The six real EBB! pairs (input, bokeh target), downscaled to 101x153 (odd sizes)."""
    root = shared_data / "ebb_samples" / "Training"
    pairs = []
    for path in sorted((root / "original").glob("*.jpg")):
        def load(p):
            return np.asarray(Image.open(p).convert("RGB").resize((153, 101), Image.BOX),
                              np.float32) / 255
        pairs.append((load(path), load(root / "bokeh" / path.name)))
    assert len(pairs) == 6
    return pairs


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_psnr_and_ssim_match_skimage(name):
    x, y = PAIRS[name]
    got_psnr = float(metrics.psnr(x[None], y[None])[0])
    got_ssim = float(metrics.ssim(x[None], y[None])[0])
    ref_psnr = sk_psnr(_u8(x), _u8(y), data_range=255)
    ref_ssim = sk_ssim(_u8(x), _u8(y), channel_axis=-1, data_range=255)
    assert got_psnr == pytest.approx(ref_psnr, abs=TOL)
    assert got_ssim == pytest.approx(ref_ssim, abs=TOL)


def test_metrics_match_skimage_on_real_ebb_pairs(ebb_pairs):
    # One batch of all six pairs: also checks that batching gives per-image values.
    x = np.stack([p[0] for p in ebb_pairs])
    y = np.stack([p[1] for p in ebb_pairs])
    got_psnr, got_ssim = np.asarray(metrics.psnr(x, y)), np.asarray(metrics.ssim(x, y))
    got_gauss = np.asarray(metrics.ssim_gaussian(x, y))
    assert got_psnr.shape == got_ssim.shape == got_gauss.shape == (6,)
    for i, (a, b) in enumerate(ebb_pairs):
        assert got_psnr[i] == pytest.approx(sk_psnr(_u8(a), _u8(b), data_range=255), abs=TOL)
        assert got_ssim[i] == pytest.approx(
            sk_ssim(_u8(a), _u8(b), channel_axis=-1, data_range=255), abs=TOL)
        assert got_gauss[i] == pytest.approx(_sk_gaussian_ssim(a, b), abs=TOL)
    # Real pairs differ (the target is a different photo), so none of this is trivial.
    assert np.all(got_ssim < 0.99) and np.all(got_psnr < 40)


def test_ssim_is_exact_on_bright_flat_images():
    # Values near 255 with one-level noise: the textbook float32 form E[x^2] - E[x]^2 is off
    # by ~9e-6 here (measured); the integer window sums are exact, so the only error left is
    # float32 rounding of the final ratio.
    rng = np.random.default_rng(6)
    x, y = (np.clip(0.99 + 0.0015 * rng.standard_normal((1, 256, 384, 3)), 0, 1)
            .astype(np.float32) for _ in range(2))
    want = sk_ssim(_u8(x[0]), _u8(y[0]), channel_axis=-1, data_range=255)
    assert float(metrics.ssim(x, y)[0]) == pytest.approx(want, abs=1e-6)


def test_unquantized_ssim_and_psnr_match_skimage_on_floats():
    # Half black, half bright with fine noise: values far from the image mean, where a
    # float32 variance is most fragile.
    rng = np.random.default_rng(3)
    x = np.zeros((61, 97, 3), np.float32)
    x[:, 48:] = 0.97
    x = np.clip(x + 0.003 * rng.standard_normal(x.shape), 0, 1).astype(np.float32)
    y = noisy(x, 0.01, 4)
    for a, b in ((x, y), PAIRS["coffee_61x97_vs_chelsea"]):
        got_ssim = float(metrics.ssim(a[None], b[None], quantize=False)[0])
        got_psnr = float(metrics.psnr(a[None], b[None], quantize=False)[0])
        a64, b64 = a.astype(np.float64) * 255, b.astype(np.float64) * 255
        assert got_ssim == pytest.approx(
            sk_ssim(a64, b64, channel_axis=-1, data_range=255), abs=TOL)
        assert got_psnr == pytest.approx(sk_psnr(a64, b64, data_range=255), abs=TOL)


def test_psnr_hand_computed():
    x = np.zeros((2, 8, 10, 3), np.float32)
    y = x.copy()
    y[0] = 1 / 255  # every value off by one level: MSE 1
    y[1, :4] = 10 / 255  # half the values off by 10 levels: MSE 50
    got = np.asarray(metrics.psnr(x, y))
    assert got[0] == pytest.approx(20 * math.log10(255), abs=TOL)  # 48.1308 dB
    assert got[1] == pytest.approx(10 * math.log10(255 ** 2 / 50), abs=TOL)  # 31.1411 dB


def test_psnr_of_identical_images_is_inf():
    x = PAIRS["noise_37x53"][0][None]
    assert np.isposinf(np.asarray(metrics.psnr(x, x))).all()
    # Differences below half an 8-bit level vanish in the 8-bit protocol, not without it.
    levels = np.round(x * 255) / 255
    shifted = levels + np.float32(0.4 / 255)
    assert np.isposinf(float(metrics.psnr(levels, shifted)[0]))
    assert float(metrics.psnr(levels, shifted, quantize=False)[0]) == pytest.approx(
        20 * math.log10(255 / 0.4), abs=1e-3)


def test_quantize_8bit_rounds_and_clips_like_a_saved_png():
    x = np.array([-0.2, 0.0, 0.4 / 255, 0.6 / 255, 127.4 / 255, 1.0, 1.7], np.float32)
    assert np.asarray(metrics.quantize_8bit(x)).tolist() == [0, 0, 0, 1, 127, 255, 255]


def test_ssim_hand_computed_on_constant_images():
    # Constant images: variances and covariance are 0, so SSIM = (2ab + C1) / (a^2 + b^2 + C1).
    a, b = 100, 140
    x = np.full((1, 9, 12, 3), a / 255, np.float32)
    y = np.full((1, 9, 12, 3), b / 255, np.float32)
    c1 = (0.01 * 255) ** 2
    want = (2 * a * b + c1) / (a * a + b * b + c1)
    assert float(metrics.ssim(x, y)[0]) == pytest.approx(want, abs=1e-6)
    assert float(metrics.ssim(x, x)[0]) == pytest.approx(1.0, abs=1e-6)


def test_ssim_channels_are_averaged():
    # One channel identical, the others from an unrelated image: mean of per-channel SSIMs.
    x, y = PAIRS["coffee_61x97_vs_chelsea"]
    mixed = y.copy()
    mixed[..., 0] = x[..., 0]
    per_channel = [sk_ssim(_u8(x)[..., c], _u8(mixed)[..., c], data_range=255)
                   for c in range(3)]
    assert per_channel[0] == pytest.approx(1.0)
    assert float(metrics.ssim(x[None], mixed[None])[0]) == pytest.approx(
        np.mean(per_channel), abs=TOL)


def _sk_gaussian_ssim(a: np.ndarray, b: np.ndarray) -> float:
    # scikit-image's Gaussian SSIM: sigma 1.5 with truncate 3.5 is the same 11-tap window,
    # border crop of 5 is the same valid region, population covariance like dm-pix.
    return sk_ssim(a.astype(np.float64), b.astype(np.float64), channel_axis=-1, data_range=1.0,
                   gaussian_weights=True, sigma=1.5, use_sample_covariance=False)


@pytest.mark.parametrize("name", ["astronaut_37x53_vs_noisy", "coffee_61x97_vs_chelsea"])
def test_ssim_gaussian_matches_skimage_gaussian_ssim(name):
    x, y = PAIRS[name]
    got = float(metrics.ssim_gaussian(x[None], y[None])[0])
    assert got == pytest.approx(_sk_gaussian_ssim(x, y), abs=TOL)
    # A different number from the paper's SSIM (uniform 7x7 window on 8-bit values).
    assert abs(got - float(metrics.ssim(x[None], y[None])[0])) > 1e-3


def test_ssim_gaussian_is_differentiable():
    x, y = PAIRS["astronaut_37x53_vs_noisy"]
    x, y = jnp.asarray(x[None]), jnp.asarray(y[None])

    def loss(z):
        return -jnp.sum(metrics.ssim_gaussian(z, y))

    grad = jax.grad(loss)(x)
    assert grad.shape == x.shape and bool(jnp.all(jnp.isfinite(grad)))
    # Directional derivative against a central difference.
    direction = jnp.asarray(np.random.default_rng(5).standard_normal(x.shape), jnp.float32)
    eps = 1e-3
    numeric = (loss(x + eps * direction) - loss(x - eps * direction)) / (2 * eps)
    assert float(jnp.vdot(grad, direction)) == pytest.approx(float(numeric), rel=2e-2)


def test_bad_shapes_raise_clear_errors():
    x = np.zeros((1, 6, 20, 3), np.float32)
    with pytest.raises(ValueError, match="at least 7 pixels"):
        metrics.ssim(x, x)
    with pytest.raises(ValueError, match="same shape"):
        metrics.psnr(x, x[:, :, :10])
    with pytest.raises(ValueError, match=r"\(N,H,W,C\)"):
        metrics.ssim(x[0], x[0])
