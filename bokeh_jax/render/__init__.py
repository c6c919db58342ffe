"""The photo tool: ``bokeh-jax render`` / ``python -m bokeh_jax.render``, and the gallery.

- ``cli``: flags, their checks, the batch loop;
- ``plan``: inputs, outputs and depth maps matched, before any pixel is read;
- ``jobs``: one photo: read, render (the inference paths), write;
- ``gallery``: depth-driven renders of real sample photos (``make gallery``).
"""
