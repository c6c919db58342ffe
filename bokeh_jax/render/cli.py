"""Bokeh for your own photos, from a trained checkpoint or from any depth map.

    python -m bokeh_jax.render INPUT [INPUT ...] -o OUT [options]

INPUT: photos or folders of photos. OUT: a file for one photo, else a folder (created if
missing) receiving OUT/<photo stem>.<ext> (the input's extension for JPEG, PNG, WebP
and TIFF, else .png; or --format).

Modes:
  learned  --checkpoint DIR [--policy paper|fullres]: the checkpoint's trained blend
           weights (Eq. 1-2); "paper" renders at the checkpoint's resolution and resizes
           back (the paper's test policy), "fullres" blends the full-size photo; the
           default is the policy the checkpoint was trained for (the demo's: fullres).
  depth    --depth FILE_OR_FOLDER [--depth-kind disparity|depth] or --depth auto (with
           --checkpoint: its depth head): weights from the depth map, sharp at --focus X,Y
           (a pixel of the photo as displayed; or X%,Y%) or --focus-depth V (a disparity in
           [0,1], 1 = nearest; default: the nearest large region), blur growing with
           --strength S away from it, like a lens (bokeh_jax.refocus): occlusion-aware
           depth layers (--renderer layered, the default; or blend, the paper's Eq. 1),
           a --aperture disk (default), polygon (--blades, --rotation) or gaussian, blurred
           in linear light (--gamma, default 2.2; 1 = off), circles of confusion up to
           --max-radius pixels (default 37). --kernels K1,K2,.. selects the paper's blend
           with those Gaussian kernels (today's depth render).

Real-world files: EXIF orientation applied, size, ICC profile, EXIF (minus orientation) and
alpha kept; grayscale, palette, CMYK and 16-bit inputs; any size (large photos are
rendered in overlapping tiles, see --tile). A photo that cannot be read fails alone; the
exit code is 1 if any failed. Outputs are written atomically, never over an input, and
existing ones are skipped unless --overwrite.

examples:
  # a folder of phone photos with their depth maps, focused on the nearest subject
  bokeh-jax render photos/ -o out/ --depth depth_maps/ --save-weights
  # one photo, focus on a pixel, stronger blur, hexagonal bokeh balls
  bokeh-jax render IMG_0042.jpg -o IMG_0042_bokeh.jpg --depth IMG_0042.png --focus 640,420 \\
      --strength 1.5 --aperture polygon --blades 6 --rotation 15
  # the paper's Gaussian blend from a depth map (the only depth mode before apertures came)
  bokeh-jax render photos/ -o out/ --depth depth_maps/ --kernels 25,45,75
  # the trained network, blended at full resolution
  bokeh-jax render photos/ -o out/ --checkpoint runs/demo/phase3/best --policy fullres
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bokeh_jax.cli import ArgumentParser, enable_compilation_cache
from bokeh_jax.errors import UserError, one_line
from bokeh_jax.files import check_can_write
from bokeh_jax.inference.refocus import DEFAULT_MAX_RADIUS, LARGEST_RADIUS, RENDERERS
from bokeh_jax.inference.tiling import DEFAULT_WINDOW
from bokeh_jax.names import COMPUTE_DTYPES, PAPER_KERNELS, POLICIES
from bokeh_jax.ops.aperture import APERTURES
from bokeh_jax.render import jobs as render_jobs
from bokeh_jax.render import plan as render_plan


def parser(prog: str = "python -m bokeh_jax.render") -> ArgumentParser:
    p = ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                       epilog="\n\n".join(__doc__.split("\n\n")[2:]))
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="photos or folders of photos")
    p.add_argument("-o", "--out", required=True, metavar="OUT",
                   help="output file (one photo) or folder")
    p.add_argument("--checkpoint", metavar="DIR", help="trained or converted checkpoint folder")
    p.add_argument("--policy", choices=POLICIES,
                   help="learned mode: render at the checkpoint's resolution and resize back "
                        "(paper) or blend at full resolution (fullres); default: the policy "
                        "the checkpoint was trained for (paper for converted checkpoints)")
    p.add_argument("--depth", metavar="FILE_OR_FOLDER|auto",
                   help="depth mode: a depth map, a folder of maps named like the photos, or "
                        "'auto' (the checkpoint's depth head)")
    p.add_argument("--depth-kind", choices=("disparity", "depth"),
                   help="how the maps read: disparity (default; brighter = nearer) or depth "
                        "(brighter = farther)")
    focus = p.add_mutually_exclusive_group()
    focus.add_argument("--focus", metavar="X,Y",
                       help="pixel to keep sharp (of the photo as displayed), or X%%,Y%%")
    focus.add_argument("--focus-depth", type=float, metavar="V",
                       help="disparity to keep sharp, in [0,1] (1 = nearest)")
    p.add_argument("--strength", type=float, metavar="S", help="blur growth away from the focus "
                   "(default 1: a full-range disparity difference gets the strongest blur)")
    p.add_argument("--kernels", help="depth mode: the blend renderer's kernel sizes, e.g. "
                   f"{','.join(map(str, PAPER_KERNELS))} (implies --renderer blend and, unless "
                   "given, --aperture gaussian)")
    p.add_argument("--renderer", choices=RENDERERS, help="depth mode: occlusion-aware layers "
                   "(layered, default) or the paper's per-pixel blend (blend)")
    p.add_argument("--aperture", choices=APERTURES, help="depth mode: the shape of an "
                   "out-of-focus point (default disk)")
    p.add_argument("--blades", type=int, metavar="N", help="polygon aperture: sides (3-64, "
                   "default 6)")
    p.add_argument("--rotation", type=float, metavar="DEG", help="polygon aperture: rotation "
                   "in degrees, counter-clockwise (default 0: a vertex up)")
    p.add_argument("--gamma", type=float, metavar="G", help="depth mode: blur in linear light "
                   "(I**G, blur, **1/G); default 2.2, 1 = off")
    p.add_argument("--highlight", type=float, metavar="H", help="depth mode: boost near-clipped "
                   "pixels by up to 1+H before blurring, for brighter bokeh balls (default 0)")
    p.add_argument("--max-radius", type=float, metavar="R", help="depth mode: the largest "
                   f"circle of confusion in pixels (default {DEFAULT_MAX_RADIUS}, the radius "
                   "of the paper's 75 kernel)")
    p.add_argument("--save-weights", action="store_true",
                   help="also write <stem>_weights.png (white sharp; blue, green, orange... "
                        "growing blur)")
    p.add_argument("--save-depth", action="store_true",
                   help="also write <stem>_depth.png (the disparity used; bright = near)")
    p.add_argument("--format", metavar="EXT", help="output format for a folder: jpg, png, "
                   "webp or tif (default: the input's own when one of these, else png)")
    p.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality (1-100)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--tile", type=int, default=DEFAULT_WINDOW, metavar="PIXELS",
                   help="photos larger than this along an axis are rendered in overlapping "
                        f"tiles of this size (default {DEFAULT_WINDOW}; less = less memory)")
    p.add_argument("--dtype", choices=COMPUTE_DTYPES, help="with --checkpoint: the network's "
                   "activations (default float32; bfloat16 = mixed precision, faster on GPUs)")
    return p


def check_args(args) -> None:
    """Flag combinations, checked before anything is loaded."""
    auto = args.depth == "auto"
    if args.depth is None and args.checkpoint is None:
        raise UserError("nothing to render with: give --checkpoint DIR (learned weights) or "
                        "--depth FILE_OR_FOLDER (a depth map per photo)")
    if auto and args.checkpoint is None:
        raise UserError("--depth auto uses a checkpoint's depth head; add --checkpoint DIR")
    depth_only = {"--kernels": args.kernels, "--focus": args.focus,
                  "--focus-depth": args.focus_depth, "--strength": args.strength,
                  "--renderer": args.renderer, "--aperture": args.aperture,
                  "--blades": args.blades, "--rotation": args.rotation, "--gamma": args.gamma,
                  "--highlight": args.highlight, "--max-radius": args.max_radius}
    if args.depth is None:
        for flag, value in depth_only.items():
            if value is not None:
                raise UserError(f"{flag} applies to depth mode only (--depth); the learned "
                                "mode takes its weights and aperture from the checkpoint")
    elif args.policy is not None:
        raise UserError("--policy applies to the learned mode only; drop it or drop --depth")
    if args.dtype is not None and args.checkpoint is None:
        raise UserError("--dtype sets the network's precision; it needs --checkpoint DIR")
    if args.depth_kind is not None and (args.depth is None or auto):
        raise UserError("--depth-kind describes --depth FILE_OR_FOLDER maps; drop it")
    if args.depth is not None and not auto and not Path(args.depth).exists():
        raise UserError(f"--depth {args.depth}: no such file or folder")
    if args.strength is not None and not (math.isfinite(args.strength) and args.strength >= 0):
        raise UserError(f"--strength {args.strength}: give a finite number >= 0 (1 is the "
                        "default)")
    if args.focus_depth is not None and not 0.0 <= args.focus_depth <= 1.0:
        raise UserError(f"--focus-depth {args.focus_depth}: give a disparity in [0,1] "
                        "(1 = nearest, 0 = farthest)")
    if args.kernels and args.renderer == "layered":
        raise UserError("--kernels sets the blend renderer's kernels; the layered renderer "
                        "takes --max-radius instead (drop one of them)")
    if (args.blades is not None or args.rotation is not None) and args.aperture != "polygon":
        raise UserError("--blades and --rotation shape a polygonal aperture; add --aperture "
                        "polygon")
    for flag, value, ok, hint in (
            ("--gamma", args.gamma, lambda v: 0.2 <= v <= 10, "0.2..10; 1 = off, 2.2 default"),
            ("--highlight", args.highlight, lambda v: v >= 0, ">= 0; 0 = off"),
            ("--max-radius", args.max_radius, lambda v: 1 <= v <= LARGEST_RADIUS,
             f"1..{LARGEST_RADIUS} pixels; {DEFAULT_MAX_RADIUS} is the default"),
            ("--blades", args.blades, lambda v: 3 <= v <= 64, "3..64; 6 is the default"),
            ("--rotation", args.rotation, lambda v: True, "degrees")):
        if value is not None and not (math.isfinite(value) and ok(value)):
            raise UserError(f"{flag} {value}: give {hint}")
    if not 1 <= args.quality <= 100:
        raise UserError(f"--quality {args.quality}: give 1..100 (95 is the default)")
    if args.focus is not None:
        render_jobs.parse_focus(args.focus)


def main(argv: Sequence[str] | None = None, prog: str = "python -m bokeh_jax.render") -> int:
    args = parser(prog).parse_args(argv)
    check_args(args)
    inputs, notes = render_plan.collect_inputs(args.inputs)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if not inputs:
        raise UserError("no photos to render: " + "; ".join(args.inputs))
    out = Path(args.out)
    as_file = render_plan.output_is_file(out, args.inputs, len(inputs))
    depth = None if args.depth in (None, "auto") else Path(args.depth)
    extras = [k for k, on in (("weights", args.save_weights), ("depth", args.save_depth)) if on]
    jobs = render_plan.plan_jobs(inputs, out, as_file, fmt=args.format, depth=depth,
                                 extras=extras, overwrite=args.overwrite)
    if as_file and (jobs[0].error or jobs[0].skip):
        raise UserError(jobs[0].error or jobs[0].skip)
    check_can_write(out.parent if as_file else out)  # before the model loads
    render = render_jobs.load(args)

    enable_compilation_cache()
    import jax
    from tqdm import tqdm

    dev = jax.devices()[0]
    kind = "" if dev.device_kind.lower() == dev.platform.lower() else f" ({dev.device_kind})"
    if args.depth is None:
        mode = "learned, policy " + (args.policy or render.model.policy)
        if args.dtype == "bfloat16":
            mode += ", bfloat16"
        net = render.model.module
        if net.aperture != "gaussian":  # from the checkpoint's metadata
            mode += f", {net.blades}-blade polygon" if net.aperture == "polygon" else ", disk"
    else:
        lens = render.lens(0.0)
        shape = (f"{lens['blades']}-blade polygon" if lens["aperture"] == "polygon" else
                 lens["aperture"])
        size = (f"kernels {','.join(map(str, render.kernels))}" if lens["kernel_sizes"] else
                f"max radius {lens['max_radius'] or DEFAULT_MAX_RADIUS:g} px")
        mode = (f"depth ({'auto' if depth is None else args.depth_kind or 'disparity'}), "
                f"{lens['renderer']}, {shape}, gamma {lens['gamma']:g}, {size}")
    print(f"rendering {len(jobs)} photo(s) on {dev.platform.upper()}{kind}; "
          f"mode: {mode}", flush=True)
    done = skipped = failed = 0
    elapsed = []
    for job in tqdm(jobs, desc="render", unit="photo", file=sys.stderr):
        if job.error:
            failed += 1
            tqdm.write(f"error: {job.error}", file=sys.stderr)
            continue
        if job.skip:
            skipped += 1
            tqdm.write(f"skipped {job.source}: {job.skip}", file=sys.stderr)
            continue
        t0 = time.perf_counter()
        try:
            job_notes = render(job)
        except UserError as e:
            failed += 1
            tqdm.write(f"error: {one_line(e)}", file=sys.stderr)
            continue
        elapsed.append(time.perf_counter() - t0)
        done += 1
        for note in job_notes:
            tqdm.write(f"note: {note}", file=sys.stderr)
    mean = f"{np.mean(elapsed):.2f} s per image" if elapsed else "no image rendered"
    first = " (the first of each size includes compilation)" if len(elapsed) > 1 else ""
    print(f"done {done}, skipped {skipped}, failed {failed}; {mean}{first}")
    return 1 if failed else 0

