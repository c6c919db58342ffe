"""Synthetic bokeh: determinism, thin-lens physics, occlusion-aware compositing, the build."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from bokeh_jax.data import pipeline, prepare, synthetic
from bokeh_jax.data.synthetic import Layer, Scene


def _scene(layers, *, r_inf=8.0, z_f=1.0, size=(48, 64), margin=16) -> Scene:
    # gamma 1, no highlight boost: the render is then linear and easy to reason about.
    return Scene(size[0], size[1], margin, layers, z_f, r_inf, gamma=1.0, boost=0.0,
                 noise_sigma=0.0)


def _plane(value, hc, wc, depth, r_inf=8.0, z_f=1.0, top=0, left=0) -> Layer:
    color = np.broadcast_to(np.asarray(value, np.float32)[:, None, None], (3, hc, wc)).copy()
    return Layer(top, left, color, np.ones((hc, wc), np.float32), depth, depth,
                 float(synthetic.coc_radius(depth, z_f, r_inf)))


def test_same_seed_same_pair_and_seeds_differ():
    a = synthetic.make_example(3, "train", 5, 40, 60)
    b = synthetic.make_example(3, "train", 5, 40, 60)
    c = synthetic.make_example(4, "train", 5, 40, 60)
    d = synthetic.make_example(3, "validation", 5, 40, 60)
    for k in ("original", "bokeh", "depth"):
        np.testing.assert_array_equal(a[k], b[k])
    assert a["original"].shape == (40, 60, 3) and a["original"].dtype == np.uint8
    assert a["depth"].shape == (40, 60) and a["depth"].dtype == np.float32
    assert not np.array_equal(a["original"], c["original"])
    assert not np.array_equal(a["original"], d["original"])


@pytest.mark.parametrize("depth", [1.6, 4.0, 50.0])
def test_point_light_spreads_to_the_thin_lens_disk(depth):
    """A point at depth z images to a disk of radius r_inf |z_f / z - 1| (energy conserved)."""
    m = 16
    hc, wc = 48 + 2 * m, 64 + 2 * m
    bg = _plane((0, 0, 0), hc, wc, depth)
    bg.color[:, m + 24, m + 32] = 1.0  # one bright pixel
    _, bokeh, _ = synthetic.render(_scene([bg], margin=m))
    r = 8.0 * abs(1.0 / depth - 1.0)  # hand-computed CoC radius (z_f = 1, r_inf = 8)
    lum = bokeh[..., 0]
    yy, xx = np.mgrid[0:48, 0:64]
    dist = np.hypot(yy - 24, xx - 32)
    assert lum.sum() == pytest.approx(1.0, rel=1e-4)
    assert lum[dist > r + 1.0].max() < 1e-6  # nothing outside the disk
    inside = lum[dist < r - 1.0]
    assert inside.min() > 0.0  # all of the disk lit, and evenly (a disk, not a Gaussian)
    assert inside.max() / inside.min() < 1.0 + 1e-3


def test_in_focus_subject_stays_sharp_and_background_does_not_bleed_into_it():
    """Red subject in focus over a blue far wall: its pixels (edges included) stay red."""
    m = 16
    hc, wc = 48 + 2 * m, 64 + 2 * m
    wall = _plane((0, 0, 1), hc, wc, 20.0)
    subject = _plane((1, 0, 0), 20, 24, 1.0, top=m + 14, left=m + 20)
    original, bokeh, depth = synthetic.render(_scene([wall, subject], margin=m))
    mask = depth == 1.0
    assert mask.sum() == 20 * 24
    np.testing.assert_array_equal(bokeh[mask], original[mask])
    # The wall keeps its colour right up to the silhouette: no red spread outwards.
    ring = ndimage.binary_dilation(mask, iterations=2) & ~mask
    assert bokeh[ring][:, 0].max() < 1e-6


def test_blurred_foreground_turns_semi_transparent_over_a_sharp_background():
    """A near layer (z < z_f) is blurred with its alpha: its colour spreads past its edge."""
    m = 16
    hc, wc = 48 + 2 * m, 64 + 2 * m
    wall = _plane((0, 0, 1), hc, wc, 1.0)  # in focus
    near = _plane((1, 0, 0), 20, 24, 0.5, top=m + 14, left=m + 20)  # r = 8 |2 - 1| = 8
    _, bokeh, _ = synthetic.render(_scene([wall, near], margin=m))
    row = bokeh[24]  # through the middle of the near square (columns 20..43)
    assert row[15, 0] > 0.1 and row[15, 2] < 0.9  # 5 px left of it: red over blue
    assert row[10, 0] < 1e-6  # farther than r from its edge: wall only
    assert row[31, 0] == pytest.approx(1.0, abs=1e-5)  # middle: opaque
    np.testing.assert_allclose(bokeh.sum(-1), 1.0, atol=1e-5)  # compositing conserves light


def test_detail_falls_with_distance_from_the_focal_plane():
    """Noise textures at z_f, 2 z_f and 50 z_f: sharp, blurred, blurred more."""
    m, rng = 16, np.random.default_rng(0)
    hc, wc = 64 + 2 * m, 96 + 2 * m

    def noisy(layer):
        layer.color[:] = rng.random(layer.color.shape, np.float32)
        return layer

    wall = noisy(_plane((0, 0, 0), hc, wc, 50.0, r_inf=6.0))
    mid = noisy(_plane((0, 0, 0), 40, 36, 2.0, r_inf=6.0, top=m + 12, left=m + 4))
    subject = noisy(_plane((0, 0, 0), 40, 36, 1.0, r_inf=6.0, top=m + 12, left=m + 56))
    original, bokeh, depth = synthetic.render(
        _scene([wall, mid, subject], r_inf=6.0, size=(64, 96), margin=m))

    def detail_ratio(z):  # mean squared horizontal gradient, bokeh / original
        region = ndimage.binary_erosion(depth == z, iterations=7)[:, 1:]
        g_b, g_o = np.diff(bokeh, axis=1)[region], np.diff(original, axis=1)[region]
        return float((g_b**2).mean() / (g_o**2).mean())

    assert detail_ratio(1.0) == 1.0
    assert 0.0 < detail_ratio(50.0) < detail_ratio(2.0) < 0.5


@pytest.mark.parametrize("seed", range(4))
def test_random_scenes_keep_the_subject_sharp(seed):
    """In sampled scenes the subject's pixels equal the all-in-focus render."""
    rng = np.random.default_rng([seed, 7])
    scene = synthetic.sample_scene(rng, 64, 96)
    original, bokeh, depth = synthetic.render(scene)
    assert original.shape == bokeh.shape == (64, 96, 3) and depth.shape == (64, 96)
    assert 0.0 <= bokeh.min() and bokeh.max() <= 1.0
    subject = depth == np.float32(scene.focus_depth)
    # Inside its soft rim, only a nearer (blurred) layer can cover the subject: the ground in
    # front of it, within its blur radius. Everything else lies behind.
    reach = np.zeros((scene.height + 2 * scene.margin, scene.width + 2 * scene.margin), bool)
    for lay in scene.layers:
        if lay.sort_depth < scene.focus_depth:
            r = int(np.ceil(lay.radius)) + 1
            h, w = lay.alpha.shape
            reach[max(lay.top - r, 0):lay.top + h + r, max(lay.left - r, 0):lay.left + w + r] = 1
    # Where the subject is opaque (its rim is soft, wider than a pixel on stretched shapes).
    opaque = np.zeros_like(reach)
    for lay in scene.layers:
        if np.ndim(lay.depth) == 0 and lay.depth == scene.focus_depth:
            h, w = lay.alpha.shape
            opaque[lay.top:lay.top + h, lay.left:lay.left + w] |= lay.alpha == 1.0
    m = scene.margin
    core = subject & (opaque & ~reach)[m:-m, m:-m]
    assert core.sum() >= 20  # the check below compares real pixels
    np.testing.assert_array_equal(bokeh[core], original[core])
    # The subject is the nearest object: every other object is at 1.25 z_f or farther.
    flat = [lay for lay in scene.layers if np.ndim(lay.depth) == 0]  # not ground bands
    assert min(lay.sort_depth for lay in flat) == scene.focus_depth
    others = [lay.sort_depth for lay in flat if lay.sort_depth != scene.focus_depth]
    assert all(z >= 1.25 * scene.focus_depth for z in others)


@pytest.fixture(scope="module")
def small_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("tfds")
    return prepare.prepare_synthetic(data_dir=out, num_train=6, num_val=3, height=32, width=48,
                                     seed=5, workers=1, log=lambda *a: None)


def test_build_stores_the_generator_output(small_build):
    ds = small_build
    assert ds.name == "synthetic_bokeh/32x48_train6_val3_seed5"
    assert ds.splits == {"train": 6, "validation": 3}
    examples = pipeline.eval_examples(ds, "validation")
    assert len(examples) == 3 and [examples[i]["id"] for i in range(3)] == [0, 1, 2]
    ex, ref = examples[2], synthetic.make_example(5, "validation", 2, 32, 48)
    for k in ("original", "bokeh"):  # PNG: lossless
        np.testing.assert_array_equal(ex[k], ref[k].astype(np.float32) / 255.0)
    np.testing.assert_array_equal(ex["depth"], ref["depth"])
    assert ex["focus_depth"] == pytest.approx(ref["focus_depth"], rel=1e-6)


def test_rebuild_is_a_noop_and_sizes_do_not_collide(small_build):
    lines = []
    again = prepare.prepare_synthetic(data_dir=small_build.data_dir, num_train=6, num_val=3,
                                      height=32, width=48, seed=5, log=lines.append)
    assert again == small_build and "already built" in lines[0]
    other = prepare.prepare_synthetic(data_dir=small_build.data_dir, num_train=2, num_val=0,
                                      height=16, width=24, seed=5, log=lambda *a: None)
    assert other.name == "synthetic_bokeh/16x24_train2_val0_seed5"
    assert other.splits == {"train": 2}
    assert (small_build.path / "dataset_info.json").is_file()


def test_default_config_builder_can_be_made(tmp_path):
    """The class's own config (the defaults) is accepted, not refused as a look-alike."""
    from bokeh_jax.data import synthetic_builder as sb

    builder = sb.SyntheticBokeh(config=sb.make_config(), data_dir=tmp_path)
    assert builder.builder_config is sb.DEFAULT_CONFIG
    assert builder.builder_config.name == "256x384_train2000_val200_seed0"


def test_cli_rejects_bad_sizes_in_one_line(tmp_path, capsys):
    from bokeh_jax.cli import run_main

    code = run_main(prepare.main, ["synthetic_bokeh", "--height", "8", "--data_dir",
                                   str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == "error: height=8: images must be at least 16 pixels"
    assert not any(tmp_path.iterdir())
    code = run_main(prepare.main, ["synthetic_bokeh", "--data-dir", "/proc/bokeh_jax_tfds"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "cannot write there" in err


def test_far_ground_is_prefiltered_not_aliased(monkeypatch):
    """A floor of a one-texel checkerboard seen at a grazing angle: where a pixel spans
    several texels (the far rows) it must show their average grey, as a camera would, not
    point samples of black and white."""
    def checkerboard(rng, h, w):
        yy, xx = np.mgrid[0:h, 0:w]
        return np.repeat(((yy + xx) % 2).astype(np.float32)[..., None], 3, axis=-1)

    monkeypatch.setattr(synthetic.textures, "background_texture", checkerboard)
    rng = np.random.default_rng(0)
    hc, wc, y_h, z_f = 120, 160, 30.0, 2.0
    y_sub = 100.0
    y_w = int(np.ceil(y_h + (y_sub - y_h) * z_f / (4 * z_f)))  # the wall at 4 z_f
    layers = synthetic._ground_layers(rng, hc, wc, y_h, y_w, y_sub, z_f, 10.0, 30.0)
    far = layers[0].color[:, :3]  # the top rows of the floor: many texels per pixel
    assert abs(float(far.mean()) - 0.5) < 0.05
    assert float(far.std()) < 0.05
    # The bottom rows are magnified: the pattern shows (bilinear, so not at full contrast).
    near = layers[-1].color[:, -3:]
    assert float(near.std()) > max(0.1, 4 * float(far.std()))


def _pool_workers(pid: int) -> list[int]:
    """The multiprocessing (spawned) child processes of ``pid``, from Linux /proc."""
    workers = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids = [int(k) for k in (task / "children").read_text().split()]
        except OSError:  # the task ended meanwhile
            continue
        for kid in kids:
            try:
                if b"spawn_main" in Path(f"/proc/{kid}/cmdline").read_bytes():
                    workers.append(kid)
            except OSError:  # the child ended meanwhile
                pass
    return workers


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status  # a zombie has exited


def test_sigterm_during_a_parallel_build_stops_the_workers_too(tmp_path):
    """``kill PID`` on a build with worker processes: one line, status 130, and no worker
    left running (they used to outlive the killed parent)."""
    if not Path("/proc/self/task").is_dir():
        pytest.skip("needs Linux /proc to find the worker processes")
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bokeh_jax.data.prepare", "synthetic_bokeh", "--data-dir",
         str(tmp_path), "--num-train", "400", "--num-val", "0", "--height", "64", "--width",
         "96", "--workers", "2"], cwd=repo, env=dict(os.environ, PYTHONPATH=str(repo)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline, workers = time.monotonic() + 90, []
        while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            workers = _pool_workers(proc.pid)
        assert len(workers) == 2, "the build did not start its 2 workers"
        time.sleep(2)  # the workers are rendering pairs
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err[-2000:]
    assert err.strip().splitlines()[-1] == "interrupted", err[-2000:]
    deadline = time.monotonic() + 30
    while any(_alive(k) for k in workers) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not any(_alive(k) for k in workers), "a worker outlived the build"
    assert not list(tmp_path.glob("synthetic_bokeh/*/[0-9]*"))  # no finished version folder


def test_focus_labels_by_hand():
    from bokeh_jax.data.focus_labels import focus_label

    # z_f / z - 1 for z = 2, 2.02, 2.5, 4, 1 (z_f = 2): 0, -0.0099, -0.2, -0.5, 1.
    got = focus_label(np.array([[2.0, 2.02, 2.5], [4.0, 1.0, 2.0]]), 2.0)
    np.testing.assert_array_equal(got, [[1, 1, -1], [0, 0, 1]])
    assert got.dtype == np.float32
    with pytest.raises(ValueError, match="positive distance"):
        focus_label(np.ones((2, 2)), 0.0)
