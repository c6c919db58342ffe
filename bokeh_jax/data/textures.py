"""Textures for the synthetic bokeh scenes: crops of real photos and procedural patterns.

Real photos give the scenes natural image statistics (edges, fine detail, colour);
procedural patterns add what the photos lack (regular stripes, smooth gradients,
small point lights that turn into bokeh balls once blurred). The photos are the
ones scikit-image ships inside its wheel (no download needed). Every function takes
a ``numpy.random.Generator`` so a scene is fully determined by its seed.

Backgrounds (:func:`background_texture`) are calibrated to EBB! (``docs/synthetic_data.md``):
its photos are mostly fine detail (foliage, branches, facades, gravel) at the camera's own
scale, so backgrounds are photo crops at native scale (one photo pixel per image pixel,
give or take 30%) and procedural foliage, both with the fine-detail energy of EBB!'s
originals, rather than photos shrunk to fit.

All textures are float32 RGB in [0, 1], shape (h, w, 3).
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image
from scipy import ndimage

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


def native_crop(rng: np.random.Generator, img: Image.Image, h: int, w: int) -> np.ndarray:
    """A crop of ``img`` at about its own scale (0.7-1.4 photo pixels per pixel), as uint8.

    Larger than the photo, the crop is taken from the photo tiled with mirror images.
    """
    scale = np.exp(rng.uniform(np.log(0.7), np.log(1.4)))
    iw, ih = img.size
    cw, ch = w * scale, h * scale
    reps_x, reps_y = int(np.ceil(cw / iw)) + 1, int(np.ceil(ch / ih)) + 1
    if reps_x > 1 or reps_y > 1:
        arr = np.asarray(img)
        pad = ((0, (reps_y - 1) * ih), (0, (reps_x - 1) * iw)) + ((0, 0),) * (arr.ndim - 2)
        img = Image.fromarray(np.pad(arr, pad, mode="symmetric"))
        iw, ih = img.size
    x0, y0 = rng.uniform(0, iw - cw), rng.uniform(0, ih - ch)
    arr = np.asarray(img.resize((w, h), Image.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch)))
    return arr[:, ::-1] if rng.random() < 0.5 else arr


def _random_color(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.0, 1.0, size=3).astype(np.float32)


def _jitter(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Random contrast, brightness and per-channel gain, so a photo reused looks different."""
    contrast = rng.uniform(0.7, 1.2)
    bright = rng.uniform(-0.1, 0.1)
    gains = rng.uniform(0.8, 1.2, size=3).astype(np.float32)
    out = ((img - 0.5) * contrast + 0.5 + bright) * gains
    return np.clip(out, 0.0, 1.0, out=out)


def photo_texture(rng: np.random.Generator, h: int, w: int, *, native: bool = False) -> np.ndarray:
    """A jittered crop of one of the sample photos; grey photos get a random two-tone colouring.

    ``native``: at the photo's own scale (:func:`native_crop`), else shrunk to fit.
    """
    color, gray = _photos()
    crop = native_crop if native else _random_crop
    if rng.random() < 0.65:
        img = crop(rng, color[rng.integers(len(color))], h, w)
        out = img.astype(np.float32) / 255.0
    else:
        g = crop(rng, gray[rng.integers(len(gray))], h, w).astype(np.float32) / 255.0
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


# Leaf colours (sRGB): greens from dark to sunlit, with autumn yellows and browns.
_LEAF_COLORS = np.array([[0.10, 0.18, 0.06], [0.20, 0.32, 0.10], [0.33, 0.45, 0.16],
                         [0.45, 0.55, 0.22], [0.62, 0.60, 0.25], [0.55, 0.38, 0.15],
                         [0.30, 0.22, 0.12]], np.float32)


def foliage(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Procedural foliage: overlapping small leaves over dark gaps, sometimes with branches.

    Leaves are ellipses about 3-20 px long at random angles, each with its own shade of a
    scene palette and a lit edge, painted back to front with the farther ones darker;
    what shows between them is a dark shadow or, in a third of the scenes, sky.
    Leaf size, contrast and a slight optical softening give it about EBB!'s fine-detail
    energy (``docs/synthetic_data.md``).
    """
    palette = _LEAF_COLORS[rng.choice(len(_LEAF_COLORS), size=3, replace=False)]
    palette = palette * rng.uniform(0.7, 1.3, size=(3, 1)).astype(np.float32)
    sky = rng.random() < 0.33
    base = (np.float32(rng.uniform(0.6, 0.95)) * np.array([0.85, 0.9, 1.0], np.float32) if sky
            else palette[0] * np.float32(rng.uniform(0.4, 0.8)))
    out = np.empty((h, w, 3), np.float32)
    out[:] = base
    size = rng.uniform(4.0, 16.0)  # leaf length in pixels: the detail scale of this texture
    count = int(h * w / (size * size * 0.35) * rng.uniform(0.6, 1.2))
    lengths = size * rng.uniform(0.6, 1.4, count)
    widths = lengths * rng.uniform(0.3, 0.6, count)
    angles = rng.uniform(0, np.pi, count)
    cy, cx = rng.uniform(-2, h + 2, count), rng.uniform(-2, w + 2, count)
    depth_shade = np.sort(rng.uniform(0.6, 1.0, count))  # painted far (dark) to near
    tone = palette[rng.integers(3, size=count)] * rng.uniform(0.8, 1.2, (count, 1))
    for i in range(count):
        r = lengths[i] / 2 + 1
        y0, y1 = max(int(cy[i] - r), 0), min(int(cy[i] + r) + 1, h)
        x0, x1 = max(int(cx[i] - r), 0), min(int(cx[i] + r) + 1, w)
        if y0 >= y1 or x0 >= x1:
            continue
        yy = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5 - cy[i]
        xx = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5 - cx[i]
        c, s = np.cos(angles[i]), np.sin(angles[i])
        u, v = (xx * c + yy * s) / (lengths[i] / 2), (yy * c - xx * s) / (widths[i] / 2)
        rho = np.sqrt(u * u + v * v)
        cover = np.clip((1.0 - rho) * widths[i] / 2 + 0.5, 0.0, 1.0)[..., None]
        # Lit on one side, shaded on the other: the leaf's own fine structure.
        shade = depth_shade[i] * (0.9 + 0.2 * np.clip(v, -1, 1))[..., None]
        patch = out[y0:y1, x0:x1]
        patch += cover * (np.clip(tone[i] * shade, 0, 1) - patch)
    if rng.random() < 0.4:
        _branches(rng, out, int(rng.integers(2, 8)))
    # Haze and a camera's optics lower the contrast and soften the finest detail: without
    # this the leaves' gradient energy is several times EBB!'s.
    mean = out.mean(axis=(0, 1))
    out = mean + np.float32(rng.uniform(0.4, 0.7)) * (out - mean)
    return ndimage.gaussian_filter(out, (rng.uniform(0.5, 1.0),) * 2 + (0,), mode="mirror")


def _branches(rng: np.random.Generator, img: np.ndarray, count: int) -> None:
    """Draws ``count`` thin dark branches (random walks 1-3 px wide) into ``img`` in place."""
    h, w, _ = img.shape
    color = np.array([0.12, 0.09, 0.07], np.float32) * rng.uniform(0.6, 1.6)
    for _ in range(count):
        y, x = rng.uniform(0, h), rng.uniform(0, w)
        theta, width = rng.uniform(0, 2 * np.pi), rng.uniform(0.8, 2.5)
        for _ in range(int(rng.uniform(0.3, 1.0) * (h + w))):
            theta += rng.normal(0, 0.15)
            y, x = y + np.sin(theta), x + np.cos(theta)
            if not (0 <= y < h and 0 <= x < w):
                break
            y0, x0 = max(int(y - width), 0), max(int(x - width), 0)
            y1, x1 = min(int(y + width) + 2, h), min(int(x + width) + 2, w)
            yy = np.arange(y0, y1)[:, None] + 0.5 - y
            xx = np.arange(x0, x1)[None, :] + 0.5 - x
            cover = np.clip(width / 2 + 0.5 - np.hypot(yy, xx), 0, 1)[..., None]
            patch = img[y0:y1, x0:x1]
            patch += cover * (color - patch)


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


def background_texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A background of EBB!'s kind: native-scale photo crops and foliage, maybe point lights."""
    kind = rng.random()
    if kind < 0.45:
        out = foliage(rng, h, w)
    elif kind < 0.85:
        out = photo_texture(rng, h, w, native=True)
    elif kind < 0.93:
        out = stripes(rng, h, w)
    else:
        out = smooth_noise(rng, h, w)
    if rng.random() < 0.4:
        out = add_point_lights(rng, out, int(rng.integers(5, 40) * h * w / (256 * 384)) + 1)
    return out.astype(np.float32, copy=False)


def random_texture(rng: np.random.Generator, h: int, w: int, *, lights: bool = False) -> np.ndarray:
    """A texture of shape (h, w, 3): a photo crop most of the time, else a procedural pattern.

    Photo crops are at native scale, as the backgrounds' are: a photo shrunk to fit an
    object would give objects finer detail than anything behind them, a cue a model learns
    ("fine texture = in focus") that misleads it on real photos, where backgrounds are the
    finely detailed part. With ``lights`` the texture may also get point lights.
    """
    kind = rng.random()
    if kind < 0.6:
        out = photo_texture(rng, h, w, native=True)
    elif kind < 0.8:
        out = smooth_noise(rng, h, w)
    else:
        out = stripes(rng, h, w)
    if lights and rng.random() < 0.5:
        out = add_point_lights(rng, out, int(rng.integers(5, 40) * h * w / (256 * 384)) + 1)
    return out.astype(np.float32, copy=False)
