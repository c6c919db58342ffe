"""What the metrics share: the check of an image-batch pair and the per-image spatial mean."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def check_pair(name: str, x: jax.Array, y: jax.Array, min_side: int,
               channels: int | None = None) -> None:
    """Two (N,H,W,C) batches of one shape, at least ``min_side`` pixels a side, else ValueError.

    Shapes are static under jit, so this runs at trace time and costs nothing per call.
    """
    if x.ndim != 4 or x.shape != y.shape or (channels is not None and x.shape[-1] != channels):
        c = "C" if channels is None else channels
        raise ValueError(f"{name} expects two (N,H,W,{c}) batches of the same shape, got "
                         f"{x.shape} and {y.shape}")
    if min(x.shape[1:3]) < min_side:
        raise ValueError(f"{name} needs images at least {min_side} pixels on each side, got "
                         f"{x.shape[1]}x{x.shape[2]}; use larger images")


def mean_hw(x: jax.Array) -> jax.Array:
    """(N,H,W,...) -> (N,...): mean over W then H; short float32 sums stay accurate."""
    return jnp.mean(jnp.mean(x, axis=2), axis=1)
