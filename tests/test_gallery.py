"""``make gallery``: files, contact sheet, and what the renders show on the Middlebury photo.

The Middlebury photo has ground-truth disparity, so "focus where asked, blur growing with the
distance from it and with the strength" is measured, not eyeballed: the change from the input
per disparity band. A two-photo stand-in for the PyNET folder keeps the run small.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bokeh_jax.cli import run_main
from bokeh_jax.inference.depth import disparity_map
from bokeh_jax.io import samples
from bokeh_jax.render import gallery

pytestmark = pytest.mark.slow  # renders the whole gallery (make gallery) end to end


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gallery")
    pynet = root / "pynet"
    (pynet / "images").mkdir(parents=True)
    (pynet / "depth_maps").mkdir()
    rng = np.random.default_rng(0)
    for i in (1, 2):
        photo = rng.integers(0, 200, (64, 96, 3), np.uint8)
        if i == 2:  # small lights: 7 x 11 white dots, more than the Middlebury photo has
            photo[4::9, 4::9][:7, :11] = 255
            photo[5::9, 4::9][:7, :11] = 255
            photo[4::9, 5::9][:7, :11] = 255
            photo[5::9, 5::9][:7, :11] = 255
        Image.fromarray(photo).save(pynet / "images" / f"{i}.jpg", quality=100)
        Image.fromarray(rng.integers(0, 256, (32, 48), np.uint8)).save(
            pynet / "depth_maps" / f"{i}.png")
    out = root / "out"
    assert run_main(gallery.main, ["--out", str(out), "--pynet", str(pynet),
                                   "--strengths", "0.5,2", "--lens-photos", "1",
                                   "--max-radius", "24"]) == 0
    return out


def test_files_and_contact_sheet(run):
    names = sorted(p.name for p in run.iterdir())
    want = sorted(["contact_sheet.jpg", "ebb_1.jpg", "ebb_2.jpg", "lens", "lens_sheet.jpg",
                   "motorcycle_weights_focus_middle.png"] +
                  [f"motorcycle_focus_{f}_strength_{s}.jpg" for f in ("near", "middle", "far")
                   for s in ("0.5", "2")])
    assert names == want
    assert Image.open(run / "ebb_1.jpg").size == (96, 64)
    sheet = Image.open(run / "contact_sheet.jpg")
    # 1 + 2 Middlebury rows and 2 PyNET rows of 240-pixel tiles, labels and captions.
    assert sheet.height > 5 * 240 and sheet.width > 3 * 240
    lens = sorted(p.name for p in (run / "lens").iterdir())
    # The stand-in with the bright dots is the photo with the most small lights.
    assert lens == sorted(f"ebb_2_{gallery._slug(label)}.jpg"
                          for label, _ in gallery.LENS_VARIANTS)
    assert Image.open(run / "lens_sheet.jpg").height > 4 * 256


def test_focus_and_blur_follow_the_true_disparity(run):
    image, raw = samples.motorcycle()
    disparity, _ = disparity_map(raw, image.shape[:2])
    src = image * 255.0

    def change(focus: str, strength: str) -> np.ndarray:
        out = np.asarray(Image.open(run / f"motorcycle_focus_{focus}_strength_{strength}.jpg"),
                         np.float32)
        return np.abs(out - src).mean(-1)

    near, far = disparity > np.percentile(disparity, 90), disparity < np.percentile(disparity, 10)
    for strength in ("0.5", "2"):
        d_near, d_far = change("near", strength), change("far", strength)
        assert d_near[near].mean() < d_near[far].mean()  # focused near: the far part blurs
        assert d_far[far].mean() < d_far[near].mean()  # and the other way round
    # Blur grows with the distance from the focus (disparity bands) and with the strength.
    focus = np.percentile(disparity, gallery.FOCUS_PERCENTILES["near"])
    dist = np.abs(disparity - focus)
    bands = [dist < 0.1, (dist > 0.3) & (dist < 0.5), dist > 0.7]
    for strength in ("0.5", "2"):
        d = change("near", strength)
        means = [d[b].mean() for b in bands]
        assert means[0] < means[1] < means[2], (strength, means)
    assert change("near", "2")[far].mean() > 1.2 * change("near", "0.5")[far].mean()
