"""The renderer: tiles, alpha-aware blend, focus, learned mode, and the CLI on real-world files.

References: OpenCV's GaussianBlur for the blurs, the untiled render for the tiles,
``BokehModel.render`` (the tested model path) for the learned mode. Shapes are few and small
(17x23 photos, kernels 5/9, a tiny random-weight checkpoint run at 32x48), so the module
compiles a handful of programs; the CLI runs in-process except for the two runs that check
the persistent compilation cache.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import jax
import numpy as np
import pytest
from conftest import TINY_KERNELS as KS
from conftest import textured
from PIL import Image, ImageCms

from bokeh_jax import ops
from bokeh_jax.cli import run_main
from bokeh_jax.inference import tiling
from bokeh_jax.inference.depth import disparity_map, render_depth
from bokeh_jax.inference.learned import depth_head_disparity, render_photo
from bokeh_jax.inference.model import load_model
from bokeh_jax.inference.refocus import refocus
from bokeh_jax.inference.resample import resize
from bokeh_jax.io import viz
from bokeh_jax.io.photos import read_depth, read_photo
from bokeh_jax.ops.aperture import aperture_kernel
from bokeh_jax.render import cli as render_cli

H, W = 17, 23
REPO = Path(__file__).resolve().parents[1]


def _photo(h: int = H, w: int = W, seed: int = 0) -> np.ndarray:
    return textured(h, w, seed)


def _two_planes(h: int = H, w: int = W) -> np.ndarray:
    """Disparity: left half near (200), right half far (20), as an 8-bit map."""
    d = np.full((h, w), 20, np.uint8)
    d[:, : w // 2] = 200
    return d


def _cli(argv, capsys) -> tuple[int, str, str]:
    code = run_main(render_cli.main, [str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# --- tiles and blend -------------------------------------------------------------------


@pytest.mark.parametrize("n,window,margin", [(1, 8, 3), (7, 7, 3), (50, 9, 4), (50, 20, 4),
                                             (101, 33, 16), (200, 70, 4), (6000, 2048, 37),
                                             (8000, 2048, 37)])
def test_windows_cover_once_with_margins(n, window, margin):
    wins = tiling.windows(n, window, margin)
    assert wins[0][2] == 0 and wins[-1][3] == n
    size = wins[0][1] - wins[0][0]
    assert size == n if n <= window else 2 * margin < size <= window
    for (s, e, ks, ke), nxt in zip(wins, [*wins[1:], None], strict=True):
        assert e - s == size and 0 <= s <= ks < ke <= e <= n
        assert s == 0 or ks - s >= margin  # a halo of real pixels before the kept part
        assert e == n or e - ke >= margin  # ... and after it
        if nxt is not None:
            assert nxt[2] == ke  # kept parts tile the axis
    with pytest.raises(ValueError):
        tiling.windows(100, 8, 4)


@pytest.fixture(scope="module")
def blend_fn():
    return jax.jit(lambda rgb, a, w: (ops.blend_photo(rgb, a, w, KS),))


def _weights(h, w, seed=1):
    rng = np.random.default_rng(seed)
    return np.asarray(jax.nn.softmax(rng.normal(0, 2, (h, w, len(KS) + 1)), -1), np.float32)


def test_tiled_equals_untiled_with_tiny_tiles(blend_fn):
    h, w = 40, 57
    rgb = _photo(h, w).astype(np.float32) / 255.0
    alpha = (np.random.default_rng(2).random((h, w)) * 255).astype(np.uint8)
    weights = _weights(h, w)
    halo = tiling.halo(KS)
    for a in (None, alpha):
        whole = np.asarray(blend_fn(rgb, a, weights)[0])
        tiled = tiling.apply_tiled(blend_fn, [rgb, a, weights], halo, window=2 * halo + 3)[0]
        np.testing.assert_allclose(tiled, whole, atol=1e-6, rtol=0)
    # The same through the public renderers (16x16 windows).
    disp = np.random.default_rng(3).random((h, w)).astype(np.float32)
    whole = render_depth(rgb, alpha, disp, 0.4, 1.5, KS)[0]
    np.testing.assert_allclose(render_depth(rgb, alpha, disp, 0.4, 1.5, KS, window=16)[0],
                               whole, atol=1e-6, rtol=0)
    np.testing.assert_allclose(tiling.blend_tiled(rgb, alpha, weights, KS, window=16),
                               np.asarray(blend_fn(rgb, alpha, weights)[0]), atol=1e-6, rtol=0)
    # 8-bit output made inside the tiles: the float render, rounded (one level at most apart
    # where another program's float sum lands across a rounding boundary).
    small, pic = render_depth(rgb, alpha, disp, 0.4, 1.5, KS, window=16, with_weights=True,
                              display=True)
    float_bokeh, float_weights = render_depth(rgb, alpha, disp, 0.4, 1.5, KS, with_weights=True)
    assert small.dtype == np.uint8 and pic.dtype == np.uint8
    assert np.abs(small.astype(int) - viz.to_uint8(float_bokeh).astype(int)).max() <= 1
    assert np.abs(pic.astype(int) - viz.weights_to_rgb(float_weights).astype(int)).max() <= 1


def test_alpha_aware_blend_matches_opencv(blend_fn):
    rgb = _photo().astype(np.float32) / 255.0
    alpha = np.zeros((H, W), np.uint8)
    alpha[3:14, 4:18] = 255
    alpha[8, :] = 128
    weights = _weights(H, W)
    a = alpha.astype(np.float32)[..., None] / 255.0
    ref = weights[..., :1] * rgb
    for i, k in enumerate(KS):
        g_ai = cv2.GaussianBlur(rgb * a, (k, k), 0)
        g_a = cv2.GaussianBlur(a, (k, k), 0)[..., None]
        ref += weights[..., i + 1:i + 2] * g_ai / np.maximum(g_a, 1e-6)
    got = np.asarray(blend_fn(rgb, alpha, weights)[0])
    visible = alpha > 0
    np.testing.assert_allclose(got[visible], np.clip(ref, 0, 1)[visible], atol=2e-5)
    # Without alpha it is plain Eq. 1 with OpenCV's blurs.
    plain = weights[..., :1] * rgb + sum(weights[..., i + 1:i + 2] * cv2.GaussianBlur(
        rgb, (k, k), 0) for i, k in enumerate(KS))
    np.testing.assert_allclose(np.asarray(blend_fn(rgb, None, weights)[0]),
                               np.clip(plain, 0, 1), atol=2e-6)


def test_focus_plane_stays_sharp_the_other_blurs():
    rgb = _photo().astype(np.float32) / 255.0
    disp = _two_planes().astype(np.float32) / 255.0
    inner = (slice(2, -2), slice(2, W // 2 - 5)), (slice(2, -2), slice(W // 2 + 5, -2))
    for focus, sharp, blurred in ((disp[0, 0], *inner), (disp[0, -1], *inner[::-1])):
        out = render_depth(rgb, None, disp, float(focus), 1.0, KS)[0]
        d_sharp = np.abs(out[sharp] - rgb[sharp]).mean()
        d_blur = np.abs(out[blurred] - rgb[blurred]).mean()
        assert d_sharp < 0.01 and d_blur > 0.05


# --- learned mode ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def ckpt(tiny_ckpt):
    return tiny_ckpt


@pytest.fixture(scope="module")
def model(tiny_model):
    return tiny_model


@pytest.fixture(scope="module")
def polygon_model(tiny_ckpt, tmp_path_factory):
    """The tiny checkpoint as a 5-blade polygon model: only its metadata says so."""
    folder = tmp_path_factory.mktemp("poly") / "ckpt"
    shutil.copytree(tiny_ckpt, folder)
    meta_file = folder / "bokeh_jax.json"
    meta = json.loads(meta_file.read_text())
    meta_file.write_text(json.dumps({**meta, "aperture": "polygon", "blades": 5,
                                     "rotation": 10.0}))
    return load_model(folder)


@pytest.mark.parametrize("aperture", ["gaussian", "polygon"])
def test_learned_renderer_matches_model_weights_and_opencv(aperture, model, polygon_model):
    """Both policies against Eq. 1 with OpenCV's blurs on the model's own weight maps; the
    checkpoint's aperture comes from its metadata, with no flag."""
    model = polygon_model if aperture == "polygon" else model
    assert (model.module.aperture, model.module.blades) == (
        (aperture, 5) if aperture == "polygon" else (aperture, 6))
    rgb = _photo().astype(np.float32) / 255.0
    small = np.asarray(jax.image.resize(rgb, (32, 48, 3), "linear"))  # the checkpoint's size
    weights = np.asarray(model.weights(small[None]))[0]
    k1 = len(KS) + 1

    def blur(img, k):
        if aperture == "gaussian":
            return cv2.GaussianBlur(img, (k, k), 0)
        kern = aperture_kernel("polygon", k, blades=5, rotation=10.0)
        return cv2.filter2D(img, -1, kern, borderType=cv2.BORDER_REFLECT_101)

    def eq1(img, w):
        blurs = [blur(img, k) for k in KS]
        return np.clip(w[..., :1] * img + sum(w[..., i + 1:i + 2] * b
                                              for i, b in enumerate(blurs)), 0, 1)

    refs = {"paper": np.asarray(jax.image.resize(eq1(small, weights), (H, W, 3), "linear")),
            "fullres": eq1(rgb, np.asarray(jax.image.resize(weights, (H, W, k1), "linear")))}
    for policy, ref in refs.items():
        out = render_photo(model.module, model.variables, model.resolution, rgb,
                           policy=policy, with_weights=True, with_depth=True, window=12)
        assert out.bokeh.dtype == np.float32 and out.bokeh.shape == (H, W, 3)
        assert np.abs(out.bokeh - ref).max() <= 2e-4, policy
        assert out.weights.shape == (H, W, k1) and out.disparity.shape == (H, W)
        np.testing.assert_allclose(out.weights.sum(-1), 1.0, atol=1e-5)
        assert 0.0 <= out.disparity.min() and out.disparity.max() <= 1.0
        assert out.log_depth.shape == (H, W, 1)
        # --depth auto's disparity is the one the render reports.
        np.testing.assert_array_equal(
            depth_head_disparity(model.module, model.variables, model.resolution, rgb),
            out.disparity)
        # BokehModel.render is the same path (untiled here: float summation order, ~1e-7).
        np.testing.assert_allclose(model.render(rgb, policy=policy), out.bokeh, atol=1e-6)


def test_the_checkpoint_policy_is_the_default(tiny_ckpt, model, tmp_path, capsys):
    """A checkpoint trained for "fullres" (the demo's: its pairs' blur is in full-size
    pixels) renders that way unless told otherwise; old checkpoints stay "paper"."""
    folder = tmp_path / "fullres_ckpt"
    shutil.copytree(tiny_ckpt, folder)
    meta_file = folder / "bokeh_jax.json"
    meta_file.write_text(json.dumps({**json.loads(meta_file.read_text()), "policy": "fullres"}))
    fullres = load_model(folder)
    assert (model.policy, fullres.policy) == ("paper", "fullres")
    rgb = _photo().astype(np.float32) / 255.0
    want = render_photo(model.module, model.variables, model.resolution, rgb, policy="fullres")
    paper = render_photo(model.module, model.variables, model.resolution, rgb, policy="paper")
    assert np.abs(want.bokeh - paper.bokeh).max() > 1e-3  # the policies differ here
    np.testing.assert_array_equal(fullres.render(rgb), want.bokeh)
    np.testing.assert_array_equal(fullres.render(rgb, policy="paper"), paper.bokeh)
    Image.fromarray(_photo()).save(tmp_path / "p.png")
    for ckpt, flags, said in ((folder, [], "policy fullres"),
                              (folder, ["--policy", "paper"], "policy paper"),
                              (tiny_ckpt, [], "policy paper")):
        out = tmp_path / f"out_{len(flags)}_{ckpt.name}.png"
        code, stdout, stderr = _cli([tmp_path / "p.png", "-o", out, "--checkpoint", ckpt,
                                     *flags], capsys)
        assert code == 0, stderr
        assert said in stdout


def test_resize_matches_jax_resize():
    x = np.random.default_rng(4).random((8, 12, 5)).astype(np.float32)
    for hw in ((37, 50), (3, 5)):
        np.testing.assert_allclose(resize(x, hw), jax.image.resize(x, (*hw, 5), "linear"),
                                   atol=1e-5)
    big = np.random.default_rng(5).random((60, 90)).astype(np.float32)  # shrinking too
    np.testing.assert_allclose(resize(big, (17, 23)), jax.image.resize(big, (17, 23), "linear"),
                               atol=1e-4)


# --- the command line ------------------------------------------------------------------


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> dict[str, Path]:
    """A batch folder with one bad file, depth maps, and real-world file kinds."""
    d = tmp_path_factory.mktemp("shots")
    batch, maps, kinds = d / "batch", d / "maps", d / "kinds"
    for p in (batch, maps, kinds):
        p.mkdir()
    Image.fromarray(_photo(seed=1)).save(batch / "a.png")
    (batch / "b.jpg").write_text("not a photo")
    Image.fromarray(_photo(seed=2)).save(batch / "c.jpg", quality=95)
    Image.fromarray(_photo(seed=3)).save(batch / "d.bmp")
    (batch / "readme.txt").write_text("ignored: not an image extension")
    Image.fromarray(_two_planes()).save(maps / "a.png")
    Image.fromarray(_two_planes()).save(maps / "b.png")
    Image.fromarray(_two_planes()[::2, ::2]).save(maps / "c.png")  # half size: resized
    # no map for d.bmp: an error for that photo only
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x0112], exif[0x010F] = 6, "TestCam"
    Image.fromarray(np.ascontiguousarray(np.rot90(_photo()))).save(
        kinds / "rot6.jpg", exif=exif.tobytes(), icc_profile=srgb)
    rgba = np.dstack([_photo(), np.random.default_rng(5).integers(0, 256, (H, W), np.uint8)])
    Image.fromarray(rgba, "RGBA").save(kinds / "rgba.png")
    Image.fromarray(_photo()).convert("CMYK").save(kinds / "cmyk.jpg")
    cv2.imwrite(str(kinds / "rgb16.png"), _photo().astype(np.uint16) * 257)
    Image.fromarray(_photo()).convert("P", palette=Image.Palette.ADAPTIVE).save(
        kinds / "palette.gif")
    Image.fromarray(_photo()[..., 1]).save(kinds / "gray.tif")
    Image.fromarray(_photo(1, 1)).save(kinds / "one.webp", lossless=True)
    return {"batch": batch, "maps": maps, "kinds": kinds, "srgb": srgb}


def test_batch_with_a_bad_file_and_a_missing_map(shots, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, stderr = _cli([shots["batch"], "-o", out, "--depth", shots["maps"],
                                 "--save-weights", "--save-depth"], capsys)
    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == [
        "a.png", "a_depth.png", "a_weights.png", "c.jpg", "c_depth.png", "c_weights.png"]
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2
    assert "b.jpg" in errors[0] and "cannot read" in errors[0]
    assert "no depth map for d.bmp" in errors[1]
    assert "done 2, skipped 0, failed 2" in stdout and "rendering 4 photo(s) on CPU" in stdout
    assert "stretched" not in stderr  # a half-size map of the same shape is just resized
    for name in ("a.png", "c.jpg", "a_weights.png", "c_depth.png"):
        assert Image.open(out / name).size == (W, H)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left


def test_depth_flags_steer_the_focus(shots, tmp_path, capsys):
    src = shots["batch"] / "a.png"
    photo = np.asarray(Image.open(src), np.float32)
    left, right = (slice(2, -2), slice(2, W // 2 - 5)), (slice(2, -2), slice(W // 2 + 5, -2))
    runs = {"near": ["--focus", "2,8"], "far": ["--focus-depth", "0.0"],
            "far_pct": ["--focus", "95%,50%"]}
    for name, flags in runs.items():
        code, _, err = _cli([src, "-o", tmp_path / f"{name}.png", "--depth",
                             shots["maps"] / "a.png", *flags, "--kernels", "5,9"], capsys)
        assert code == 0, err
        out = np.asarray(Image.open(tmp_path / f"{name}.png"), np.float32)
        d_left = np.abs(out[left] - photo[left]).mean()
        d_right = np.abs(out[right] - photo[right]).mean()
        assert (d_left < d_right) == (name == "near"), (name, d_left, d_right)
    code, _, err = _cli([src, "-o", tmp_path / "x.png", "--depth", shots["maps"] / "a.png",
                         "--focus", "500,3", "--kernels", "5,9"], capsys)
    assert code == 1 and "outside the 23x17 photo" in err


def test_depth_mode_lens_flags_render_what_refocus_renders(shots, tmp_path, capsys):
    src = shots["batch"] / "a.png"
    flags = ["--aperture", "polygon", "--blades", "5", "--rotation", "10", "--gamma", "2",
             "--max-radius", "6", "--focus-depth", "0.8", "--strength", "1.5"]
    code, stdout, err = _cli([src, "-o", tmp_path / "a.png", "--depth",
                              shots["maps"] / "a.png", *flags], capsys)
    assert code == 0, err
    assert "layered, 5-blade polygon, gamma 2, max radius 6 px" in stdout
    photo = read_photo(src)
    disparity, _ = disparity_map(read_depth(shots["maps"] / "a.png"), photo.hw)
    want = refocus(photo.rgb, disparity, focus=0.8, strength=1.5, max_radius=6,
                   aperture="polygon", blades=5, rotation=10.0, gamma=2.0, display=True)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "a.png").convert("RGB")),
                                  want)


def test_real_world_files_learned_mode(shots, ckpt, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, stderr = _cli([shots["kinds"], "-o", out, "--checkpoint", ckpt], capsys)
    assert code == 0, stderr
    assert "done 7, skipped 0, failed 0" in stdout
    names = sorted(p.name for p in out.iterdir())
    assert names == ["cmyk.jpg", "gray.tif", "one.webp", "palette.png", "rgb16.png",
                     "rgba.png", "rot6.jpg"]
    for name in names:
        assert Image.open(out / name).size == ((1, 1) if name == "one.webp" else (W, H))
    rot = Image.open(out / "rot6.jpg")
    assert 0x0112 not in rot.getexif() and rot.getexif()[0x010F] == "TestCam"
    assert rot.info["icc_profile"] == shots["srgb"]
    rgba_in, rgba_out = Image.open(shots["kinds"] / "rgba.png"), Image.open(out / "rgba.png")
    assert rgba_out.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(rgba_out)[..., 3], np.asarray(rgba_in)[..., 3])
    assert Image.open(out / "gray.tif").mode == "L"
    # --format, --depth auto and JPEG's missing alpha (a note, not a failure).
    code, _, stderr = _cli([shots["kinds"] / "rgba.png", shots["kinds"] / "one.webp", "-o",
                            tmp_path / "auto", "--checkpoint", ckpt, "--depth", "auto",
                            "--format", "jpg", "--kernels", "5,9", "--save-depth"], capsys)
    assert code == 0, stderr
    assert sorted(p.name for p in (tmp_path / "auto").iterdir()) == [
        "one.jpg", "one_depth.png", "rgba.jpg", "rgba_depth.png"]
    assert "alpha channel dropped" in stderr


def test_overwrite_protection(shots, tmp_path, capsys):
    src, depth = shots["batch"] / "a.png", shots["maps"] / "a.png"
    out = tmp_path / "o"
    base = [src, "-o", out, "--depth", depth, "--kernels", "5,9"]
    assert _cli(base, capsys)[0] == 0
    first = (out / "a.png").read_bytes()
    code, stdout, stderr = _cli([*base, "--strength", "3"], capsys)
    assert code == 0 and "done 0, skipped 1, failed 0" in stdout and "--overwrite" in stderr
    assert (out / "a.png").read_bytes() == first
    assert _cli([*base, "--strength", "3", "--overwrite"], capsys)[0] == 0
    assert (out / "a.png").read_bytes() != first
    # A rerun that asks for side pictures writes those and keeps the existing result.
    kept = (out / "a.png").read_bytes()
    code, stdout, stderr = _cli([*base, "--save-weights"], capsys)
    assert code == 0 and "done 1, skipped 0, failed 0" in stdout, stderr
    assert "kept the existing a.png" in stderr and (out / "a_weights.png").is_file()
    assert (out / "a.png").read_bytes() == kept
    # One output file that exists: refused before any work.
    code, _, stderr = _cli([src, "-o", out / "a.png", "--depth", depth], capsys)
    assert code == 2 and "exists" in stderr and "--overwrite" in stderr
    # An input is never replaced, even with --overwrite: a failure for that photo.
    before = src.read_bytes()
    code, stdout, stderr = _cli([src, "-o", shots["batch"], "--depth", depth, "--overwrite"],
                                capsys)
    assert code == 1 and "would replace the input" in stderr and "failed 1" in stdout
    assert src.read_bytes() == before
    code, _, stderr = _cli([src, "-o", src, "--depth", depth, "--overwrite"], capsys)
    assert code == 2 and "would replace the input" in stderr
    assert src.read_bytes() == before


def test_unwritable_output_is_refused_before_any_work(shots, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("a file where a folder should be")
    for out in (blocker / "out", Path("/proc/bokeh_jax_no_such_dir")):
        code, stdout, stderr = _cli([shots["batch"] / "a.png", shots["batch"] / "c.jpg", "-o",
                                     out, "--depth", shots["maps"], "--kernels", "5,9"], capsys)
        assert code == 2 and stdout == "", stdout  # nothing rendered
        assert stderr.count("\n") == 1 and "cannot write there" in stderr, stderr


def test_a_result_that_cannot_be_written_fails_that_photo(shots, tmp_path, capsys):
    out = tmp_path / "out"
    (out / "a.png").mkdir(parents=True)  # a folder where a.png's result goes
    code, stdout, stderr = _cli([shots["batch"] / "a.png", shots["batch"] / "c.jpg", "-o", out,
                                 "--depth", shots["maps"], "--kernels", "5,9", "--overwrite"],
                                capsys)
    assert code == 1 and "done 1, skipped 0, failed 1" in stdout
    assert "cannot write its result" in stderr and (out / "c.jpg").is_file()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left


@pytest.mark.parametrize("argv,fragment", [
    (["x.jpg", "-o", "o"], "--checkpoint DIR"),
    (["x.jpg", "-o", "o", "--depth", "auto"], "add --checkpoint"),
    (["x.jpg", "-o", "o", "--checkpoint", "c", "--kernels", "5,9"], "depth mode only"),
    (["x.jpg", "-o", "o", "--checkpoint", "c", "--aperture", "disk"], "depth mode only"),
    (["x.jpg", "-o", "o", "--checkpoint", "c", "--gamma", "2"], "takes its weights and aperture"),
    (["x.jpg", "-o", "o", "--depth", "auto", "--checkpoint", "c", "--kernels", "5,9",
      "--renderer", "layered"], "--kernels sets the blend renderer's kernels"),
    (["x.jpg", "-o", "o", "--depth", "auto", "--checkpoint", "c", "--blades", "5"],
     "add --aperture polygon"),
    (["x.jpg", "-o", "o", "--depth", "auto", "--checkpoint", "c", "--gamma", "0"],
     "--gamma 0.0: give 0.2..10"),
    (["x.jpg", "-o", "o", "--depth", "auto", "--checkpoint", "c", "--max-radius", "1e9"],
     "--max-radius 1000000000.0"),
    (["x.jpg", "-o", "o", "--depth", "auto", "--checkpoint", "c", "--aperture", "polygon",
      "--blades", "2"], "--blades 2: give 3..64"),
    (["x.jpg", "-o", "o", "--depth", "nowhere"], "--depth nowhere: no such file"),
    (["x.jpg", "-o", "o", "--checkpoint", "c", "--depth", "auto", "--policy", "paper"],
     "--policy applies"),
    (["x.jpg", "-o", "o", "--checkpoint", "c", "--depth", "auto", "--focus", "3"], "--focus"),
    (["x.jpg", "-o", "o", "--checkpoint", "c", "--depth", "auto", "--strength", "-1"],
     "--strength"),
    (["x.jpg", "-o", "o", "--checkpoint", "c", "--depth", "auto", "--strength", "inf"],
     "give a finite number"),
    (["x.jpg", "y.jpg", "-o", "o.png", "--checkpoint", "c"], "give a folder"),
    (["x.jpg", "-o", "o.gif", "--checkpoint", "c"], "cannot write '.gif'"),
    (["x.jpg", "-o", "o", "--checkpoint", "nowhere"], "nowhere: no such checkpoint"),
    (["x.jpg", "-o", "o", "--depth", "d.png", "--dtype", "bfloat16"], "it needs --checkpoint"),
])
def test_flag_mistakes_are_one_line_errors(argv, fragment, capsys):
    code, _, stderr = _cli(argv, capsys)
    assert code == 2
    assert stderr.count("\n") == 1 and stderr.startswith("error:") and fragment in stderr
    assert not Path("o").exists()  # the output folder was probed, not left behind


def test_subprocess_run_and_persistent_cache(shots, tmp_path):
    """End to end as users run it; the second run loads the render from the cache."""
    env = dict(os.environ, BOKEH_JAX_CACHE=str(tmp_path / "cache"),
               JAX_DEBUG_LOG_MODULES="jax")
    src = shots["batch"] / "c.jpg"
    logs = []
    for i in range(2):
        r = subprocess.run([sys.executable, "-m", "bokeh_jax.render", str(src), "-o",
                            str(tmp_path / f"run{i}.jpg"), "--depth", str(shots["maps"])],
                           env=env, capture_output=True, text=True, cwd=REPO, timeout=300,
                           check=False)
        assert r.returncode == 0, r.stderr
        assert "done 1, skipped 0, failed 0" in r.stdout
        logs.append(r.stderr)
    assert "MISS for 'jit__layered_tile'" in logs[0]
    assert Image.open(tmp_path / "run1.jpg").size == (W, H)
    if "Not writing persistent cache entry for 'jit__layered_tile'" in logs[0]:
        pytest.skip("this machine compiled the render faster than the cache's 0.2 s threshold")
    assert "cache hit for 'jit__layered_tile'" in logs[1]
    assert "MISS for 'jit__layered_tile'" not in logs[1]


def test_real_photo_with_half_size_depth_map(shared_data, tmp_path, capsys):
    photo = shared_data / "pynet_samples" / "images" / "1.jpg"
    depth = shared_data / "pynet_samples" / "depth_maps" / "1.png"
    out = tmp_path / "1.jpg"
    code, _, stderr = _cli([photo, "-o", out, "--depth", depth, "--save-depth"], capsys)
    assert code == 0, stderr
    src, res = Image.open(photo), Image.open(out)
    assert res.size == src.size and Image.open(depth).size != src.size
    assert Image.open(tmp_path / "1_depth.png").size == src.size
    # Blur grows away from the focus: far pixels change more than near ones.
    disp = np.asarray(Image.open(depth).resize(src.size, Image.BILINEAR), np.float32)
    diff = np.abs(np.asarray(res, np.float32) - np.asarray(src, np.float32)).mean(-1)
    near, far = disp > np.percentile(disp, 90), disp < np.percentile(disp, 10)
    assert diff[near].mean() < diff[far].mean()


# A failed restore's in-flight reads can report "Event loop is closed" after the test that
# caused them has ended, under pytest's own per-test unraisable hook rather than the filter
# the loader installs (the user-facing output is checked below).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("damage", ["truncate", "no_metadata"])
def test_a_damaged_model_folder_is_one_line(ckpt, shots, tmp_path, capsys, damage):
    """The render CLI (and eval, which loads the same way) on a damaged checkpoint folder."""
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(ckpt, broken)
    variables = broken / "variables"
    if damage == "truncate":
        biggest = max((p for p in variables.rglob("*") if p.is_file()),
                      key=lambda p: p.stat().st_size)
        with open(biggest, "r+b") as f:
            f.truncate(100)
    else:
        (variables / "_METADATA").unlink()
    code, stdout, stderr = _cli([shots["batch"] / "a.png", "-o", tmp_path / "out",
                                 "--checkpoint", broken], capsys)
    assert code == 2 and stderr.count("\n") == 1, stderr
    assert stderr.startswith(f"error: {variables}: cannot read the weights (")
    assert "Event loop is closed" not in stderr
