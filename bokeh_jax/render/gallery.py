"""Gallery: depth-driven bokeh on real photos with real depth maps (``make gallery``).

Renders the Middlebury photo that scikit-image ships (``stereo_motorcycle``: ground-truth
disparity, invalid pixels ``inf``) focused near, in the middle and far, at several blur
strengths, and, when ``../shared/data/pynet_samples`` exists, its EBB! photos with their depth
maps (focus on the nearest large region, as ``python -m bokeh_jax.render`` does by default).
Every render is :func:`bokeh_jax.refocus` with the depth mode's defaults (layered, disk,
gamma 2.2). Writes each result, one contact sheet, the blend weights of the Middlebury
photo (white = sharp; blue, green, orange = stronger blurs) and ``lens_sheet.jpg``: the
photo with the most highlights rendered blend vs layered, gaussian vs disk vs polygon,
gamma 1 vs 2.2, with full-resolution crops around its brightest lights.

examples:
  bokeh-jax gallery --out runs/gallery
  bokeh-jax gallery --out runs/gallery_strong --strengths 1,2,4 --kernels 25,45,75
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import ndimage
from tqdm import tqdm

from bokeh_jax.cli import ArgumentParser, enable_compilation_cache, parse_kernels
from bokeh_jax.errors import UserError
from bokeh_jax.files import check_output_folder
from bokeh_jax.inference.depth import disparity_map, nearest_region_focus
from bokeh_jax.inference.refocus import (
    DEFAULT_MAX_RADIUS,
    LARGEST_RADIUS,
    LENS_DEFAULTS,
    blur_picture,
    refocus,
)
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


def load_photos(pynet: Path | None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, image, disparity at the image's size): the Middlebury photo first, then the
    PyNET samples (their maps are 8-bit, half-size, brighter = nearer: disparity-like)."""
    image, raw = samples.motorcycle()
    photos = [("motorcycle", image, disparity_map(raw, image.shape[:2])[0])]
    for name, photo, depth in (samples.pynet_pairs(pynet) if pynet else []):
        rgb = read_image(photo)
        photos.append((name, rgb, disparity_map(read_depth(depth), rgb.shape[:2])[0]))
    return photos


def motorcycle_rows(out: Path, image: np.ndarray, disparity: np.ndarray,
                    strengths: Sequence[float], kernels: Sequence[int],
                    max_radius: float | None = None):
    """Renders the Middlebury photo: focus near/middle/far x strengths. Yields sheet rows."""
    focus = {name: float(np.percentile(disparity, q)) for name, q in FOCUS_PERCENTILES.items()}
    weights = blur_picture(disparity, focus=focus["middle"], renderer="blend",
                           kernel_sizes=kernels)
    write_image(out / "motorcycle_weights_focus_middle.png", weights)
    yield ([("input (Middlebury)", viz.to_uint8(image)),
            ("disparity (bright = near)", viz.colorize(disparity, 0, 1)),
            ("blend weights, focus middle", weights)],
           "white = sharp; blue, green, orange = growing blur (the paper's blend)")
    for s in strengths:
        row = []
        for name, f in focus.items():
            bokeh = refocus(image, disparity, focus=f, strength=s, display=True,
                            max_radius=max_radius, **LENS_DEFAULTS)
            write_image(out / f"motorcycle_focus_{name}_strength_{s:g}.jpg", bokeh)
            row.append((f"focus {name} ({f:.2f})", bokeh))
        yield row, f"strength {s:g}"


def pynet_rows(out: Path, photos: Sequence[tuple[str, np.ndarray, np.ndarray]],
               max_radius: float | None = None):
    """Renders the PyNET samples with their depth maps (default focus, strength 1)."""
    for name, image, disparity in photos:
        focus = nearest_region_focus(disparity)
        bokeh = refocus(image, disparity, focus=focus, display=True, max_radius=max_radius,
                        **LENS_DEFAULTS)
        write_image(out / f"{name}.jpg", bokeh)
        yield ([("input", viz.to_uint8(image)), ("depth", viz.colorize(disparity, 0, 1)),
                (f"bokeh (focus {focus:.2f})", bokeh),
                ("blur radius (bright = more)",
                 blur_picture(disparity, focus=focus, max_radius=max_radius))], name)


# The lens sheet's renders: (label, refocus settings).
LENS_VARIANTS = (
    ("paper: blend, gaussian, g 1", dict(renderer="blend", aperture="gaussian", gamma=1.0)),
    ("blend, disk, gamma 2.2", dict(renderer="blend", aperture="disk", gamma=2.2)),
    ("layered, gaussian, g 2.2", dict(renderer="layered", aperture="gaussian", gamma=2.2)),
    ("layered, disk, gamma 1", dict(renderer="layered", aperture="disk", gamma=1.0)),
    ("layered, disk, 2.2 (default)", dict(LENS_DEFAULTS)),
    ("layered, hexagon, gamma 2.2", dict(renderer="layered", aperture="polygon", gamma=2.2)),
    ("default + highlight 2", dict(LENS_DEFAULTS, highlight=2.0)),
)


def highlight_score(image: np.ndarray) -> int:
    """How many small lights a photo has: blobs of 3 to 2000 near-clipped pixels (all
    channels above 0.9): lamps, glints, sky or sun through leaves."""
    labels, _ = ndimage.label(np.min(image, axis=-1) > 0.9)
    sizes = np.bincount(labels.ravel())[1:]
    return int(((sizes >= 3) & (sizes <= 2000)).sum())


def _brightest_crop(image: np.ndarray, disparity: np.ndarray, focus: float,
                    size: int = 256) -> tuple[slice, slice]:
    """A size^2 window around the brightest out-of-focus lights (where bokeh balls form)."""
    h, w = disparity.shape
    lights = (np.min(image, axis=-1) > 0.9) & (np.abs(disparity - focus) > 0.3)
    if not lights.any():
        lights = np.min(image, axis=-1) >= np.percentile(np.min(image, axis=-1), 99.5)
    density = ndimage.uniform_filter(lights.astype(np.float32), size // 2)
    y, x = np.unravel_index(np.argmax(density), density.shape)
    y0 = int(np.clip(y - size // 2, 0, max(0, h - size)))
    x0 = int(np.clip(x - size // 2, 0, max(0, w - size)))
    return slice(y0, y0 + size), slice(x0, x0 + size)


def lens_sheet(out: Path, photos: Sequence[tuple[str, np.ndarray, np.ndarray]],
               count: int = 2, max_radius: float | None = None) -> Path:
    """The comparison sheet on the ``count`` photos with the most small lights:
    ``lens_sheet.jpg`` (each render also in ``lens/``)."""
    chosen = sorted(photos, key=lambda p: -highlight_score(p[1]))[:count]
    rows, captions = [], []
    bar = tqdm(total=len(chosen) * len(LENS_VARIANTS), desc="lens sheet", unit="render")
    for name, image, disparity in chosen:
        focus = nearest_region_focus(disparity)
        ys, xs = _brightest_crop(image, disparity, focus)
        renders = []
        for label, kw in LENS_VARIANTS:
            renders.append((label, refocus(image, disparity, focus=focus, display=True,
                                           max_radius=max_radius, **kw)))
            write_image(out / "lens" / f"{name}_{_slug(label)}.jpg", renders[-1][1])
            bar.update()
        half = (len(renders) + 1) // 2
        rows += [[("input", viz.to_uint8(image))] + renders[:half], renders[half:],
                 [("input (crop)", viz.to_uint8(image[ys, xs]))] +
                 [(label, bokeh[ys, xs]) for label, bokeh in renders[:half]],
                 [(label, bokeh[ys, xs]) for label, bokeh in renders[half:]]]
        captions += [f"{name}: focus {focus:.2f} (nearest region)", "",
                     f"{name}: full-resolution crops at y {ys.start}, x {xs.start}", ""]
    bar.close()
    return write_image(out / "lens_sheet.jpg",
                       viz.contact_sheet(rows, tile_height=256, captions=captions))


def _slug(label: str) -> str:
    return "_".join("".join(c if c.isalnum() or c == "." else " " for c in label).split())


def main(argv: Sequence[str] | None = None, prog: str = "python -m bokeh_jax.gallery") -> int:
    parser = ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                            epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--out", default="runs/gallery", help="output folder")
    parser.add_argument("--pynet", default=str(samples.shared_data_dir() / "pynet_samples"),
                        help="folder of PyNET-Bokeh samples (images/, depth_maps/)")
    parser.add_argument("--strengths", default="0.5,1,2",
                        help="blur strengths for the Middlebury photo (see weights_from_depth)")
    parser.add_argument("--kernels", default=",".join(map(str, PAPER_KERNELS)),
                        help="the blend weights picture's kernel sizes (default: %(default)s)")
    parser.add_argument("--max-radius", type=float, default=None, metavar="R",
                        help="the largest circle of confusion in pixels (default 37, the "
                             "radius of the paper's 75 kernel)")
    parser.add_argument("--lens-photos", type=int, default=2, metavar="N",
                        help="photos on the lens comparison sheet (the N with the most small "
                             "lights; default %(default)s)")
    args = parser.parse_args(argv)
    kernels = parse_kernels(args.kernels)
    if args.max_radius is not None and not 1 <= args.max_radius <= LARGEST_RADIUS:
        raise UserError(f"--max-radius {args.max_radius}: give 1..{LARGEST_RADIUS} pixels "
                        f"({DEFAULT_MAX_RADIUS} is the default)")
    strengths = _parse_strengths(args.strengths)
    out = Path(args.out)
    check_output_folder(out, replaceable=True)
    pynet = Path(args.pynet) if Path(args.pynet, "images").is_dir() else None

    enable_compilation_cache()
    import jax

    lens = ", ".join(f"{k} {v}" for k, v in LENS_DEFAULTS.items())
    print(f"rendering on {jax.devices()[0].platform.upper()}; {lens}; "
          f"strengths {', '.join(f'{s:g}' for s in strengths)}")
    if pynet is None:
        print(f"(no PyNET samples at {args.pynet}: rendering the Middlebury photo only)")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    photos = load_photos(pynet)  # once: the sheets and the lens sheet share them
    jobs = [motorcycle_rows(out, *photos[0][1:], strengths, kernels, args.max_radius),
            pynet_rows(out, photos[1:], args.max_radius)]
    total = 1 + len(strengths) + len(photos) - 1
    rows, captions = [], []
    with tqdm(total=total, desc="gallery", unit="row") as bar:
        for job in jobs:
            for row, caption in job:
                rows.append(row)
                captions.append(caption)
                bar.update()
    sheet = write_image(out / "contact_sheet.jpg",
                        viz.contact_sheet(rows, tile_height=240, captions=captions))
    count = min(max(1, args.lens_photos), len(photos))
    lens = lens_sheet(out, photos, count=count, max_radius=args.max_radius)
    renders = 3 * len(strengths) + len(photos) - 1 + count * len(LENS_VARIANTS)
    print(f"wrote {renders} renders, {sheet} and {lens} ({time.perf_counter() - t0:.1f} s)")
    print(f"open {sheet.resolve()} and {lens.resolve()} to see them")
    return 0
