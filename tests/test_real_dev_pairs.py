"""experiments/real_dev_pairs.py: the development set's lens settings give each photo the
background blur it was assigned, measured with the renderer's own circle of confusion."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from bokeh_jax.ops import layered

_PATH = Path(__file__).resolve().parents[1] / "experiments" / "real_dev_pairs.py"
_spec = importlib.util.spec_from_file_location("real_dev_pairs", _PATH)
real_dev_pairs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(real_dev_pairs)


def test_background_radii_are_ebbs_sigma_quantiles_shuffled_by_seed():
    radii = real_dev_pairs.background_radii(12, seed=0)
    ordered = np.sort(radii)
    # Quantiles symmetric about the median: the middle two straddle 2 x 11 px geometrically.
    assert np.sqrt(ordered[5] * ordered[6]) == pytest.approx(22.0, rel=1e-6)
    # log-sd of 12 evenly spaced normal quantiles is below 0.58 (the tails are cut): 0.50-0.58.
    assert 0.50 < np.std(np.log(ordered)) < 0.58
    np.testing.assert_array_equal(np.sort(real_dev_pairs.background_radii(12, seed=1)), ordered)
    assert not np.array_equal(real_dev_pairs.background_radii(12, seed=1), radii)
    assert ordered[0] >= 3.0 and ordered[-1] <= 64.0


@pytest.mark.parametrize("radius", [6.0, 22.0, 40.0])
def test_lens_settings_blur_the_far_background_by_the_assigned_radius(radius):
    """Near region (disparity 0.8, 30% of the frame) in focus; the 5th percentile of a
    background ramp gets the radius, by refocus's own thin-lens formula."""
    rng = np.random.default_rng(0)
    disparity = rng.uniform(0.1, 0.4, (40, 60)).astype(np.float32)
    disparity[:, :18] = 0.8
    lens = real_dev_pairs.lens_settings(disparity, radius)
    assert lens["focus"] == pytest.approx(0.8)
    far = np.percentile(disparity, 5)
    got = -float(layered.coc_radius(far, lens["focus"], lens["strength"], lens["max_radius"]))
    assert got == pytest.approx(radius, rel=1e-5)
    assert float(layered.coc_radius(0.8, lens["focus"], lens["strength"],
                                    lens["max_radius"])) == 0.0
