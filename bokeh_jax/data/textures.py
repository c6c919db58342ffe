"""Textures for the synthetic bokeh scenes: crops of real photos and procedural patterns.

Real photos give the scenes natural image statistics (edges, fine detail, colour);
procedural patterns add what the photos lack (regular stripes, smooth gradients,
small point lights that turn into bokeh balls once blurred). The photos are the
ones scikit-image ships inside its wheel (no download needed). Every function takes
a ``numpy.random.Generator`` so a scene is fully determined by its seed.

All textures are float32 RGB in [0, 1], shape (h, w, 3).
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image

# skimage.data images bundled with the wheel (the others need a network download).
_COLOR_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry",
                 "hubble_deep_field", "retina", "stereo_motorcycle")
_GRAY_PHOTOS = ("camera", "moon", "brick", "grass", "gravel", "coins", "clock", "page")


@functools.cache
def _photos() -> tuple[tuple[Image.Image, ...], tuple[Image.Image, ...]]:
    """The sample photos as PIL images (colour ones RGB, grey ones L), loaded once per process."""
    import skimage.data

    def load(name: str) -> np.ndarray:
        img = getattr(skimage.data, name)()
        return img[0] if isinstance(img, tuple) else img  # stereo_motorcycle: (left, right, disp)

    color = tuple(Image.fromarray(load(n)).convert("RGB") for n in _COLOR_PHOTOS)
    gray = tuple(Image.fromarray(load(n)).convert("L") for n in _GRAY_PHOTOS)
    return color, gray


def _random_crop(rng: np.random.Generator, img: Image.Image, h: int, w: int) -> np.ndarray:
    """A random crop of ``img`` with the aspect of (h, w), scaled to (h, w), as uint8."""
    iw, ih = img.size
    # The crop covers 35-100% of what fits, so detail appears at several scales.
    fit = min(iw / w, ih / h)
    scale = fit * rng.uniform(0.35, 1.0)
    cw, ch = w * scale, h * scale
    x0 = rng.uniform(0, iw - cw)
    y0 = rng.uniform(0, ih - ch)
    out = img.resize((w, h), Image.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch))
    arr = np.asarray(out)
    if rng.random() < 0.5:
        arr = arr[:, ::-1]
    return arr


def _random_color(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.0, 1.0, size=3).astype(np.float32)


def _jitter(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Random contrast, brightness and per-channel gain, so a photo reused looks different."""
    contrast = rng.uniform(0.7, 1.2)
    bright = rng.uniform(-0.1, 0.1)
    gains = rng.uniform(0.8, 1.2, size=3).astype(np.float32)
    out = ((img - 0.5) * contrast + 0.5 + bright) * gains
    return np.clip(out, 0.0, 1.0, out=out)


def photo_texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A jittered crop of one of the sample photos; grey photos get a random two-tone colouring."""
    color, gray = _photos()
    if rng.random() < 0.65:
        img = _random_crop(rng, color[rng.integers(len(color))], h, w)
        out = img.astype(np.float32) / 255.0
    else:
        g = _random_crop(rng, gray[rng.integers(len(gray))], h, w).astype(np.float32) / 255.0
        lo, hi = _random_color(rng) * 0.5, 0.5 + _random_color(rng) * 0.5
        out = lo + g[..., None] * (hi - lo)
    return _jitter(rng, out)


def smooth_noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Coloured fractal noise: a few octaves of random values, upsampled bicubically."""
    # Built at a quarter of the size (it is smooth anyway), then upsampled once as 8-bit RGB.
    lh, lw = max(h // 4, 4), max(w // 4, 4)
    low = np.zeros((lh, lw, 3), np.float32)
    base = int(rng.integers(2, 5))
    for octave in range(3):
        gh, gw = base * 2**octave, max(2, round(base * 2**octave * w / h))
        for c in range(3):
            small = Image.fromarray(rng.standard_normal((gh, gw)).astype(np.float32))
            low[..., c] += np.asarray(small.resize((lw, lh), Image.BICUBIC)) * 0.5**octave
    low -= low.min(axis=(0, 1))
    low /= np.maximum(low.max(axis=(0, 1)), 1e-6)
    img = Image.fromarray((low * 255 + 0.5).astype(np.uint8)).resize((w, h), Image.BICUBIC)
    out = np.asarray(img).astype(np.float32) / 255.0
    # Map to a random colour range so the noise is not always full-spectrum.
    lo, hi = _random_color(rng) * 0.6, 0.4 + _random_color(rng) * 0.6
    return lo + out * (hi - lo)


def stripes(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Soft stripes or a checkerboard at a random angle and period, in two random colours."""
    theta = rng.uniform(0, np.pi)
    k = 2 * np.pi / rng.uniform(6, 40)
    y = np.arange(h, dtype=np.float32)[:, None]
    x = np.arange(w, dtype=np.float32)[None, :]
    c, s = np.float32(np.cos(theta) * k), np.float32(np.sin(theta) * k)
    wave = np.sin(x * c + y * s)
    if rng.random() < 0.4:
        wave *= np.sin(y * c - x * s)
    # Sharpen the sine toward a square wave by a random amount.
    t = np.tanh(wave * np.float32(rng.uniform(1, 6))) * 0.5 + 0.5
    a, b = _random_color(rng), _random_color(rng)
    return a + t[..., None] * (b - a)


def add_point_lights(rng: np.random.Generator, img: np.ndarray, count: int) -> np.ndarray:
    """Adds ``count`` small bright dots (street lights, reflections) that become bokeh balls."""
    h, w, _ = img.shape
    out = img.copy()
    for _ in range(count):
        r = rng.uniform(0.8, 2.5)
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        y0, y1 = int(max(cy - r - 1, 0)), int(min(cy + r + 2, h))
        x0, x1 = int(max(cx - r - 1, 0)), int(min(cx + r + 2, w))
        if y0 >= y1 or x0 >= x1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1]
        cover = np.clip(r + 0.5 - np.hypot(yy + 0.5 - cy, xx + 0.5 - cx), 0, 1)[..., None]
        color = 0.85 + 0.15 * rng.uniform(0, 1, size=3)  # near-white, slightly tinted
        out[y0:y1, x0:x1] = out[y0:y1, x0:x1] * (1 - cover) + color * cover
    return out


def random_texture(rng: np.random.Generator, h: int, w: int, *, lights: bool = False) -> np.ndarray:
    """A texture of shape (h, w, 3): a photo crop most of the time, else a procedural pattern.

    With ``lights`` the texture may also get point lights (used for backgrounds).
    """
    kind = rng.random()
    if kind < 0.6:
        out = photo_texture(rng, h, w)
    elif kind < 0.8:
        out = smooth_noise(rng, h, w)
    else:
        out = stripes(rng, h, w)
    if lights and rng.random() < 0.5:
        out = add_point_lights(rng, out, int(rng.integers(5, 40) * h * w / (256 * 384)) + 1)
    return out.astype(np.float32, copy=False)
