"""Pictures for people: colour-mapped depth and weight maps, labelled contact sheets.

Used by the demo, ``eval.py``'s visual grids and the renderer's ``--save-depth`` /
``--save-weights``. Pillow only (no matplotlib).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image, ImageDraw, ImageFont

# A perceptually ordered dark-to-bright ramp (anchors sampled from "magma"-like colours):
# near (bright) reads as warm, far (dark) as cold.
_RAMP = np.array([
    [0, 0, 4], [28, 16, 68], [79, 18, 123], [129, 37, 129], [181, 54, 122],
    [229, 80, 100], [251, 135, 97], [254, 194, 135], [252, 253, 191]], np.float32)

# Distinct colours for weight channels: sharp, then blur levels from mild to strong.
_NAMED_WEIGHT_COLOURS = (
    ("white", (255, 255, 255)), ("blue", (80, 170, 255)), ("green", (60, 200, 120)),
    ("orange", (255, 160, 40)), ("red", (230, 60, 60)), ("purple", (170, 90, 220)))
WEIGHT_COLOURS = np.array([rgb for _, rgb in _NAMED_WEIGHT_COLOURS], np.float32)


def weight_colour_name(channel: int) -> str:
    """The name of the colour :func:`weights_to_rgb` gives weight channel ``channel``."""
    return _NAMED_WEIGHT_COLOURS[channel % len(_NAMED_WEIGHT_COLOURS)][0]


def _xp(x):
    # numpy for host arrays, jax.numpy for jax arrays and tracers (inside jit).
    return jnp if isinstance(x, jax.Array) else np


def to_uint8(image):
    """Float image in [0,1] -> uint8 (clipped, rounded half to even); numpy or jax arrays."""
    xp = _xp(image)
    return xp.round(xp.clip(xp.asarray(image, xp.float32), 0.0, 1.0) * 255.0).astype(xp.uint8)


def colorize(values: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """(H,W) or (H,W,1) values -> (H,W,3) uint8 through the ramp; non-finite -> grey."""
    v = np.asarray(values, np.float32).reshape(np.shape(values)[:2])
    finite = np.isfinite(v)
    if lo is None or hi is None:
        vals = v[finite]
        lo = float(vals.min()) if lo is None and vals.size else (lo or 0.0)
        hi = float(vals.max()) if hi is None and vals.size else (hi or 1.0)
    t = np.clip((np.where(finite, v, lo) - lo) / max(hi - lo, 1e-12), 0.0, 1.0)
    pos = t * (len(_RAMP) - 1)
    i = np.minimum(pos.astype(np.int32), len(_RAMP) - 2)
    frac = (pos - i)[..., None]
    rgb = _RAMP[i] * (1 - frac) + _RAMP[i + 1] * frac
    rgb[~finite] = 128
    return rgb.astype(np.uint8)


def weights_to_rgb(weights):
    """(H,W,K+1) blend weights -> (H,W,3) uint8: each channel's colour, mixed by weight.

    White is the sharp image (W0); blue, green, orange, red... the blur levels in order.
    numpy or jax arrays.
    """
    xp = _xp(weights)
    w = xp.asarray(weights, xp.float32)
    colours = WEIGHT_COLOURS[np.arange(w.shape[-1]) % len(WEIGHT_COLOURS)]
    return xp.clip(w @ xp.asarray(colours), 0, 255).astype(xp.uint8)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has no sized default font
        return ImageFont.load_default()


def contact_sheet(rows: Sequence[Sequence[tuple[str, np.ndarray]]], tile_height: int = 256,
                  captions: Sequence[str] | None = None, gap: int = 6) -> Image.Image:
    """Lays out rows of (label, uint8 (H,W,3) image) tiles, each scaled to ``tile_height``.

    Every tile gets its label above it; ``captions`` (one per row) go under the row.
    """
    label_h = max(14, tile_height // 14)
    font = _font(label_h - 2)
    scaled_rows = []
    for row in rows:
        tiles = []
        for label, img in row:
            img = np.asarray(img)
            if img.ndim == 2:
                img = np.repeat(img[..., None], 3, axis=-1)
            w = max(1, round(img.shape[1] * tile_height / img.shape[0]))
            tiles.append((label, Image.fromarray(img[..., :3]).resize((w, tile_height),
                                                                     Image.BILINEAR)))
        scaled_rows.append(tiles)
    caption_h = label_h + 4 if captions else 0
    row_h = label_h + tile_height + caption_h + gap
    width = max(sum(t.width + gap for _, t in row) + gap for row in scaled_rows)
    sheet = Image.new("RGB", (width, row_h * len(scaled_rows) + gap), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for r, row in enumerate(scaled_rows):
        x, y = gap, gap + r * row_h
        for label, tile in row:
            draw.text((x, y), label, fill=(235, 235, 235), font=font)
            sheet.paste(tile, (x, y + label_h))
            x += tile.width + gap
        if captions:
            draw.text((gap, y + label_h + tile_height + 2), captions[r], fill=(200, 200, 200),
                      font=font)
    return sheet
