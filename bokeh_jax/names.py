"""Names and constants every layer shares. A leaf: imports nothing of the project."""

from __future__ import annotations

__version__ = "0.1.0"

# The paper's Gaussian kernel sizes of the blurred copies G_k(I) in Eq. 1 (docs/method.md).
PAPER_KERNELS: tuple[int, ...] = (25, 45, 75)

# Test policies (docs/method.md, "Test policy"): "paper" resizes the photo to the trained
# resolution, runs and resizes the render back; "fullres" upsamples the weight maps instead
# and blends the full-size photo.
PAPER, FULLRES = "paper", "fullres"
POLICIES: tuple[str, ...] = (PAPER, FULLRES)

# The network's activation dtypes: float32, or bfloat16 mixed precision (float32
# parameters, optimizer state, BatchNorm statistics, losses and blend).
COMPUTE_DTYPES: tuple[str, ...] = ("float32", "bfloat16")

# Built datasets (bokeh_jax.data.catalog).
EBB = "ebb"
SYNTHETIC = "synthetic_bokeh"
# EBB!'s validation split, the 294 images the paper reports on (ids 4400-4693).
VAL294 = "val294"
