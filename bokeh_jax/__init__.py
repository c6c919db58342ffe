"""bokeh-jax: depth-aware blending of smoothed images for bokeh rendering (Dutta, 2021) in JAX.

The public API, listed (each name is imported from its module on first use, so
``import bokeh_jax`` stays cheap for the command line):

- :func:`load_model` -> :class:`BokehModel`: a converted or trained checkpoint folder, with
  ``render`` (the paper's test policy or full resolution), ``weights``, ``predict_depth``;
- :class:`BokehNet` and :class:`MegaDepth`: the Flax modules;
- :func:`blur_stack`, :func:`blend`, :func:`weights_from_depth`: the rendering ops (Eq. 1);
- :func:`render_photo`: photo in, bokeh out, for a trained network (what ``eval.py`` and the
  render CLI run); :func:`render_depth`: the same from any depth map;
- :func:`refocus`: depth-driven bokeh like a lens (disk/polygon apertures, linear light,
  occlusion-aware layers): what the render CLI's depth mode, the gallery and the app run.

The layout of the package: docs/architecture.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from bokeh_jax.names import __version__

_EXPORTS = {
    "load_model": "bokeh_jax.inference.model",
    "BokehModel": "bokeh_jax.inference.model",
    "BokehNet": "bokeh_jax.network.models",
    "MegaDepth": "bokeh_jax.network.models",
    "blur_stack": "bokeh_jax.ops",
    "blend": "bokeh_jax.ops",
    "weights_from_depth": "bokeh_jax.ops",
    "render_photo": "bokeh_jax.inference.learned",
    "render_depth": "bokeh_jax.inference.depth",
    "refocus": "bokeh_jax.inference.refocus",
}

__all__ = ["BokehModel", "BokehNet", "MegaDepth", "__version__", "blend", "blur_stack",
           "load_model", "refocus", "render_depth", "render_photo", "weights_from_depth"]

if TYPE_CHECKING:
    from bokeh_jax.inference.depth import render_depth
    from bokeh_jax.inference.learned import render_photo
    from bokeh_jax.inference.model import BokehModel, load_model
    from bokeh_jax.inference.refocus import refocus
    from bokeh_jax.network.models import BokehNet, MegaDepth
    from bokeh_jax.ops import blend, blur_stack, weights_from_depth


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'bokeh_jax' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
