"""The page's one-click samples: real photos with their real depth, as files Gradio can serve.

- scikit-image's Middlebury ``stereo_motorcycle`` (:func:`bokeh_jax.io.samples.motorcycle`):
  written once per server as a PNG and its ground-truth disparity as ``.npy`` (the unknown
  pixels stay ``inf``; the depth reader fills them as for any map);
- the PyNET/EBB! photos with depth maps in ``shared/data`` when present (the project's own
  checkout), used where they lie.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bokeh_jax.io import samples
from bokeh_jax.io.photos import write_image
from bokeh_jax.io.viz import to_uint8

MAX_SHARED = 3  # a few of the shared samples; the page stays short


def write_samples(folder: str | Path) -> list[tuple[str, str, str]]:
    """(label, photo, depth map) of the page's examples; the motorcycle is written to
    ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    image, disparity = samples.motorcycle()
    photo, depth = folder / "motorcycle.png", folder / "motorcycle_disparity.npy"
    write_image(photo, to_uint8(image), compress_level=1)
    np.save(depth, disparity)
    found = [("Middlebury motorcycle", str(photo), str(depth))]
    for i, (_, shot, depth_map) in enumerate(samples.pynet_pairs()):
        if i >= MAX_SHARED:
            break
        found.append((f"EBB! {shot.stem}", str(shot), str(depth_map)))
    return found
