"""Synthetic bokeh pairs rendered with a thin-lens model (the ``synthetic_bokeh`` dataset).

Each example is a random scene of fronto-parallel layers at known depths, rendered twice:
all in focus (``original``, like EBB!'s narrow-aperture photo) and through a wide-aperture
thin lens focused on the nearest object (``bokeh``).

Calibration to EBB! (version 2.0.0)
-----------------------------------
The scenes are calibrated to what ``experiments/ebb_statistics.py`` measures on real EBB!
pairs (``docs/synthetic_data.md`` has the tables), so that the baselines rank the same way
on both (identity < blur 75 < blur 25 < blur 45, each within about 1 dB of EBB!'s):

==========================================  =======================  ===================
measured                                    EBB! (6 pairs, 1536 px)  here (96 at 96x144)
==========================================  =======================  ===================
background blur, Gaussian sigma (quartiles) 8.5 / 11 / 13.5 px       8 / 11 / 22 px
blur from scene to scene: sd of log(median) 0.58                     0.54
exposure gain bokeh / original (median)     1.09                     1.05
fine detail: gradient-energy share < 1.5 px 0.69                     0.72
RMS removed by a sigma-8 blur               0.068                    0.077
PSNR identity / blur 25 / 45 / 75           20.7/22.6/22.8/22.4      21.0/23.4/23.6/23.0
==========================================  =======================  ===================

* Blur radii are drawn in pixels, not in fractions of the frame: the wall's circle of
  confusion has median 26 px (log-normal, log-sd 0.5, ``BG_RADIUS_*``; a disk of radius
  R fits a Gaussian of sigma about R/2). The blend's kernels (25/45/75) are pixels too, so pairs
  of any size ask for the kernels a full-size EBB! photo does, and a model trained on them
  renders real photos with the ``fullres`` policy (blend at full size).
* Backgrounds and grounds are EBB!'s kind of content at the camera's own scale: photo
  crops at native scale and procedural foliage (``textures.background_texture``); objects'
  photo crops are native-scale too (no "fine detail = in focus" cue); far
  ground rows are prefiltered (no aliased false detail). Both photos share a slight
  optical softening (sigma 0.3-0.7 px).
* The bokeh photo is a separate exposure: a per-scene gain (median 1, log-sd 0.07, per
  channel 0.02) on top of the brightening linear-light blurring gives by itself.

Scene
-----
* A far background (a wall at depth ``z_bg``, 2-60 ``z_f`` away, log-uniform), in 60% of
  scenes a ground plane whose depth grows towards the horizon (perspective-mapped
  texture; the wall is then 2.5-6 ``z_f`` away), and 1-4 objects of varied shapes
  (ellipses, rounded boxes, wobbly blobs, stars, head-and-body figures) in front. The
  subject is 1-3 m away and 20-60% of the image height.
* The in-focus subject is the nearest object, at depth ``z_f``. As in EBB! photos, the
  camera focuses on the foreground, so where focus lies can be told from the image alone:
  the subject is also the largest object and occludes the others. Other objects lie at
  ``1.25 z_f`` or farther and look smaller with distance (pixel size ~ 1/z); with a
  ground plane each one stands on it at the row of its depth.
* Textures are crops of scikit-image's sample photos mixed with procedural patterns
  (see ``textures.py``); backgrounds (native-scale photo crops, foliage) may carry small
  point lights.

Lens model
----------
* Thin lens focused at ``z_f``. A point at depth ``z`` images to a disk (circle of
  confusion) of diameter ``A f |z - z_f| / (z (z_f - f))`` for aperture ``A`` and focal
  length ``f``, i.e. proportional to ``|1/z - 1/z_f|``. In pixels::

      r(z) = r_inf * z_f * |1/z - 1/z_f| = r_inf * |z_f / z - 1|

  where ``r_inf`` (the blur radius of a point at infinity) follows from the wall's
  radius ``r_bg = r_inf (1 - z_f / z_bg)``, drawn per scene in pixels (above). Points
  nearer than ``z_f`` (the ground at the bottom of the frame) are blurred too
  (foreground blur).
* Each layer is blurred with a normalised, anti-aliased disk of radius ``r(z)``:
  premultiplied colour and coverage (alpha) alike. A ground plane is cut into depth
  bands (radius steps of about 25%), each blurred with its own disk; a farther band
  extends under the next nearer one so the seams do not let the background through.
* Layers are composited back to front with the "over" operator using their blurred
  alpha. Farther layers are complete behind nearer ones (hidden parts included), so
  the blurred background next to a sharp subject holds background only, with no halo
  of the subject's colour, and a blurred near layer turns semi-transparent at its
  edges, showing what lies behind it, as with a real lens (partial occlusion).
* Blurring and compositing happen in a linearised space ``v**gamma`` (gamma in
  [1.5, 3]) with a highlight boost for values above 0.8 (up to 4x at white), then are
  mapped back; bright spots therefore dominate their disk and become bokeh balls. The
  mapping is inverted exactly, so in-focus pixels keep their value.
* ``original`` is the same composite with ``r = 0`` everywhere; both photos get the
  optical softening, the bokeh one its exposure gain, the original slight Gaussian
  sensor noise (sigma 0.1-0.5% of full scale). ``depth`` is the depth in metres of the
  front-most surface at each pixel (coverage >= 0.5) and ``focus_depth`` is ``z_f``.

Everything is determined by ``(seed, split, index)`` so examples can be generated in
any order or in parallel and a larger build is a superset of a smaller one.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.fft
from scipy import ndimage

from bokeh_jax.data import textures

SPLIT_CODES = {"train": 0, "validation": 1}


@dataclasses.dataclass
class Layer:
    """A piece of the scene on the render canvas (coordinates include the margin)."""

    top: int
    left: int
    color: np.ndarray  # (3, h, w) float32 texture in [0, 1]
    alpha: np.ndarray  # (h, w) float32 coverage in [0, 1]
    depth: float | np.ndarray  # metres: a scalar, or (h, 1) per row (ground bands)
    sort_depth: float  # farthest depth of the layer: layers are drawn far to near
    radius: float  # circle-of-confusion radius in pixels


@dataclasses.dataclass
class Scene:
    """A sampled scene: layers plus the lens and sensor settings."""

    height: int
    width: int
    margin: int
    layers: list[Layer]
    focus_depth: float
    r_inf: float
    gamma: float
    boost: float
    noise_sigma: float
    # (3,) exposure and white-balance gain of the bokeh photo over the original (EBB!'s two
    # photos are separate exposures).
    gain: np.ndarray = dataclasses.field(default_factory=lambda: np.ones(3, np.float32))
    softness: float = 0.0  # sigma (pixels) of the optics' blur both photos share


def coc_radius(depth, focus_depth: float, r_inf: float):
    """Circle-of-confusion radius in pixels: ``r_inf * |z_f / z - 1|`` (thin lens)."""
    return r_inf * np.abs(focus_depth / np.asarray(depth, np.float64) - 1.0)


def disk_kernel(radius: float) -> np.ndarray:
    """A normalised disk of the given radius (pixels) with an anti-aliased rim, (2R+1, 2R+1)."""
    r_int = int(np.ceil(radius + 0.5))
    y, x = np.mgrid[-r_int:r_int + 1, -r_int:r_int + 1]
    k = np.clip(radius + 0.5 - np.hypot(x, y), 0.0, 1.0).astype(np.float32)
    return k / k.sum()


def _blur(planes: np.ndarray, radius: float) -> np.ndarray:
    """Disk blur of (C, h, w) planes, zero outside; output is (C, h + 2R, w + 2R)."""
    k = disk_kernel(radius)
    kh = k.shape[0]
    _, h, w = planes.shape
    full = (h + kh - 1, w + kh - 1)
    shape = (scipy.fft.next_fast_len(full[0], real=True),
             scipy.fft.next_fast_len(full[1], real=True))
    spec = scipy.fft.rfft2(planes, s=shape) * scipy.fft.rfft2(k, s=shape)
    return scipy.fft.irfft2(spec, s=shape)[:, :full[0], :full[1]]


# ---------------------------------------------------------------------------- shapes


def _shape_alpha(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Coverage (h, w) of a random shape filling its box, with a one-pixel soft rim."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    a, b = w / 2.0, h / 2.0
    px, py = x + 0.5 - a, y + 0.5 - b
    kind = rng.integers(5)
    if kind == 0:  # ellipse
        sd = (np.hypot(px / a, py / b) - 1.0) * min(a, b)
    elif kind == 1:  # rounded box
        rc = rng.uniform(0.05, 0.5) * min(a, b)
        qx, qy = np.abs(px) - (a - rc), np.abs(py) - (b - rc)
        sd = (np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
              + np.minimum(np.maximum(qx, qy), 0) - rc)
    elif kind in (2, 3):  # wobbly blob, or a star when the 5th harmonic dominates
        rho = np.hypot(px / a, py / b)
        theta = np.arctan2(py / b, px / a)
        edge = np.ones_like(theta)
        amp = 0.25 if kind == 3 else 0.08
        for k in range(2, 6):
            edge += (rng.uniform(0, amp) if (kind == 2 or k == 5) else 0.0) * np.cos(
                k * theta + rng.uniform(0, 2 * np.pi))
        edge /= edge.max()
        sd = (rho - edge) * min(a, b)
    else:  # figure: a head on a rounded body
        hr = rng.uniform(0.12, 0.2) * h
        head = np.hypot(px, py - (hr - b)) - hr
        bw = rng.uniform(0.5, 1.0) * a
        qx, qy = np.abs(px) - (bw - 0.3 * bw), np.abs(py - hr) - (b - hr - 0.3 * bw)
        body = (np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
                + np.minimum(np.maximum(qx, qy), 0) - 0.3 * bw)
        sd = np.minimum(head, body)
    return np.clip(0.5 - sd, 0.0, 1.0).astype(np.float32)


def _clip_layer(layer: Layer, hc: int, wc: int) -> Layer | None:
    """Crops a layer to the canvas; None when nothing of it is on the canvas."""
    h, w = layer.alpha.shape
    y0, x0 = max(layer.top, 0), max(layer.left, 0)
    y1, x1 = min(layer.top + h, hc), min(layer.left + w, wc)
    if y0 >= y1 or x0 >= x1:
        return None
    sy, sx = slice(y0 - layer.top, y1 - layer.top), slice(x0 - layer.left, x1 - layer.left)
    depth = layer.depth if np.ndim(layer.depth) == 0 else layer.depth[sy]
    return dataclasses.replace(layer, top=y0, left=x0, color=layer.color[:, sy, sx],
                               alpha=layer.alpha[sy, sx], depth=depth)


# ---------------------------------------------------------------------------- scenes


def _fold(i: np.ndarray, n: int) -> np.ndarray:
    """Indices into a texture of size n tiled with mirror images (..., n-1, n-1, ..., 0, 0, ...)."""
    i = np.mod(i, 2 * n)
    return np.where(i >= n, 2 * n - 1 - i, i)


def _sample_floor(tex: np.ndarray, v: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Bilinear samples of a mirror-tiled (h, w, 3) texture: row coordinate ``v`` (rows,),
    column coordinates ``u`` (rows, cols). On a floor seen by a level camera the texture
    row depends only on the image row, so the two interpolations separate."""
    h, w, _ = tex.shape
    v = v - 0.5
    v0 = np.floor(v)
    fv = (v - v0).astype(np.float32)[:, None, None]
    v0 = v0.astype(np.int64)
    rows = tex[_fold(v0, h)] * (1 - fv) + tex[_fold(v0 + 1, h)] * fv  # (rows, w, 3)
    u = u - 0.5
    u0 = np.floor(u)
    fu = (u - u0).astype(np.float32)[..., None]
    u0 = u0.astype(np.int64)
    left = np.take_along_axis(rows, _fold(u0, w)[..., None], axis=1)
    right = np.take_along_axis(rows, _fold(u0 + 1, w)[..., None], axis=1)
    return left * (1 - fu) + right * fu


def _ground_layers(rng, hc, wc, y_h, y_w, y_sub, z_f, r_inf, r_max) -> list[Layer]:
    """The ground plane from row ``y_w`` (where it meets the wall) down, as depth bands.

    Depth at row y: z(y) = K / (y - y_h) with K = z_f (y_sub - y_h), so the blur radius
    r_inf * |z_f / z - 1| = r_inf * |y - y_sub| / (y_sub - y_h) is linear in the row.
    Radii are capped at ``r_max`` (the canvas margin), which only the rows of the margin
    below the frame can reach.
    """
    k_depth = z_f * (y_sub - y_h)
    tex_h, tex_w = hc - y_w, wc
    z_min, z_max = k_depth / (hc - y_h), k_depth / (y_w - y_h)
    # Perspective texture mapping. A floor point at depth Z seen in column x lies
    # X = (x - cx) Z / F metres to the side; it takes the texel (s X, s (Z - z_min)) of a
    # mirror-tiled texture. s is set so that the far end of the floor shows 0.8-1.5 texels
    # per pixel (nearer rows are magnified, as they are in a photo).
    focal = wc * rng.uniform(1.2, 2.4)
    s = rng.uniform(0.8, 1.5) * focal / z_max
    base = textures.background_texture(rng, max(tex_h, 8), tex_w)
    z = k_depth / (np.arange(y_w, hc) + 0.5 - y_h)[:, None]
    u = s * (np.arange(wc) + 0.5 - wc / 2.0)[None, :] * z / focal + rng.uniform(0, tex_w)
    # Where a pixel spans more than a texel (far rows), sample a prefiltered texture
    # (a Gaussian of the footprint, as a mip-map would): point samples of a minified
    # texture alias into false fine detail, several times EBB!'s gradient energy.
    footprint = np.maximum(s * z[:, 0] / focal, s * z[:, 0] ** 2 / k_depth)  # texels/pixel
    level = np.clip(np.round(2 * np.log2(np.maximum(footprint, 1.0))), 0, 8).astype(int)
    color = np.empty((len(z), wc, 3), np.float32)
    for lv in np.unique(level):
        rows = level == lv
        sigma = 0.5 * np.sqrt(max(2.0 ** lv - 1.0, 0.0))  # footprint 2**(lv/2) texels
        tex = base if lv == 0 else ndimage.gaussian_filter(base, (sigma, sigma, 0), mode="wrap")
        color[rows] = _sample_floor(tex, s * (z[rows, 0] - z_min), u[rows])
    color = color.transpose(2, 0, 1)

    rows = np.arange(y_w, hc, dtype=np.float64) + 0.5
    row_depth = (k_depth / (rows - y_h))[:, None]
    radius = np.minimum(coc_radius(row_depth[:, 0], z_f, r_inf), r_max)
    # Band boundaries on a geometric radius grid (steps of ~25%), so the band
    # approximation error stays below what the eye (or a metric) notices.
    grid = (1.25 ** np.arange(40) - 1.0) * 2.5
    band_id = np.searchsorted(grid, radius) + np.where(rows < y_sub, 0, 1000)
    layers = []
    starts = np.flatnonzero(np.r_[True, band_id[1:] != band_id[:-1]])
    ends = np.r_[starts[1:], len(rows)]
    for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
        r_band = float(radius[(a + b) // 2])
        r_next = float(radius[(starts[i + 1] + ends[i + 1]) // 2]) if i + 1 < len(starts) else 0.
        # Extend under the next nearer band by both blur radii, so that band's soft top
        # edge shows ground, not the wall behind.
        b_ext = min(len(rows), b + int(np.ceil(r_band + r_next)) + 2)
        layers.append(Layer(top=y_w + int(a), left=0, color=color[:, a:b_ext],
                            alpha=np.ones((b_ext - a, wc), np.float32),
                            depth=row_depth[a:b_ext], sort_depth=float(row_depth[a, 0]),
                            radius=r_band))
    return layers


# Calibration to EBB! (docs/synthetic_data.md, measured by experiments/ebb_statistics.py).
# Blur: EBB!'s background tiles fit Gaussians of sigma 8.5 / 11 / 13.5 px (quartiles; 6-32
# per photo) at 1536x1024; a disk of radius R spreads like sigma R/2. Radii are drawn in
# pixels, not in fractions of the frame: the blend's kernels (25/45/75) are pixels too, so
# at any image size the pairs ask for the same kernels EBB! does at full size.
BG_RADIUS_MEDIAN = 26.0
# From scene to scene EBB!'s median background sigma varies with a log-sd of 0.58 (6, 8, 11,
# 11, 16, 32 px over the pairs): some backgrounds are near, some far.
BG_RADIUS_LOG_SD = 0.5
BG_RADIUS_RANGE = (6.0, 90.0)
# Exposure: EBB!'s bokeh photo is brighter by x1.09 (median of the mean ratio; 0.97-1.25 over
# the pairs, 5 of 6 brighter), nearly the same in every channel (spread about 0.02). Blurring
# in linear light brightens by about that much on its own (a blurred mix of dark and bright
# is brighter in sRGB than the mix of their sRGB values): with no extra gain our pairs
# measure x1.09 too, so the gain only adds the exposure-to-exposure scatter.
GAIN_MEDIAN = 1.0
GAIN_LOG_SD = 0.07
GAIN_CHANNEL_SD = 0.02
# Subject: EBB!'s sharp subjects span 25-69% of the frame's height (median 0.31); we draw
# 20-60%.
SUBJECT_HEIGHT = (0.2, 0.6)


def sample_scene(rng: np.random.Generator, height: int, width: int) -> Scene:
    """Draws a random scene (layers back to front) for an image of (height, width)."""
    z_f = rng.uniform(1.0, 3.0)
    has_ground = rng.random() < 0.6
    # With a ground the wall must be near enough for the floor texture to stay sharp.
    z_bg = z_f * (rng.uniform(2.5, 6.0) if has_ground
                  else np.exp(rng.uniform(np.log(2.0), np.log(60.0))))
    r_bg = float(np.clip(BG_RADIUS_MEDIAN * np.exp(rng.normal(0.0, BG_RADIUS_LOG_SD)),
                         *BG_RADIUS_RANGE))
    r_inf = r_bg / (1.0 - z_f / z_bg)  # the wall's radius r_inf (1 - z_f / z_bg) is r_bg
    # Foreground ground rows can blur more than infinity; 1.6 r_inf bounds every radius.
    margin = int(np.ceil(1.6 * r_inf)) + 2
    hc, wc = height + 2 * margin, width + 2 * margin

    bg_color = textures.background_texture(rng, hc, wc).transpose(2, 0, 1)
    layers = [Layer(0, 0, np.ascontiguousarray(bg_color), np.ones((hc, wc), np.float32),
                    z_bg, z_bg, float(coc_radius(z_bg, z_f, r_inf)))]

    # Subject: the nearest and largest object.
    sub_h = rng.uniform(*SUBJECT_HEIGHT) * height
    if has_ground:
        y_h = margin + rng.uniform(0.15, 0.5) * height
        y_sub = max(y_h + 0.25 * height, margin + rng.uniform(0.7, 1.02) * height)
        y_sub = min(y_sub, hc - 2.0)
        y_w = int(np.ceil(y_h + (y_sub - y_h) * z_f / z_bg))
        layers += _ground_layers(rng, hc, wc, y_h, y_w, y_sub, z_f, r_inf, margin - 2.0)
    else:
        y_sub = margin + rng.uniform(0.55, 1.1) * height

    def place(depth: float, px_h: float, base: float, cx: float) -> Layer:
        px_h = max(px_h, 6.0)
        px_w = max(px_h * rng.uniform(0.35, 1.3), 6.0)
        h, w = round(px_h), round(px_w)
        alpha = _shape_alpha(rng, h, w)
        color = textures.random_texture(rng, h, w).transpose(2, 0, 1)
        return Layer(round(base - h), round(cx - w / 2), color, alpha,
                     depth, depth, float(coc_radius(depth, z_f, r_inf)))

    objects = [place(z_f, sub_h, y_sub, margin + rng.uniform(0.2, 0.8) * width)]
    for _ in range(rng.integers(0, 4)):
        if z_bg < 1.4 * z_f:
            break
        z = z_f * np.exp(rng.uniform(np.log(1.25), np.log(min(z_bg / z_f * 0.9, 8.0))))
        # Pixel height ~ physical height / depth, kept below the subject's.
        px_h = min(sub_h * rng.uniform(0.5, 1.5) * z_f / z, 0.9 * sub_h)
        base = (y_h + (y_sub - y_h) * z_f / z if has_ground
                else margin + rng.uniform(0.3, 1.0) * height)
        objects.append(place(z, px_h, base, margin + rng.uniform(0.0, 1.0) * width))

    layers = [c for c in (_clip_layer(lay, hc, wc) for lay in layers + objects) if c is not None]
    # Far to near; at equal depth keep insertion order (ground before the object on it).
    layers.sort(key=lambda lay: -lay.sort_depth)
    gain = GAIN_MEDIAN * np.exp(rng.normal(0.0, GAIN_LOG_SD)
                                + rng.normal(0.0, GAIN_CHANNEL_SD, size=3))
    return Scene(height, width, margin, layers, z_f, r_inf,
                 gamma=rng.uniform(1.5, 3.0), boost=rng.uniform(0.0, 3.0),
                 noise_sigma=rng.uniform(0.001, 0.005), gain=gain.astype(np.float32),
                 softness=rng.uniform(0.3, 0.7))


# ---------------------------------------------------------------------------- render


class _Tone:
    """The linearising curve f(v) = v**gamma + boost * ((v - 0.8) / 0.2)_+^2 and its inverse.

    f is strictly increasing on [0, 1], so blurred values (convex combinations) map back
    into [0, 1]; in-focus pixels come back as the 8-bit value they started from.
    """

    def __init__(self, gamma: float, boost: float):
        self.gamma, self.boost = gamma, boost
        v = np.arange(256, dtype=np.float64) / 255.0
        self.lut = self._f(v).astype(np.float32)  # textures are quantised to 8 bits first
        self.knee = 0.8**gamma
        self.v_hi = np.linspace(0.8, 1.0, 2049)
        self.f_hi = self._f(self.v_hi)

    def _f(self, v: np.ndarray) -> np.ndarray:
        return v**self.gamma + self.boost * np.clip((v - 0.8) / 0.2, 0.0, None) ** 2

    def forward(self, color: np.ndarray) -> np.ndarray:
        return self.lut[(np.clip(color, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)]

    def inverse(self, y: np.ndarray) -> np.ndarray:
        y = np.clip(y, 0.0, None)
        out = np.power(y, np.float32(1.0 / self.gamma))
        hi = y > self.knee
        if hi.any():  # above the knee the boost term makes f non-power: invert by table
            out[hi] = np.interp(y[hi], self.f_hi, self.v_hi)
        return np.clip(out, 0.0, 1.0)


def render(scene: Scene) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Renders (original, bokeh, depth): two (H, W, 3) float32 in [0, 1] and (H, W) metres.

    ``original`` has no sensor noise yet (``make_example`` adds it).
    """
    m = scene.margin
    hc, wc = scene.height + 2 * m, scene.width + 2 * m
    tone = _Tone(scene.gamma, scene.boost)
    sharp = np.zeros((3, hc, wc), np.float32)
    blurred = np.zeros((3, hc, wc), np.float32)
    depth = np.zeros((hc, wc), np.float32)
    for lay in scene.layers:
        h, w = lay.alpha.shape
        lin = tone.forward(lay.color) * lay.alpha
        # All-in-focus composite ("over", Eq. of Porter-Duff) in the linear space.
        reg = (slice(None), slice(lay.top, lay.top + h), slice(lay.left, lay.left + w))
        sharp[reg] = lin + (1.0 - lay.alpha) * sharp[reg]
        np.copyto(depth[reg[1:]], np.broadcast_to(np.float32(lay.depth), (h, w)) if np.ndim(
            lay.depth) == 0 else np.broadcast_to(lay.depth.astype(np.float32), (h, w)),
            where=lay.alpha >= 0.5)
        if lay.radius < 0.5:  # in focus: the disk is a single pixel
            blurred[reg] = lin + (1.0 - lay.alpha) * blurred[reg]
            continue
        planes = _blur(np.concatenate([lin, lay.alpha[None]]), lay.radius)
        pad = (planes.shape[1] - h) // 2
        # The blurred layer is larger than the layer by the kernel radius on each side.
        y0, x0 = lay.top - pad, lay.left - pad
        cy0, cx0 = max(y0, 0), max(x0, 0)
        cy1, cx1 = min(y0 + planes.shape[1], hc), min(x0 + planes.shape[2], wc)
        p = planes[:, cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
        out = blurred[:, cy0:cy1, cx0:cx1]
        out *= 1.0 - np.clip(p[3], 0.0, 1.0)
        out += p[:3]
    crop = (slice(None), slice(m, m + scene.height), slice(m, m + scene.width))
    original, bokeh = tone.inverse(sharp[crop]), tone.inverse(blurred[crop])
    return original.transpose(1, 2, 0), bokeh.transpose(1, 2, 0), depth[m:-m, m:-m]


def make_example(seed: int, split: str, index: int, height: int, width: int) -> dict:
    """The example ``index`` of ``split`` for a dataset seed.

    Returns {"original": uint8 (H, W, 3), "bokeh": uint8 (H, W, 3), "depth": float32 (H, W)
    metres, "focus_depth": float (metres)}; the same arguments always give the same arrays.
    """
    rng = np.random.default_rng([seed, SPLIT_CODES[split], index])
    scene = sample_scene(rng, height, width)
    original, bokeh, depth = render(scene)
    # The camera's optics and demosaicking: a slight softening both photos share.
    soft = (scene.softness, scene.softness, 0)
    original = ndimage.gaussian_filter(original, soft, mode="mirror")
    bokeh = ndimage.gaussian_filter(bokeh, soft, mode="mirror")
    original += rng.standard_normal(original.shape, np.float32) * np.float32(scene.noise_sigma)
    bokeh *= scene.gain

    def to_u8(x: np.ndarray) -> np.ndarray:
        return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)

    return {"original": to_u8(original), "bokeh": to_u8(bokeh), "depth": depth,
            "focus_depth": float(scene.focus_depth)}
