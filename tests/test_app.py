"""The click-to-focus app without a browser: its engine against the render CLI, compilation,
bad input as messages, the learned mode, the command line.

References: the render CLI's own output for the same photo, focus pixel and lens (the app
must draw the CLI's pixels and write its file), ``render_photo`` / ``depth_head_disparity``
for the learned mode, and JAX's own trace events for "no recompilation". Photos are 48x72
(displayed; stored turned by EXIF) with a preview of 24x36, and a small largest radius, so
the module compiles a few small programs. The page in a real browser: test_app_browser.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from conftest import textured
from PIL import Image, ImageCms

from bokeh_jax.app import cli as app_cli
from bokeh_jax.app import engine, examples
from bokeh_jax.cli import run_main
from bokeh_jax.errors import UserError
from bokeh_jax.inference import depth
from bokeh_jax.inference.learned import depth_head_disparity, render_photo
from bokeh_jax.io.photos import read_photo
from bokeh_jax.render import cli as render_cli

H, W = 72, 48  # the photo as displayed (stored 48x72 with EXIF orientation 6)
PREVIEW = 36  # long side: a 36x24 preview
RADIUS = 6.0
LENS = engine.Lens(max_radius=RADIUS)
NEAR, FAR = (24, 12), (24, 60)  # displayed pixels (x, y) in the near and far halves


def _icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    """A JPEG stored landscape with EXIF orientation 6 (shown portrait), an ICC profile and
    an EXIF tag; its disparity map (top half near) drawn for the photo as displayed."""
    d = tmp_path_factory.mktemp("app_files")
    pixels = textured(W, H, seed=3)  # (rows W, cols H): landscape
    pixels[20:26, 8:14] = pixels[30:36, 50:56] = 255  # highlights, in both halves
    stored = Image.fromarray(pixels)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    exif[0x010F] = "bokeh-jax test camera"
    photo = d / "shot.jpg"
    icc = _icc()  # the profile carries its creation time: made once
    stored.save(photo, quality=95, icc_profile=icc, exif=exif.tobytes())
    disparity = np.full((H, W), 20, np.uint8)
    disparity[: H // 2] = 220
    Image.fromarray(disparity).save(d / "shot_depth.png")
    Image.fromarray(disparity[:, : W // 2]).save(d / "narrow_depth.png")
    (d / "notes.txt").write_text("not a photo\n")
    return {"photo": photo, "depth": d / "shot_depth.png", "narrow": d / "narrow_depth.png",
            "text": d / "notes.txt", "icc": icc}


@pytest.fixture(scope="module")
def scene(files, tmp_path_factory):
    return engine.load_scene(files["photo"], files["depth"], preview_size=PREVIEW,
                             root=tmp_path_factory.mktemp("scenes"))


def test_scene_reads_the_photo_as_the_cli_does(scene, files):
    photo = read_photo(files["photo"])
    assert scene.hw == (H, W) and scene.small_rgb.shape == (PREVIEW, 24, 3)
    np.testing.assert_array_equal(scene.photo.rgb, photo.rgb)  # EXIF orientation applied
    raw = np.asarray(Image.open(files["depth"]), np.float32)
    np.testing.assert_array_equal(scene.disparity, depth.disparity_map(raw, (H, W))[0])
    assert engine.preview_hw((1024, 1536)) == (427, 640)
    assert engine.preview_hw((40, 30)) == (40, 30)  # never enlarged


def test_click_focus_renders_and_writes_what_the_cli_does(scene, files, tmp_path, capsys):
    """A click on the preview at NEAR maps to the full-size pixel the CLI's --focus names;
    the download is the CLI's file for it (pixels, ICC profile, EXIF)."""
    scene.shown_hw = scene.small_rgb.shape[:2]
    scale = PREVIEW / H
    scene.focus_xy = engine.pixel_of_click(scene, ((NEAR[0] + 0.5) * scale - 0.5,
                                                   (NEAR[1] + 0.5) * scale - 0.5))
    assert scene.focus_xy == NEAR
    assert engine.focus_value(scene) == depth.focus_at(scene.disparity, NEAR)
    out = engine.render(scene, LENS)
    saved = engine.save_result(scene, out.bokeh)
    assert saved.name == "shot_bokeh.jpg"
    cli_out = tmp_path / "cli.jpg"
    code = run_main(render_cli.main, [str(files["photo"]), "-o", str(cli_out), "--depth",
                                      str(files["depth"]), "--focus", f"{NEAR[0]},{NEAR[1]}",
                                      "--max-radius", str(RADIUS)])
    assert code == 0, capsys.readouterr().err
    ours, theirs = Image.open(saved), Image.open(cli_out)
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    assert ours.size == (W, H)
    assert ours.info["icc_profile"] == files["icc"]
    assert ours.getexif()[0x010F] == "bokeh-jax test camera" and 0x0112 not in ours.getexif()


def _sharpness(img: np.ndarray, y0: int, y1: int) -> float:
    g = np.asarray(img, np.float32).mean(-1)
    return float((np.diff(g[y0:y1], axis=1) ** 2).mean())


def _trace_events():
    """A list that collects JAX's trace/lowering events while the context is open."""
    seen = []

    def listener(event, duration, **kwargs):
        if event.endswith(("jaxpr_trace_duration", "jaxpr_to_mlir_module_duration")):
            seen.append(event)

    return seen, listener


def test_focus_strength_gamma_never_recompile(scene):
    """After one render per size, clicks and the focus/strength/gamma/highlight sliders
    trace nothing new (JAX's trace events), yet each draws different pixels; a new
    aperture does trace (so the counter sees compilations)."""
    maps = dict(with_maps=True)
    for preview in (True, False):
        engine.render(scene, LENS, preview=preview, **maps)  # warm: compiles once per size
    seen, listener = _trace_events()
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        pictures = []
        # (strength 1 already gives the largest radius to these two planes)
        for xy, strength, gamma, highlight in ((NEAR, 0.6, 2.2, 0.0), (FAR, 0.6, 2.2, 0.0),
                                               (FAR, 0.9, 2.2, 0.0), (FAR, 0.9, 1.0, 0.0),
                                               (FAR, 0.9, 1.0, 1.5)):
            scene.focus_xy = xy
            lens = engine.Lens(max_radius=RADIUS, strength=strength, gamma=gamma,
                               highlight=highlight)
            pictures.append([engine.render(scene, lens, preview=p, **maps).bokeh
                             for p in (True, False)])
        assert seen == []
        engine.render(scene, engine.Lens(max_radius=RADIUS, aperture="polygon"), preview=True)
        assert seen
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    for i, (a, b) in enumerate(zip(pictures, pictures[1:], strict=False)):
        assert [np.abs(x.astype(int) - y).max() > 0 for x, y in zip(a, b, strict=True)] == [
            True, True], i
    near_focus, far_focus = pictures[0][1], pictures[1][1]
    assert _sharpness(near_focus, 4, 30) > 2 * _sharpness(far_focus, 4, 30)
    assert _sharpness(far_focus, 42, 68) > 2 * _sharpness(near_focus, 42, 68)


def test_preview_is_the_full_render_shrunk(scene):
    """The preview's radius scales with the picture: it is closer to the full render
    resized than a preview drawn with the full-size radius."""
    from bokeh_jax.inference import refocus
    from bokeh_jax.inference.resample import resize

    scene.focus_xy = NEAR
    full = engine.render(scene, LENS).bokeh.astype(np.float32) / 255
    shrunk = resize(full, scene.small_rgb.shape[:2])
    small = engine.render(scene, LENS, preview=True).bokeh.astype(np.float32) / 255
    unscaled = refocus.refocus(scene.small_rgb, scene.small_disparity,
                               **engine.lens_kwargs(LENS, engine.focus_value(scene)))
    far = slice(PREVIEW // 2 + 2, None)  # the blurred half (focus on the near one)
    assert np.abs(small - shrunk)[far].mean() < 0.8 * np.abs(unscaled - shrunk)[far].mean()


@pytest.mark.parametrize("case, fragment", [
    ("text", "cannot read it as an image"),
    ("narrow", "another aspect ratio"),
    ("no_depth", "now drop its depth map"),
    ("huge", "too many pixels"),
])
def test_bad_input_is_a_user_error(files, case, fragment, monkeypatch, tmp_path):
    photo, depth_map = files["photo"], files["depth"]
    if case == "text":
        photo = files["text"]
    elif case == "narrow":
        depth_map = files["narrow"]
    elif case == "no_depth":
        depth_map = None
    else:
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow's guard: 2x this fails
    with pytest.raises(UserError, match=fragment):
        engine.load_scene(photo, depth_map, root=tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing left behind


def test_learned_mode_and_the_depth_head(files, tiny_model, tmp_path):
    """Without a depth map the checkpoint's depth head gives the disparity (--depth auto);
    learned mode renders with render_photo (full size: the chosen policy; preview: paper)."""
    m = tiny_model
    scene = engine.load_scene(files["photo"], None, model=m, preview_size=PREVIEW,
                              root=tmp_path)
    np.testing.assert_array_equal(
        scene.disparity, depth_head_disparity(m.module, m.variables, m.resolution,
                                              scene.photo.rgb))
    lens = engine.Lens(mode="learned", policy="fullres")
    out = engine.render(scene, lens, m, with_maps=True)
    ref = render_photo(m.module, m.variables, m.resolution, scene.photo.rgb, policy="fullres",
                       display=True)
    np.testing.assert_array_equal(out.bokeh, ref.bokeh)
    assert out.blur.shape == (*scene.small_rgb.shape[:2], 3)
    small = engine.render(scene, lens, m, preview=True).bokeh
    ref = render_photo(m.module, m.variables, m.resolution, scene.small_rgb, display=True)
    np.testing.assert_array_equal(small, ref.bokeh)
    with pytest.raises(UserError, match="--checkpoint"):
        engine.render(scene, lens, None)


def test_download_keeps_alpha_and_names(tmp_path):
    rgba = np.dstack([textured(20, 30), np.linspace(0, 255, 30, dtype=np.uint8)[None]
                      .repeat(20, 0)])
    src = tmp_path / "cut.png"
    Image.fromarray(rgba, "RGBA").save(src)
    np.save(tmp_path / "cut.npy", np.tile(np.linspace(0, 1, 30, dtype=np.float32), (20, 1)))
    scene = engine.load_scene(src, tmp_path / "cut.npy", root=tmp_path)
    out = engine.render(scene, engine.Lens(max_radius=RADIUS, renderer="blend",
                                           aperture="gaussian"))
    saved = Image.open(engine.save_result(scene, out.bokeh))
    assert saved.mode == "RGBA" and saved.size == (30, 20)
    np.testing.assert_array_equal(np.asarray(saved)[..., 3], rgba[..., 3])
    assert engine.output_name(Path("a/b.heic")) == "b_bokeh.png"
    assert engine.output_name(Path("IMG.JPEG")) == "IMG_bokeh.JPEG"
    with pytest.raises(UserError, match="strength"):
        engine.Lens(strength=float("nan")).checked()


def test_samples_are_real_photos_with_their_depth(tmp_path):
    pairs = examples.write_samples(tmp_path)
    label, photo, depth_map = pairs[0][0], *map(Path, pairs[0][1:])
    assert label == "Middlebury motorcycle"
    assert photo.parent == tmp_path and depth_map.suffix == ".npy"
    scene = engine.load_scene(photo, depth_map, root=tmp_path)
    assert scene.hw == (500, 741) and 0 <= scene.disparity.min() < scene.disparity.max() <= 1
    assert all(Path(p).is_file() for _, *files in pairs for p in files)


# --- the page's handlers (Gradio objects, no server) ----------------------------------------

@pytest.fixture(scope="module")
def page():
    pytest.importorskip("gradio", reason="the app extra is not installed (pip install "
                                         "'bokeh-jax[app]')")
    from bokeh_jax.app import page

    return page


def _controls(lens: engine.Lens = LENS) -> list:
    from bokeh_jax.app.page import CONTROLS

    return [getattr(lens, name) for name in CONTROLS]


def test_page_handlers_turn_mistakes_into_messages(page, files, tmp_path, monkeypatch):
    p = page.Page(preview_size=PREVIEW, root=tmp_path)
    load = p.load(None, str(files["photo"]), str(files["depth"]), "disparity", False,
                  *_controls())
    scene, view, info, message = load[:4]
    assert isinstance(scene, engine.Scene) and Path(view).is_file() and message == ""
    assert "24x36 (preview)" in info
    full = p.full(scene, False, *_controls())
    assert "48x72 (full size)" in full[2] and Path(full[4].value["path"]).name == "shot_bokeh.jpg"
    assert p.full(scene, False, *_controls())[1:] == tuple([page.gr.skip()] * 6)  # no redraw
    # A text file as the photo: a message, and the scene on the page is kept.
    bad = p.load(scene, str(files["text"]), str(files["depth"]), "disparity", False,
                 *_controls())
    assert bad[0] is scene and bad[3].startswith("**Error:**")
    assert "notes.txt: cannot read it as an image" in bad[3]
    assert str(files["text"].parent) not in bad[3]  # named by its name, not its folder
    assert "now drop its depth map" in p.load(None, str(files["photo"]), None, "disparity",
                                              False, *_controls())[3]

    def boom(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(engine, "render", boom)
    assert "out of memory" in p.preview(scene, False, *_controls())[3]
    monkeypatch.setattr(engine, "render", lambda *a, **k: 1 / 0)
    assert "internal error (ZeroDivisionError" in p.preview(scene, False, *_controls())[3]


def test_page_builds_with_the_events(page, tmp_path):
    demo = page.build(None, preview_size=PREVIEW, examples=examples.write_samples(tmp_path))
    config = demo.get_config_file()
    ids = {c["props"].get("elem_id") for c in config["components"]}
    assert {"photo", "depth", "result", "message", "info", "download"} <= ids
    result = next(c["id"] for c in config["components"] if c["props"].get("elem_id") == "result")
    triggers = {(t[0], t[1]) for dep in config["dependencies"] for t in dep["targets"]}
    assert (result, "select") in triggers


# --- the command line -----------------------------------------------------------------------

@pytest.mark.parametrize("argv, fragment", [
    (["--port", "0"], "--port 0: give a port in 1..65535"),
    (["--checkpoint", "/no/such/dir"], "--checkpoint /no/such/dir: no such folder"),
    (["--preview-size", "8"], "--preview-size 8"),
])
def test_flag_mistakes_are_one_line_errors(argv, fragment, capsys):
    assert run_main(app_cli.main, argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and fragment in err and err.count("\n") == 1


def test_missing_gradio_says_how_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio -> ImportError
    assert run_main(app_cli.main, []) == 2
    assert "pip install 'bokeh-jax[app]'" in capsys.readouterr().err


def test_default_host_is_loopback():
    args = app_cli.parser().parse_args([])
    assert (args.host, args.port) == ("127.0.0.1", 7860)


def test_page_with_a_checkpoint_takes_depth_from_its_head(page, files, tiny_model, tmp_path):
    p = page.Page(tiny_model, preview_size=PREVIEW, root=tmp_path)
    scene, _, info, message = p.load(None, str(files["photo"]), None, "disparity", False,
                                     *_controls())[:4]
    assert message == "" and "depth from the checkpoint's depth head" in info
    learned = _controls(engine.Lens(mode="learned", policy="fullres", max_radius=RADIUS))
    full = p.full(scene, False, *learned)
    assert "learned weights (fullres policy)" in full[2]
    ref = render_photo(tiny_model.module, tiny_model.variables, tiny_model.resolution,
                       scene.photo.rgb, policy="fullres", display=True).bokeh
    np.testing.assert_array_equal(np.asarray(Image.open(full[1])), ref)
