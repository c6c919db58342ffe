"""Inference: one photo in, its bokeh out.

- ``learned``: the one path for a trained network (both test policies, alpha-aware);
- ``depth``: the one path from any depth map (depth-driven weights);
- ``model``: ``load_model`` and ``BokehModel``;
- ``tiling``: Eq. 1 on overlapping tiles for large photos;
- ``resample``: the working size and the host-side bilinear resize.
"""
