"""What the click-to-focus page does, without the page (no Gradio here, so it is testable).

A :class:`Scene` is one loaded photo: its pixels and metadata as the render CLI reads them
(:func:`bokeh_jax.io.photos.read_photo`: EXIF orientation applied, ICC/EXIF kept), its
disparity (a dropped depth map through :func:`bokeh_jax.inference.depth.disparity_map`,
or the checkpoint's depth head as ``--depth auto`` does), a reduced copy of both for the
preview, and the focus the user clicked. :func:`render` draws it through the library's one
renderer per mode (:func:`bokeh_jax.refocus`, or
:func:`bokeh_jax.inference.learned.render_photo` for a checkpoint's learned weights), at
the preview size or at full size; :func:`save_result` writes the full-size render with the
CLI's writer.

Compilation: a scene compiles one program per size (preview, full) and lens shape
(aperture, blades, rotation, renderer, largest radius); focus, strength, gamma and highlight
are traced arguments of :func:`bokeh_jax.refocus`, so clicking and dragging those sliders
never recompiles. The preview's largest radius is the full one scaled with the photo, so
the preview looks like a small copy of the full render.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from bokeh_jax.errors import UserError
from bokeh_jax.inference import depth, refocus
from bokeh_jax.inference.learned import depth_head_disparity, render_photo
from bokeh_jax.inference.model import BokehModel
from bokeh_jax.inference.resample import resize
from bokeh_jax.io import viz
from bokeh_jax.io.photos import (
    OUTPUT_FORMATS,
    Photo,
    read_depth,
    read_photo,
    write_image,
    write_photo,
)
from bokeh_jax.names import PAPER, POLICIES
from bokeh_jax.ops.aperture import APERTURES

# Long side of the preview drawn while a slider is dragged: 640 px renders a 1536x1024 photo's
# preview in ~0.2 s on a 2-core CPU (docs/app.md), against ~1.5 s for the full size.
PREVIEW_SIZE = 640
MODES = ("depth", "learned")
DEPTH_KINDS = ("disparity", "depth")


class NeedsDepth(UserError):
    """The photo is read, but there is nothing to take its depth from yet (the page shows it
    as a note: the user drops the photo first, then its depth map)."""


@dataclass(frozen=True)
class Lens:
    """The page's controls. The depth-mode defaults are the render CLI's (LENS_DEFAULTS)."""

    mode: str = "depth"  # "depth": refocus from the disparity; "learned": the checkpoint
    strength: float = 1.0
    aperture: str = refocus.LENS_DEFAULTS["aperture"]
    blades: int = 6
    rotation: float = 0.0
    renderer: str = refocus.LENS_DEFAULTS["renderer"]
    gamma: float = refocus.LENS_DEFAULTS["gamma"]
    highlight: float = 0.0
    max_radius: float = float(refocus.DEFAULT_MAX_RADIUS)  # pixels of the full-size photo
    policy: str = PAPER  # learned mode's test policy

    def checked(self) -> Lens:
        """Itself with numbers as numbers, or a UserError naming the bad control."""
        if self.mode not in MODES:
            raise UserError(f"mode {self.mode!r}: choose one of {', '.join(MODES)}")
        if self.policy not in POLICIES:
            raise UserError(f"policy {self.policy!r}: choose one of {', '.join(POLICIES)}")
        if self.aperture not in APERTURES or self.renderer not in refocus.RENDERERS:
            raise UserError(f"aperture {self.aperture!r} / renderer {self.renderer!r}: choose "
                            f"from {', '.join(APERTURES)} / {', '.join(refocus.RENDERERS)}")
        try:
            lens = replace(self, strength=float(self.strength), blades=int(self.blades),
                           rotation=float(self.rotation), gamma=float(self.gamma),
                           highlight=float(self.highlight), max_radius=float(self.max_radius))
        except (TypeError, ValueError) as e:
            raise UserError(f"a control holds a value that is not a number ({e})") from None
        for name in ("strength", "rotation", "gamma", "highlight", "max_radius"):
            if not math.isfinite(getattr(lens, name)):
                raise UserError(f"{name}={getattr(lens, name)}: give a finite number")
        return lens


@dataclass
class Scene:
    """One loaded photo, its disparity, their preview copies and the focus."""

    source: Path  # the photo's file (its name names the download)
    photo: Photo  # full size, with what the output keeps (ICC, EXIF, alpha)
    disparity: np.ndarray | None  # (H,W) in [0,1], 1 = nearest; None: learned mode only
    depth_from: str  # where the disparity came from, for the page
    small_rgb: np.ndarray  # (h,w,3) preview copy
    small_disparity: np.ndarray | None
    workdir: Path  # this scene's files: the views shown and the download
    focus_xy: tuple[int, int] | None = None  # full-size pixel; None: the nearest region
    shown_hw: tuple[int, int] | None = None  # the size of the picture the page shows now
    full_key: tuple | None = None  # what the last full render drew (to skip a redraw)
    result: Path | None = None  # the last full-size file written
    notes: list[str] = field(default_factory=list)
    inputs: tuple | None = None  # the page's (photo, depth map, kind) this scene was read from
    _views: list[Path] = field(default_factory=list)
    _count: int = 0

    @property
    def hw(self) -> tuple[int, int]:
        return self.photo.hw

    @property
    def scale(self) -> float:
        """Preview size / full size."""
        return self.small_rgb.shape[0] / self.hw[0]


def preview_hw(hw: tuple[int, int], size: int = PREVIEW_SIZE) -> tuple[int, int]:
    """``hw`` shrunk so its long side is at most ``size`` (aspect kept; never enlarged)."""
    h, w = hw
    s = min(1.0, size / max(h, w))
    return max(1, round(h * s)), max(1, round(w * s))


def load_scene(photo_path: str | Path, depth_path: str | Path | None = None, *,
               depth_kind: str = "disparity", model: BokehModel | None = None,
               preview_size: int = PREVIEW_SIZE, root: str | Path | None = None) -> Scene:
    """Reads a photo (and its depth map) for the page; UserError for anything the user can fix.

    Without a depth map the checkpoint's depth head gives the disparity (the CLI's
    ``--depth auto``); a checkpoint without one still renders in learned mode.
    ``root``: where the scene's folder of files is made (default: the system's temp folder).
    """
    photo_path = Path(photo_path)
    photo = _read(read_photo, photo_path)
    notes = []
    if depth_path is not None:
        depth_path = Path(depth_path)
        if depth_kind not in DEPTH_KINDS:
            raise UserError(f"depth kind {depth_kind!r}: choose {' or '.join(DEPTH_KINDS)}")
        raw = _read(read_depth, depth_path)
        disparity, stretched = depth.disparity_map(raw, photo.hw, depth_kind)
        if stretched:
            h, w = photo.hw
            raise UserError(f"the depth map {depth_path.name} is {raw.shape[1]}x{raw.shape[0]}, "
                            f"another aspect ratio than the {w}x{h} photo {photo_path.name} "
                            "(as displayed, EXIF orientation applied): is it this photo's "
                            "map, turned the same way?")
        depth_from = f"depth map {depth_path.name} (read as {depth_kind})"
    elif model is not None and model.has_depth_head:
        disparity = depth_head_disparity(model.module, model.variables, model.resolution,
                                         photo.rgb)
        depth_from = "the checkpoint's depth head (no depth map dropped)"
    elif model is not None:
        disparity, depth_from = None, "none"
        notes.append("this checkpoint has no depth head: learned mode only, or drop a depth "
                     "map to focus by clicking")
    else:
        raise NeedsDepth(f"{photo_path.name} is read; now drop its depth map (brighter = "
                         "nearer, or choose 'depth' below), or start the app with --checkpoint "
                         "DIR to estimate depth with its depth head")
    small_hw = preview_hw(photo.hw, preview_size)
    workdir = Path(tempfile.mkdtemp(prefix="scene_", dir=root))
    return Scene(photo_path, photo, disparity, depth_from, resize(photo.rgb, small_hw),
                 None if disparity is None else resize(disparity, small_hw), workdir,
                 notes=notes)


def _read(reader, path: Path):
    try:
        return reader(path)
    except MemoryError:
        raise UserError(f"{path.name}: too large for this machine's memory; shrink it "
                        "first") from None


def discard(scene: Scene | None) -> None:
    """Removes a scene's files (when a page session ends or a new photo replaces it)."""
    if scene is not None:
        shutil.rmtree(scene.workdir, ignore_errors=True)


def pixel_of_click(scene: Scene, xy: tuple[float, float]) -> tuple[int, int]:
    """A click on the shown picture (its own pixels, preview or full) -> a full-size pixel."""
    sh, sw = scene.shown_hw or scene.hw
    h, w = scene.hw
    x = (float(xy[0]) + 0.5) * w / sw - 0.5
    y = (float(xy[1]) + 0.5) * h / sh - 0.5
    return int(np.clip(round(x), 0, w - 1)), int(np.clip(round(y), 0, h - 1))


def focus_value(scene: Scene) -> float:
    """The disparity kept sharp: at the clicked pixel (the CLI's ``--focus X,Y``: the same
    :func:`~bokeh_jax.inference.depth.focus_at`), else the CLI's default, the nearest region."""
    if scene.disparity is None:
        return 0.0
    if scene.focus_xy is None:
        return depth.nearest_region_focus(scene.disparity)
    return depth.focus_at(scene.disparity, scene.focus_xy)


def lens_kwargs(lens: Lens, focus: float, scale: float = 1.0) -> dict:
    """:func:`bokeh_jax.refocus` arguments; ``scale`` shrinks the largest radius with the
    picture (the preview)."""
    return dict(focus=focus, strength=lens.strength, max_radius=max(1.0, lens.max_radius * scale),
                aperture=lens.aperture, blades=lens.blades, rotation=lens.rotation,
                renderer=lens.renderer, gamma=lens.gamma, highlight=lens.highlight)


@dataclass
class Rendering:
    """One picture for the page, plus the optional maps (all uint8 (h,w,3))."""

    bokeh: np.ndarray
    depth: np.ndarray | None = None
    blur: np.ndarray | None = None
    focus: float | None = None


def render(scene: Scene, lens: Lens, model: BokehModel | None = None, *, preview: bool = False,
           with_maps: bool = False) -> Rendering:
    """The scene through the lens, at the preview size or full size (uint8 pictures).

    ``with_maps``: also the disparity and the blur picture (blend weights or circle of
    confusion, :func:`bokeh_jax.inference.refocus.blur_picture`) at the preview size.
    """
    lens = lens.checked()
    if lens.mode == "learned":
        return _render_learned(scene, lens, model, preview, with_maps)
    if scene.disparity is None:
        raise UserError("depth mode needs a depth map: drop one (this checkpoint has no depth "
                        "head), or choose learned mode")
    focus = focus_value(scene)
    rgb, disparity = ((scene.small_rgb, scene.small_disparity) if preview else
                      (scene.photo.rgb, scene.disparity))
    alpha = scene.photo.alpha
    if preview and alpha is not None:
        alpha = viz.to_uint8(resize(alpha.astype(np.float32) / 255, rgb.shape[:2]))
    kw = lens_kwargs(lens, focus, scene.scale if preview else 1.0)
    try:
        bokeh = refocus.refocus(rgb, disparity, **kw, alpha=alpha, display=True)
    except ValueError as e:
        raise UserError(str(e)) from None
    out = Rendering(bokeh, focus=focus)
    if with_maps:
        small = scene.small_disparity
        out.depth = viz.colorize(small, 0.0, 1.0)
        out.blur = refocus.blur_picture(small, focus=focus, strength=lens.strength,
                                        max_radius=max(1.0, lens.max_radius * scene.scale),
                                        renderer=lens.renderer)
    return out


def _render_learned(scene, lens, model, preview, with_maps) -> Rendering:
    if model is None:
        raise UserError("learned mode needs a trained checkpoint: start the app with "
                        "--checkpoint DIR")
    rgb = scene.small_rgb if preview else scene.photo.rgb
    alpha = scene.photo.alpha
    if alpha is not None and preview:
        alpha = viz.to_uint8(resize(alpha.astype(np.float32) / 255, rgb.shape[:2]))
    out = render_photo(model.module, model.variables, model.resolution, rgb, alpha,
                       policy=PAPER if preview else lens.policy, with_weights=with_maps,
                       display=True)
    result = Rendering(out.bokeh)
    if with_maps:
        small_hw = scene.small_rgb.shape[:2]
        result.blur = viz.weights_to_rgb(resize(out.weights, small_hw))
        if scene.small_disparity is not None:
            result.depth = viz.colorize(scene.small_disparity, 0.0, 1.0)
    return result


def full_key(scene: Scene, lens: Lens, with_maps: bool) -> tuple:
    """What a full render depends on: the same key twice means the same pixels."""
    return (lens.checked(), scene.focus_xy, with_maps)


def output_name(source: Path) -> str:
    """The download's file name: ``<stem>_bokeh`` with the photo's extension when it is an
    output format (JPEG, PNG, WebP, TIFF), else .png (the CLI's rule)."""
    ext = source.suffix if source.suffix.lower() in OUTPUT_FORMATS else ".png"
    return f"{source.stem}_bokeh{ext}"


def save_result(scene: Scene, bokeh: np.ndarray, quality: int = 95) -> Path:
    """Writes the full-size render with the photo's ICC profile, EXIF and alpha (the CLI's
    writer), atomically, into the scene's folder."""
    path = scene.workdir / output_name(scene.source)
    try:
        write_photo(path, bokeh, scene.photo, quality)
    except OSError as e:
        raise UserError(f"cannot write the result in {scene.workdir} ({e.strerror or e}); "
                        "check the free space of the temp folder") from None
    scene.result = path
    return path


def save_view(scene: Scene, picture: np.ndarray, name: str = "view") -> Path:
    """A picture for the page as a fast PNG (level 1: the full size in tens of ms); the
    scene keeps the last few and deletes older ones."""
    scene._count += 1
    path = scene.workdir / f"{name}_{scene._count}.png"
    write_image(path, picture, compress_level=1)
    scene._views.append(path)
    for old in scene._views[:-6]:
        old.unlink(missing_ok=True)
    del scene._views[:-6]
    return path
