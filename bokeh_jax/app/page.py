"""The click-to-focus page: Gradio components and their events (the work is in ``engine``).

Events, all in one queue (``concurrency_id="render"``, one at a time: the CPU's cores serve one
render best):

- a photo, depth map or depth kind dropped or changed: the scene is loaded and previewed,
  then rendered at full size;
- a click on the picture: the focus moves there, preview then full size;
- dragging strength, gamma or highlight: previews (only the latest is drawn); releasing the
  slider: full size;
- any other control (aperture, blades, rotation, renderer, largest radius, mode, policy):
  preview, then full size (these change the compiled program: a few seconds the first
  time each value is used).

Every full-size render also writes the download (the CLI's writer: ICC profile, EXIF and
alpha of the photo kept), so "Download" hands over the full-resolution file. Mistakes are
shown in the page (``#message``), never as a stack trace; the server keeps serving.
"""

from __future__ import annotations

import logging
import time
from dataclasses import fields
from pathlib import Path

import gradio as gr

from bokeh_jax.app import engine
from bokeh_jax.errors import UserError, one_line
from bokeh_jax.inference import refocus
from bokeh_jax.inference.model import BokehModel
from bokeh_jax.names import PAPER, POLICIES
from bokeh_jax.ops.aperture import APERTURES

log = logging.getLogger("bokeh_jax.app")
CONTROLS = tuple(f.name for f in fields(engine.Lens))  # the order handlers receive them
DEPTH_ONLY = ("strength", "gamma", "highlight", "aperture", "blades", "rotation", "renderer",
              "max_radius")
INTRO = """\
# bokeh-jax: click to focus
Drop a photo and its depth map (or pick a sample below), then **click on the picture** to
focus there. Drag the sliders for a quick preview; the full-size render follows when you let
go, and **Download** gives it at full resolution with the photo's colour profile and EXIF.
"""


def _message(text: str | None, kind: str = "error") -> str:
    if not text:
        return ""
    return f"**{'Error' if kind == 'error' else 'Note'}:** {text}"


class Page:
    """The handlers, holding what every session shares (the model, the sizes)."""

    def __init__(self, model: BokehModel | None = None,
                 preview_size: int = engine.PREVIEW_SIZE, root: str | Path | None = None):
        self.model, self.preview_size, self.root = model, preview_size, root

    # --- helpers --------------------------------------------------------------------------
    @staticmethod
    def lens(values, scene: engine.Scene | None = None) -> engine.Lens:
        """The controls' values (in CONTROLS' order) as a Lens; a scene without disparity (a
        checkpoint without a depth head, no map) renders in learned mode."""
        lens = engine.Lens(**dict(zip(CONTROLS, values, strict=True)))
        if scene is not None and scene.disparity is None and lens.mode == "depth":
            lens = engine.Lens(mode="learned", policy=lens.policy)
        return lens

    def _draw(self, scene: engine.Scene, lens: engine.Lens, show_maps: bool, *, preview: bool,
              notes=()):
        """(scene, result, info, message, download, depth view, blur view) for one render."""
        t0 = time.perf_counter()
        out = engine.render(scene, lens, self.model, preview=preview, with_maps=show_maps)
        took = time.perf_counter() - t0
        h, w = out.bokeh.shape[:2]
        scene.shown_hw = (h, w)
        download = gr.DownloadButton(interactive=False)
        if not preview:
            download = gr.DownloadButton(value=str(engine.save_result(scene, out.bokeh)),
                                         interactive=True)
            scene.full_key = engine.full_key(scene, lens, show_maps)
        size = "preview" if preview else "full size"
        if lens.mode == "learned":
            where = f"learned weights ({PAPER if preview else lens.policy} policy)"
        else:
            at = ("the nearest region" if scene.focus_xy is None else
                  f"pixel ({scene.focus_xy[0]}, {scene.focus_xy[1]})")
            where = f"focus at {at}, disparity {out.focus:.3f}; depth from {scene.depth_from}"
        info = f"{w}x{h} ({size}) in {took:.2f} s · {where}"
        maps = ((engine.save_view(scene, out.depth, "depth") if out.depth is not None else None,
                 engine.save_view(scene, out.blur, "blur") if out.blur is not None else None)
                if show_maps else (gr.skip(), gr.skip()))
        message = _message("; ".join([*scene.notes, *notes]), "note")
        return (scene, str(engine.save_view(scene, out.bokeh)), info, message, download, *maps)

    def _guard(self, fn, scene, uploads=()):
        """Runs a handler; a user's mistake (or a bug) becomes a message in the page.

        ``uploads``: the files' paths in Gradio's upload folder, named by their own names
        in messages (the folder means nothing to the user)."""
        try:
            return fn(scene)
        except (UserError, ValueError) as e:  # ValueError: the library's checks of values
            text = one_line(e)
            for path in filter(None, uploads):
                text = text.replace(str(path), Path(path).name)
            return self._failed(scene, text)
        except MemoryError:
            return self._failed(scene, "out of memory: the photo is too large for this "
                                       "machine; shrink it first")
        except Exception as e:  # noqa: BLE001 - keep serving; the log has the traceback
            if "RESOURCE_EXHAUSTED" in str(e):
                return self._failed(scene, "out of memory while rendering: shrink the photo "
                                           "or lower the largest blur radius")
            log.exception("render failed")
            return self._failed(scene, f"internal error ({type(e).__name__}: {one_line(e)}); "
                                       "the server log has the details")

    @staticmethod
    def _failed(scene, text: str):
        return (scene, gr.skip(), gr.skip(), _message(text), gr.skip(), gr.skip(), gr.skip())

    # --- events ---------------------------------------------------------------------------
    def load(self, scene, photo, depth_file, depth_kind, show_maps, *controls):
        """A photo / depth map dropped: read them, preview (the full render follows)."""
        def run(scene):
            if photo is None:
                engine.discard(scene)
                return (None, None, "", _message("drop a photo to start", "note"),
                        gr.DownloadButton(value=None, interactive=False), None, None)
            key = (photo, depth_file, depth_kind)
            if scene is not None and scene.inputs == key:
                return (scene, *[gr.skip()] * 6)  # the same files again (a sample's 2 fields)
            try:
                new = engine.load_scene(photo, depth_file, depth_kind=depth_kind,
                                        model=self.model, preview_size=self.preview_size,
                                        root=self.root)
            except engine.NeedsDepth as e:  # the map comes next: a note, not an error
                engine.discard(scene)
                return (None, None, "", _message(one_line(e), "note"),
                        gr.DownloadButton(value=None, interactive=False), None, None)
            new.inputs = key
            engine.discard(scene)
            return self._draw(new, self.lens(controls, new), show_maps, preview=True)

        # A bad file keeps the old scene on the page.
        return self._guard(run, scene, uploads=(photo, depth_file))

    def click(self, evt: gr.SelectData, scene, show_maps, *controls):
        """A click on the picture: focus there (the CLI's focus_at), preview."""
        def run(scene):
            if scene is None:
                raise UserError("drop a photo first (or pick a sample below)")
            lens = self.lens(controls, scene)
            if evt.index is None or len(evt.index) != 2:
                raise UserError("click inside the picture")
            scene.focus_xy = engine.pixel_of_click(scene, evt.index)
            notes = []
            if lens.mode == "learned":
                notes.append("learned mode: the network decides what stays sharp; choose "
                             "depth mode to focus by clicking")
            return self._draw(scene, lens, show_maps, preview=True, notes=notes)

        return self._guard(run, scene)

    def preview(self, scene, show_maps, *controls):
        """A slider being dragged: the reduced-size render."""
        if scene is None:
            return self._failed(scene, "")
        return self._guard(lambda s: self._draw(s, self.lens(controls, s), show_maps,
                                                preview=True), scene)

    def full(self, scene, show_maps, *controls):
        """A slider let go, a click done, a photo loaded: the full-size render and download."""
        if scene is None:
            return (scene, *[gr.skip()] * 6)

        def run(scene):
            lens = self.lens(controls, scene)
            if scene.full_key == engine.full_key(scene, lens, show_maps):
                return (scene, *[gr.skip()] * 6)  # already drawn
            return self._draw(scene, lens, show_maps, preview=False)

        return self._guard(run, scene)


def build(model: BokehModel | None = None, *, preview_size: int = engine.PREVIEW_SIZE,
          examples: list[tuple[str, str, str]] | None = None, root: str | Path | None = None,
          checkpoint_name: str | None = None) -> gr.Blocks:
    """The page: ``examples`` are (label, photo, depth map) shown as one-click samples."""
    page = Page(model, preview_size, root)
    learned = model is not None
    default = engine.Lens()
    with gr.Blocks(title="bokeh-jax: click to focus", delete_cache=(900, 3600)) as demo:
        scene = gr.State(None, delete_callback=engine.discard)
        gr.Markdown(INTRO)
        message = gr.Markdown(elem_id="message")
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                photo = gr.File(label="Photo (JPEG, PNG, WebP, TIFF...)", type="filepath",
                                elem_id="photo", height=120)
                depth = gr.File(label="Depth map (optional with --checkpoint)",
                                type="filepath", elem_id="depth", height=120)
                if examples:
                    gr.Examples([[p, d] for _, p, d in examples], inputs=[photo, depth],
                                example_labels=[label for label, _, _ in examples],
                                label="Sample photos with their depth (click one)")
                depth_kind = gr.Radio(list(engine.DEPTH_KINDS), value="disparity",
                                      label="The depth map reads as",
                                      info="disparity: brighter = nearer; depth: brighter = "
                                           "farther")
                mode = gr.Radio(list(engine.MODES), value=default.mode, label="Mode",
                                visible=learned,
                                info="learned: the trained weights of "
                                     f"{checkpoint_name or 'the checkpoint'}")
                policy = gr.Radio(list(POLICIES), value=default.policy, visible=False,
                                  label="Learned mode's test policy")
                strength = gr.Slider(0, 3, default.strength, step=0.05, label="Strength",
                                     info="blur growth away from the focus", elem_id="strength")
                gamma = gr.Slider(1, 3, default.gamma, step=0.1, label="Gamma",
                                  info="blur in linear light (1 = off)")
                highlight = gr.Slider(0, 4, default.highlight, step=0.1, label="Highlights",
                                      info="boost near-white pixels into brighter bokeh balls")
                aperture = gr.Radio(list(APERTURES), value=default.aperture, label="Aperture")
                blades = gr.Slider(3, 12, default.blades, step=1, label="Blades",
                                   visible=default.aperture == "polygon")
                rotation = gr.Slider(0, 90, default.rotation, step=5, label="Rotation (degrees)",
                                     visible=default.aperture == "polygon")
                renderer = gr.Radio(list(refocus.RENDERERS), value=default.renderer,
                                    label="Renderer",
                                    info="layered: occlusion-aware depth layers; blend: the "
                                         "paper's Eq. 1")
                max_radius = gr.Slider(4, 128, default.max_radius, step=1,
                                       label="Largest blur radius (pixels, full size)")
                show_maps = gr.Checkbox(False, label="Show the depth and blur maps",
                                        elem_id="show_maps")
                download = gr.DownloadButton("Download full size", interactive=False,
                                             variant="primary", elem_id="download")
            with gr.Column(scale=2):
                result = gr.Image(label="Click to focus", interactive=False, type="filepath",
                                  elem_id="result", buttons=["fullscreen"], format="png",
                                  height=560)
                info = gr.Markdown(elem_id="info")
                with gr.Row(visible=False) as maps_row:
                    depth_view = gr.Image(label="Disparity (bright = near)", interactive=False,
                                          buttons=[], elem_id="depth_view", height=280)
                    blur_view = gr.Image(label="Blur (bright or coloured = more)",
                                         interactive=False, buttons=[], elem_id="blur_view",
                                         height=280)

        by_name = dict(mode=mode, policy=policy, strength=strength, gamma=gamma,
                       highlight=highlight, aperture=aperture, blades=blades, rotation=rotation,
                       renderer=renderer, max_radius=max_radius)
        controls = [by_name[name] for name in CONTROLS]  # the order Page.lens reads
        outs = [scene, result, info, message, download, depth_view, blur_view]
        state = [scene, show_maps, *controls]
        queue = dict(concurrency_id="render", concurrency_limit=1)

        def then_full(event):
            event.then(page.full, state, outs, **queue)

        then_full(gr.on([photo.change, depth.change, depth_kind.change], page.load,
                        [scene, photo, depth, depth_kind, show_maps, *controls], outs,
                        trigger_mode="always_last", **queue))
        then_full(result.select(page.click, state, outs, **queue))
        for slider in (strength, gamma, highlight):
            slider.input(page.preview, state, outs, trigger_mode="always_last", **queue)
            slider.release(page.full, state, outs, **queue)
        for control in (aperture, renderer, mode, policy, show_maps):
            then_full(control.input(page.preview, state, outs, trigger_mode="always_last",
                                    **queue))
        for slider in (blades, rotation, max_radius):
            then_full(slider.release(page.preview, state, outs, **queue))
        aperture.change(lambda a: [gr.Slider(visible=a == "polygon")] * 2, aperture,
                        [blades, rotation], queue=False)
        def by_mode(m, a):
            polygon = m == "depth" and a == "polygon"
            return [gr.Radio(visible=m == "learned"),
                    *[gr.update(visible=polygon if name in ("blades", "rotation") else
                                m == "depth") for name in DEPTH_ONLY]]

        mode.change(by_mode, [mode, aperture], [policy, strength, gamma, highlight, aperture,
                                                blades, rotation, renderer, max_radius],
                    queue=False)
        show_maps.change(lambda on: gr.Row(visible=on), show_maps, maps_row, queue=False)
    return demo
