"""Gallery: depth-driven bokeh on real photos with real depth maps.

    python -m bokeh_jax.gallery --out runs/gallery

Renders the Middlebury photo that scikit-image ships (``stereo_motorcycle``: ground-truth
disparity, invalid pixels ``inf``) focused near, in the middle and far, and, when
``../shared/data/pynet_samples`` exists, its EBB! photos with their depth maps. Writes every
result and one contact sheet (input | depth | renders) to the output folder.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bokeh_jax import samples, viz
from bokeh_jax.cli import UserError, enable_compilation_cache, run_main
from bokeh_jax.image_io import read_depth, read_image, write_image

FOCUS_PERCENTILES = {"near": 95.0, "middle": 50.0, "far": 5.0}


def _jobs(pynet: Path | None):
    """(name, image, disparity-like map, focus choices) for every demo photo."""
    image, disparity = samples.motorcycle()
    yield "motorcycle", image, disparity, tuple(FOCUS_PERCENTILES)
    if pynet is not None:
        for name, photo, depth in samples.pynet_pairs(pynet):
            # PyNET's maps are 8-bit, brighter = nearer: a disparity-like map.
            yield name, read_image(photo), read_depth(depth), ("auto",)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bokeh_jax.gallery", description=__doc__)
    parser.add_argument("--out", default="runs/gallery", help="output folder")
    parser.add_argument("--pynet", default=str(samples.shared_data_dir() / "pynet_samples"),
                        help="folder of PyNET-Bokeh samples (images/, depth_maps/)")
    parser.add_argument("--strength", type=float, default=1.0,
                        help="blur growth with distance from the focus (see weights_from_depth)")
    parser.add_argument("--kernels", default="25,45,75", help="Gaussian kernel sizes")
    args = parser.parse_args(argv)
    from bokeh_jax.convert import parse_kernels

    kernels = parse_kernels(args.kernels)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder; choose another --out")
    pynet = Path(args.pynet) if Path(args.pynet, "images").is_dir() else None

    enable_compilation_cache()
    import jax

    from bokeh_jax.depth_render import (nearest_region_focus, render_from_disparity,
                                        resize_map, to_disparity)

    print(f"rendering on {jax.devices()[0].platform.upper()}; kernels {kernels}, "
          f"strength {args.strength}")
    if pynet is None:
        print(f"(no PyNET samples at {args.pynet}: rendering the Middlebury photo only)")
    jobs = list(_jobs(pynet))
    rows, written, t0 = [], [], time.perf_counter()
    for name, image, raw, focuses in tqdm(jobs, desc="gallery", unit="photo"):
        disparity = to_disparity(resize_map(raw, image.shape[:2]))
        row = [("input", viz.to_uint8(image)), ("disparity", viz.colorize(disparity, 0, 1))]
        for focus_name in focuses:
            if focus_name == "auto":
                focus = nearest_region_focus(disparity)
            else:
                focus = float(np.percentile(disparity, FOCUS_PERCENTILES[focus_name]))
            bokeh, _ = render_from_disparity(image, disparity, focus, args.strength, kernels)
            suffix = "" if focus_name == "auto" else f"_focus_{focus_name}"
            path = write_image(out / f"{name}{suffix}.jpg", np.asarray(bokeh))
            written.append(path)
            row.append((f"focus {focus_name} ({focus:.2f})", viz.to_uint8(np.asarray(bokeh))))
        rows.append(row)
    sheet = write_image(out / "contact_sheet.jpg", viz.contact_sheet(rows, tile_height=240))
    elapsed = time.perf_counter() - t0
    print(f"wrote {len(written)} renders and {sheet} ({elapsed:.1f} s)")
    print(f"open {sheet.resolve()} to see them")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
