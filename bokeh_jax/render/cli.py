"""Bokeh for your own photos, from a trained checkpoint or from any depth map.

    python -m bokeh_jax.render INPUT [INPUT ...] -o OUT [options]

INPUT: photos or folders of photos. OUT: a file for one photo, else a folder (created if
missing) receiving OUT/<photo stem>.<ext> (the input's extension for JPEG, PNG, WebP
and TIFF, else .png; or --format).

Modes:
  learned  --checkpoint DIR [--policy paper|fullres]: the checkpoint's trained blend
           weights (Eq. 1-2); "paper" renders at the checkpoint's resolution and resizes
           back (the paper's test policy), "fullres" blends the full-size photo.
  depth    --depth FILE_OR_FOLDER [--depth-kind disparity|depth] or --depth auto (with
           --checkpoint: its depth head): weights from the depth map, sharp at --focus X,Y
           (a pixel of the photo as displayed; or X%,Y%) or --focus-depth V (a disparity in
           [0,1], 1 = nearest; default: the nearest large region), blur growing with
           --strength S away from it, Gaussian --kernels (default 25,45,75).

Real-world files: EXIF orientation applied, size, ICC profile, EXIF (minus orientation) and
alpha kept; grayscale, palette, CMYK and 16-bit inputs; any size (large photos are
rendered in overlapping tiles, see --tile). A photo that cannot be read fails alone; the
exit code is 1 if any failed. Outputs are written atomically, never over an input, and
existing ones are skipped unless --overwrite.

examples:
  # a folder of phone photos with their depth maps, focused on the nearest subject
  bokeh-jax render photos/ -o out/ --depth depth_maps/ --save-weights
  # one photo, focus on a pixel, stronger blur
  bokeh-jax render IMG_0042.jpg -o IMG_0042_bokeh.jpg --depth IMG_0042.png --focus 640,420 \\
      --strength 1.5
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
from bokeh_jax.inference.tiling import DEFAULT_WINDOW
from bokeh_jax.names import PAPER, PAPER_KERNELS, POLICIES
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
                        "(paper, default) or blend at full resolution (fullres)")
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
    p.add_argument("--kernels", help="depth mode: Gaussian kernel sizes (default "
                   f"{','.join(map(str, PAPER_KERNELS))})")
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
                  "--focus-depth": args.focus_depth, "--strength": args.strength}
    if args.depth is None:
        for flag, value in depth_only.items():
            if value is not None:
                raise UserError(f"{flag} applies to depth mode only (--depth); the learned "
                                "mode takes its weights from the checkpoint")
    elif args.policy is not None:
        raise UserError("--policy applies to the learned mode only; drop it or drop --depth")
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
    mode = ("learned, policy " + (args.policy or PAPER) if args.depth is None else
            f"depth ({'auto' if depth is None else args.depth_kind or 'disparity'}), "
            f"kernels {','.join(map(str, render.kernels))}")
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

