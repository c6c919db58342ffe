"""One photo of ``python -m bokeh_jax.render``: read it, render it as the flags say, write it.

The rendering itself is the library's: :func:`bokeh_jax.inference.learned.render_photo`
(learned mode, the same function ``eval.py`` scores) or :func:`bokeh_jax.refocus` (depth
mode). What this module adds is file I/O, the focus the flags name, and 8-bit output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bokeh_jax.cli import parse_kernels
from bokeh_jax.errors import UserError
from bokeh_jax.inference import depth, refocus
from bokeh_jax.inference.learned import depth_head_disparity, render_photo
from bokeh_jax.inference.model import BokehModel, load_model
from bokeh_jax.inference.tiling import DEFAULT_WINDOW
from bokeh_jax.io import viz
from bokeh_jax.io.photos import keeps_alpha, read_depth, read_photo, write_image, write_photo
from bokeh_jax.names import PAPER_KERNELS
from bokeh_jax.render.plan import Job


def parse_focus(text: str) -> tuple[float, float, bool]:
    """'X,Y' (pixels) or 'X%,Y%' -> (x, y, relative)."""
    parts = [s.strip() for s in text.split(",")]
    rel = len(parts) == 2 and all(s.endswith("%") for s in parts)
    try:
        x, y = (float(s.rstrip("%")) for s in parts)
    except ValueError:
        x = y = float("nan")
    if not (np.isfinite(x) and np.isfinite(y)) or (rel and not (0 <= x <= 100 and
                                                                 0 <= y <= 100)):
        raise UserError(f"--focus {text!r}: give a pixel as X,Y (e.g. 640,420) or a position "
                        "as X%,Y% (e.g. 50%,40%)")
    return x, y, rel


def focus_value(args, disparity: np.ndarray, source: Path) -> float:
    """The disparity to keep sharp: --focus-depth, the disparity at --focus, or the default."""
    if args.focus_depth is not None:
        return float(args.focus_depth)
    if args.focus is None:
        return depth.nearest_region_focus(disparity)
    h, w = disparity.shape
    x, y, rel = parse_focus(args.focus)
    if rel:
        x, y = x / 100.0 * (w - 1), y / 100.0 * (h - 1)
    if not (0 <= x < w and 0 <= y < h):
        raise UserError(f"{source}: --focus {args.focus} is outside the {w}x{h} photo; give "
                        f"a pixel with 0 <= X < {w} and 0 <= Y < {h}, or use X%,Y%")
    return depth.focus_at(disparity, (round(x), round(y)))


class JobRenderer:
    """Renders one :class:`~bokeh_jax.render.plan.Job` as the flags say; returns notes."""

    def __init__(self, args, kernels: tuple[int, ...], model: BokehModel | None):
        self.args, self.kernels, self.model = args, kernels, model

    def lens(self, focus: float) -> dict:
        """The :func:`bokeh_jax.refocus` settings the depth-mode flags give (the defaults:
        README, "Depth mode defaults")."""
        a, default = self.args, refocus.LENS_DEFAULTS
        renderer = a.renderer or ("blend" if a.kernels else default["renderer"])
        aperture = a.aperture or ("gaussian" if a.kernels else default["aperture"])
        return dict(focus=focus, strength=1.0 if a.strength is None else a.strength,
                    max_radius=a.max_radius, aperture=aperture,
                    blades=6 if a.blades is None else a.blades,
                    rotation=0.0 if a.rotation is None else a.rotation, renderer=renderer,
                    gamma=default["gamma"] if a.gamma is None else a.gamma,
                    highlight=0.0 if a.highlight is None else a.highlight,
                    kernel_sizes=self.kernels if a.kernels else None)

    def _learned(self, rgb, alpha, *, with_weights=False, with_depth=False):
        m = self.model
        return render_photo(m.module, m.variables, m.resolution, rgb, alpha,
                            policy=self.args.policy or m.policy, with_weights=with_weights,
                            with_depth=with_depth, window=self.args.tile, display=True)

    def __call__(self, job: Job) -> list[str]:
        args, notes = self.args, []
        photo = read_photo(job.source)
        if photo.alpha is not None and not keeps_alpha(job.output):
            notes.append(f"{job.source}: alpha channel dropped ({job.output.suffix} holds "
                         "none); use --format png to keep it")
        want_w, want_d = "weights" in job.extras, "depth" in job.extras
        if args.depth is None:
            out = self._learned(photo.rgb, photo.alpha, with_weights=want_w, with_depth=want_d)
            bokeh, disparity = out.bokeh, out.disparity
            weights_rgb = viz.weights_to_rgb(out.weights) if want_w else None
        else:
            if job.depth is None:  # --depth auto: the checkpoint's depth head
                m = self.model
                disparity = depth_head_disparity(m.module, m.variables, m.resolution,
                                                 photo.rgb)
            else:
                disparity, stretched = depth.disparity_map(read_depth(job.depth), photo.hw,
                                                           args.depth_kind or "disparity")
                if stretched:
                    notes.append(f"{job.source}: depth map {job.depth.name} has another "
                                 f"shape than the {photo.hw[1]}x{photo.hw[0]} photo; stretched "
                                 "to fit (is it this photo's map, turned the same way?)")
            focus = focus_value(args, disparity, job.source)
            lens = self.lens(focus)
            bokeh = refocus.refocus(photo.rgb, disparity, **lens, alpha=photo.alpha,
                                    window=args.tile, display=True)
            weights_rgb = None
            if want_w:
                weights_rgb = refocus.blur_picture(
                    disparity, focus=focus, strength=lens["strength"],
                    max_radius=lens["max_radius"], renderer=lens["renderer"],
                    kernel_sizes=lens["kernel_sizes"])
        if job.keep:
            notes.append(f"{job.source}: kept the existing {', '.join(p.name for p in job.keep)}"
                         " and wrote the missing outputs (--overwrite redoes them all)")
        try:
            if job.writes(job.output):
                write_photo(job.output, bokeh, photo, args.quality)
            # Side pictures: fast PNG compression (level 6 would cost more than the render).
            if want_w and job.writes(job.extras["weights"]):
                write_image(job.extras["weights"], weights_rgb, compress_level=1)
            if want_d and job.writes(job.extras["depth"]):
                write_image(job.extras["depth"], viz.colorize(disparity, 0.0, 1.0),
                            compress_level=1)
        except OSError as e:
            raise UserError(f"{job.source}: cannot write its result in {job.output.parent} "
                            f"({e.strerror or e}); check the folder and free space") from None
        return notes


def load(args) -> JobRenderer:
    """The renderer the flags describe, with the checkpoint loaded and checked."""
    kernels = parse_kernels(args.kernels) if args.kernels else PAPER_KERNELS
    if args.tile <= 2 * (max(kernels) // 2):
        raise UserError(f"--tile {args.tile}: must exceed the largest kernel ({max(kernels)}); "
                        f"the default is {DEFAULT_WINDOW}")
    if args.depth is not None and not args.kernels and args.renderer != "blend":
        # The layered renderer's tiles need the blur and the filling under nearer layers.
        margin = refocus.layered_margin(args.max_radius or refocus.DEFAULT_MAX_RADIUS)
        if args.tile <= 2 * margin:
            raise UserError(f"--tile {args.tile}: the layered renderer needs tiles larger "
                            f"than {2 * margin} pixels at this --max-radius; the default is "
                            f"{DEFAULT_WINDOW}")
    if args.checkpoint is None:
        return JobRenderer(args, kernels, None)
    model = load_model(args.checkpoint, dtype=args.dtype or "float32")
    if not model.has_depth_head and (args.depth == "auto" or args.save_depth):
        flag = "--depth auto" if args.depth == "auto" else "--save-depth"
        raise UserError(f"{args.checkpoint}: this checkpoint has no depth head (converted from "
                        f"a bokeh model), so {flag} cannot work; use --depth FILE_OR_FOLDER "
                        "or a checkpoint converted from MegaDepth weights")
    if args.tile <= 2 * (max(model.kernel_sizes) // 2):
        raise UserError(f"--tile {args.tile}: must exceed the checkpoint's largest kernel "
                        f"({max(model.kernel_sizes)})")
    return JobRenderer(args, kernels, model)
