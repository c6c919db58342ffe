"""Gallery: depth-driven bokeh on real photos with real depth maps (``make gallery``).

Renders the Middlebury photo that scikit-image ships (``stereo_motorcycle``: ground-truth
disparity, invalid pixels ``inf``) focused near, in the middle and far, at several blur
strengths, and, when ``../shared/data/pynet_samples`` exists, its EBB! photos with their depth
maps (focus on the nearest large region, as ``python -m bokeh_jax.render`` does by default).
Every render goes through the renderer's own path (:func:`bokeh_jax.inference.depth.render_depth`).
Writes each result, the weight pictures (white = sharp; blue, green, orange = stronger
blurs) and one contact sheet to the output folder.

examples:
  bokeh-jax gallery --out runs/gallery
  bokeh-jax gallery --out runs/gallery_strong --strengths 1,2,4 --kernels 25,45,75
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bokeh_jax.cli import ArgumentParser, enable_compilation_cache, parse_kernels
from bokeh_jax.errors import UserError
from bokeh_jax.files import check_output_folder
from bokeh_jax.inference.depth import disparity_map, nearest_region_focus, render_depth
from bokeh_jax.io import samples, viz
from bokeh_jax.io.photos import read_depth, read_image, write_image
from bokeh_jax.names import PAPER_KERNELS

# Where to focus the Middlebury photo: percentiles of its disparity (95 = near objects).
FOCUS_PERCENTILES = {"near": 95.0, "middle": 50.0, "far": 5.0}


def _parse_strengths(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or any(not np.isfinite(v) or v < 0 for v in values):
        raise UserError(f"--strengths {text!r}: give numbers >= 0 separated by commas, "
                        "e.g. 0.5,1,2")
    return values


def motorcycle_rows(out: Path, strengths: Sequence[float], kernels: Sequence[int]):
    """Renders the Middlebury photo: focus near/middle/far x strengths. Yields sheet rows."""
    image, raw = samples.motorcycle()
    disparity, _ = disparity_map(raw, image.shape[:2])
    focus = {name: float(np.percentile(disparity, q)) for name, q in FOCUS_PERCENTILES.items()}
    _, weights = render_depth(image, None, disparity, focus["middle"], 1.0, kernels,
                              with_weights=True)
    weights = viz.weights_to_rgb(weights)
    write_image(out / "motorcycle_weights_focus_middle.png", weights)
    yield ([("input (Middlebury)", viz.to_uint8(image)),
            ("disparity (bright = near)", viz.colorize(disparity, 0, 1)),
            ("weights, focus middle, strength 1", weights)],
           "white = sharp; blue, green, orange = growing blur")
    for s in strengths:
        row = []
        for name, f in focus.items():
            bokeh = viz.to_uint8(render_depth(image, None, disparity, f, s, kernels)[0])
            write_image(out / f"motorcycle_focus_{name}_strength_{s:g}.jpg", bokeh)
            row.append((f"focus {name} ({f:.2f})", bokeh))
        yield row, f"strength {s:g}"


def pynet_rows(out: Path, root: Path, kernels: Sequence[int]):
    """Renders the PyNET samples with their depth maps (default focus, strength 1)."""
    for name, photo, depth in samples.pynet_pairs(root):
        image = read_image(photo)
        # PyNET's maps are 8-bit, half-size, brighter = nearer: a disparity-like map.
        disparity, _ = disparity_map(read_depth(depth), image.shape[:2])
        focus = nearest_region_focus(disparity)
        bokeh, weights = render_depth(image, None, disparity, focus, 1.0, kernels,
                                      with_weights=True)
        bokeh, weights = viz.to_uint8(bokeh), viz.weights_to_rgb(weights)
        write_image(out / f"{name}.jpg", bokeh)
        yield ([("input", viz.to_uint8(image)), ("depth", viz.colorize(disparity, 0, 1)),
                (f"bokeh (focus {focus:.2f})", bokeh), ("weights", weights)], name)


def main(argv: Sequence[str] | None = None, prog: str = "python -m bokeh_jax.gallery") -> int:
    parser = ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                            epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--out", default="runs/gallery", help="output folder")
    parser.add_argument("--pynet", default=str(samples.shared_data_dir() / "pynet_samples"),
                        help="folder of PyNET-Bokeh samples (images/, depth_maps/)")
    parser.add_argument("--strengths", default="0.5,1,2",
                        help="blur strengths for the Middlebury photo (see weights_from_depth)")
    parser.add_argument("--kernels", default=",".join(map(str, PAPER_KERNELS)),
                        help="Gaussian kernel sizes (default: %(default)s)")
    args = parser.parse_args(argv)
    kernels = parse_kernels(args.kernels)
    strengths = _parse_strengths(args.strengths)
    out = Path(args.out)
    check_output_folder(out, replaceable=True)
    pynet = Path(args.pynet) if Path(args.pynet, "images").is_dir() else None

    enable_compilation_cache()
    import jax

    print(f"rendering on {jax.devices()[0].platform.upper()}; kernels {kernels}, "
          f"strengths {', '.join(f'{s:g}' for s in strengths)}")
    if pynet is None:
        print(f"(no PyNET samples at {args.pynet}: rendering the Middlebury photo only)")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    jobs = [motorcycle_rows(out, strengths, kernels)]
    if pynet is not None:
        jobs.append(pynet_rows(out, pynet, kernels))
    total = 1 + len(strengths) + (len(list(samples.pynet_pairs(pynet))) if pynet else 0)
    rows, captions = [], []
    with tqdm(total=total, desc="gallery", unit="row") as bar:
        for job in jobs:
            for row, caption in job:
                rows.append(row)
                captions.append(caption)
                bar.update()
    sheet = write_image(out / "contact_sheet.jpg",
                        viz.contact_sheet(rows, tile_height=240, captions=captions))
    renders = 3 * len(strengths) + (total - 1 - len(strengths))
    print(f"wrote {renders} renders and {sheet} ({time.perf_counter() - t0:.1f} s)")
    print(f"open {sheet.resolve()} to see them")
    return 0

