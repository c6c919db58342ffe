"""Evaluation with the paper's protocol (docs/method.md, "Measuring").

- ``metrics``, ``lpips``, ``batches``: PSNR, SSIM, dm-pix SSIM, LPIPS;
- ``sources``: what to score (checkpoint, examples, output folder);
- ``scoring``: the evaluation loop and its baselines;
- ``reports``: summary, table, CSV/JSON/Markdown, visual grids;
- ``cli``: ``bokeh-jax eval`` / ``python eval.py``.
"""
