"""Occlusion-aware depth-of-field: depth layers, each blurred by its own lens kernel.

The paper's blend (Eq. 1) blurs the whole photo and picks a blur per pixel, so a sharp
subject's colour glows into the blurred background beside it (its blurred copy spreads the
subject outwards) and a blurred foreground keeps a hard silhouette (only pixels inside it
get its blur). A lens instead spreads every scene point over its own circle of confusion
and nearer points hide farther ones. Like MPIB and Dr.Bokeh we approximate that with layers:

1. The circle of confusion of a pixel has the signed radius (thin lens: the blur grows with
   |1/z - 1/z_focus|, i.e. with the disparity difference)

       r = clip(strength * (disparity - focus) * max_radius, -max_radius, max_radius),

   positive in front of the focus. Each pixel joins the layer whose radius is nearest.
   Layer radii (:func:`layer_radii`) are every integer up to 8 pixels and then grow
   geometrically by 1/8 (rounded to integers), so within a layer the blur differs from the
   pixel's own by at most half a pixel of radius up to r = 8 and by at most ~6% beyond
   (37 px: 21 layers on each side of the focus; README, "Layered rendering").
2. Back to front (farthest first), the layer's premultiplied colour and coverage are
   blurred with its kernel (disk, polygon or Gaussian of radius rho: size 2 rho + 1) and
   composited "over" what is behind: P <- C + (1 - A) P, coverage likewise.
3. Before it is blurred, each layer is extended under the pixels of the nearer layers
   (colour no camera saw), with the colour of a normalised blur of its own visible pixels
   (reach: the largest blur radius; made at the coarsest scale). So a blurred foreground
   shows a plausible continuation of what is behind it through its soft edge instead of
   black, two adjacent layers of one continuous surface leave no seam, and a sharp
   subject never enters the blur of the background behind it.

Light adds linearly: with ``gamma`` the colours are raised to ``gamma`` before blurring and
the result to ``1/gamma`` after (BokehMe's gamma; 2.2 is close to sRGB's curve), so a small
bright light keeps its energy as a bright disk. ``highlight`` boosts small near-clipped
lights (whose true brightness the 8-bit photo lost) before the blur.

Everything is jnp: jit it with the layer radii and aperture static (focus, strength, gamma
and highlight are traced, so changing them does not recompile), differentiate through it.
A layer with no pixel is skipped at run time (``lax.cond``), so a photo pays only for the
blur levels it uses.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from bokeh_jax.ops.aperture import radius_kernel
from bokeh_jax.ops.blur import blur_stack, filter_2d

# Radii up to LINEAR_UNTIL pixels get a layer each; beyond, layers are 1/LINEAR_UNTIL apart
# in log radius (the step equals 1 px at the join, and a 1/8 relative step beyond).
LINEAR_UNTIL = 8
# Highlights: linear values above this start to be boosted (an 8-bit 250 in sRGB), if the
# clipped area is small at the scale of this Gaussian kernel (highlight_mask).
HIGHLIGHT_KNEE = 0.95
HIGHLIGHT_KERNEL = 13
# Coverage below this (blurred, behind) gives the hole filling no trustworthy colour.
_FILL_SUPPORT = 2e-2
_FILL_FLOOR = 1e-3
# Multi-scale rendering (layer_scale): the coarsest resolution divisor.
MAX_SCALE = 4
# Kernels up to this size are applied as sums of shifted copies, larger ones by FFT.
DIRECT_MAX = 7
# Step 3's reach: the normalised blur continuing a layer under nearer ones has this
# fraction of the largest blur radius as its radius (a nearer layer uncovers at most that).
FILL_RADIUS = 1.0
_EPS = 1e-6


def layer_radii(max_radius: float) -> tuple[int, ...]:
    """The blur radii (pixels, from 0) of the layers on each side of the focus."""
    top = int(math.ceil(max_radius))
    radii, u = [], 0.0
    while True:
        rho = u if u <= LINEAR_UNTIL else LINEAR_UNTIL * math.exp((u - LINEAR_UNTIL) / LINEAR_UNTIL)
        rho = min(int(round(rho)), top)
        if not radii or rho > radii[-1]:
            radii.append(rho)
        if rho >= top:
            return tuple(radii)
        u += 1.0


def coc_radius(disparity, focus, strength, max_radius: float) -> jax.Array:
    """Signed circle-of-confusion radius in pixels (positive = in front of the focus)."""
    d = jnp.asarray(disparity, jnp.float32)
    r = jnp.asarray(strength, jnp.float32) * (d - jnp.asarray(focus, jnp.float32)) * max_radius
    return jnp.clip(r, -max_radius, max_radius)


def layer_index(radius: jax.Array, radii: tuple[int, ...]) -> jax.Array:
    """Signed index of each pixel's layer: the level nearest to |r|, with r's sign."""
    mids = (np.asarray(radii[1:], np.float32) + np.asarray(radii[:-1], np.float32)) / 2
    idx = jnp.searchsorted(jnp.asarray(mids), jnp.abs(radius), side="right")
    return jnp.where(radius < 0, -idx, idx)


def _power(x: jax.Array, g) -> jax.Array:
    # x ** 1 through exp/log is not exact in float32: keep gamma 1 bit-exact (as today).
    g = jnp.asarray(g, jnp.float32)
    return jnp.where(g == 1.0, x, jnp.maximum(x, 1e-12) ** g)


def highlight_mask(lin: jax.Array) -> jax.Array:
    """(H,W,1) in [0,1]: how much a pixel is a small, near-clipped light.

    ``ramp`` rises from 0 at HIGHLIGHT_KNEE to 1 at full scale (the largest linear channel);
    it is kept where the clipped area is small, ``1 - G(ramp) / 0.5`` with G the 13-tap
    Gaussian (sigma 2.6 px): a lamp, a glint or sun through leaves is boosted, a large
    clipped area (an overcast sky, a white wall) is a surface, not a light, and is not.
    """
    peak = jnp.max(lin, axis=-1, keepdims=True)
    ramp = jnp.clip((peak - HIGHLIGHT_KNEE) / (1.0 - HIGHLIGHT_KNEE), 0.0, 1.0)
    spread = blur_stack(ramp, (HIGHLIGHT_KERNEL,))[0]
    return ramp * jnp.clip(1.0 - spread / 0.5, 0.0, 1.0)


def to_linear(rgb: jax.Array, gamma, highlight) -> jax.Array:
    """[0,1] colours -> linear light (``** gamma``), small clipped lights boosted.

    The boost multiplies a pixel by ``1 + highlight * highlight_mask``: a clipped light was
    brighter than the photo could record, and only its extra energy makes a bright disk
    once blurred. With ``highlight = 0`` (the default) nothing is changed.
    """
    lin = _power(jnp.clip(rgb, 0.0, 1.0), gamma)
    highlight = jnp.asarray(highlight, jnp.float32)
    return lax.cond(highlight > 0, lambda x: x * (1.0 + highlight * highlight_mask(x)),
                    lambda x: x, lin)


def from_linear(lin: jax.Array, gamma) -> jax.Array:
    """Linear light -> [0,1] colours (``** (1 / gamma)``, clipped)."""
    return _power(jnp.clip(lin, 0.0, 1.0), 1.0 / jnp.asarray(gamma, jnp.float32))


def layer_scale(rho: int) -> int:
    """The resolution divisor a layer of blur radius ``rho`` is rendered at (static).

    The largest power of two s <= MAX_SCALE with rho >= s * max(s, 2): radii 0-3 at full
    resolution, 4-15 at half, 16-63 at a quarter. A blur hides detail finer than itself, so
    a large blur loses little at a lower resolution and costs s^2 times less there; the
    aperture's rim is softened by about s pixels, at most ~1/8 of its radius from 16 px
    on (measured: README, "Layered rendering").
    """
    s = 1
    while 2 * s <= MAX_SCALE and rho >= 2 * s * max(2 * s, 2):
        s *= 2
    return s


def _down(x: jax.Array, s: int) -> jax.Array:
    """Area average over s x s blocks (H and W divisible by s)."""
    if s == 1:
        return x
    h, w, c = x.shape
    return x.reshape(h // s, s, w // s, s, c).mean(axis=(1, 3))


def _up2(x: jax.Array) -> jax.Array:
    """Bilinear x2 upsampling (pixel centres at half-pixel offsets, edges clamped)."""
    def along(x, axis):
        prev = jnp.concatenate([lax.slice_in_dim(x, 0, 1, axis=axis),
                                lax.slice_in_dim(x, 0, x.shape[axis] - 1, axis=axis)], axis)
        nxt = jnp.concatenate([lax.slice_in_dim(x, 1, x.shape[axis], axis=axis),
                               lax.slice_in_dim(x, x.shape[axis] - 1, x.shape[axis],
                                                axis=axis)], axis)
        even, odd = 0.75 * x + 0.25 * prev, 0.75 * x + 0.25 * nxt
        shape = list(x.shape)
        shape[axis] *= 2
        return jnp.stack([even, odd], axis=axis + 1).reshape(shape)
    return along(along(x, 0), 1)


def _up(x: jax.Array, s: int) -> jax.Array:
    while s > 1:
        x, s = _up2(x), s // 2
    return x


def _blur(planes: jax.Array, radius: float, aperture: str, blades: int, rotation: float):
    """(H,W,C) planes correlated with the aperture's kernel, reflect-101 borders."""
    if radius == 0:
        return planes
    kern = radius_kernel(aperture, radius, blades=blades, rotation=rotation)
    # Small kernels: a sum of shifted copies beats two FFTs (memory-bound either way).
    method = "direct" if kern.shape[0] <= DIRECT_MAX else "fft"
    return filter_2d(planes[None], (kern,), method=method)[0, 0]


def _over(c, cov, p, a):
    """Step 2: premultiplied (c, cov) over (p, a)."""
    return c + (1.0 - cov) * p, cov + (1.0 - cov) * a


def composite_layers(lin: jax.Array, coverage: jax.Array, index: jax.Array,
                     radii: tuple[int, ...], *, aperture: str = "disk", blades: int = 6,
                     rotation: float = 0.0) -> jax.Array:
    """Steps 2-3 of the module docstring on linear colours.

    Each layer is extended under the pixels of the nearer layers, within the reach of a
    normalised blur of its own visible colour (FILL_RADIUS of the largest blur radius,
    computed at the coarsest scale): a nearer layer that turns translucent when blurred
    then shows this layer's plausible continuation, never black, and two adjacent layers
    of one continuous surface leave no seam between them.

    Layers behind the focus are composited at their own (falling) resolution
    (:func:`layer_scale`), so what is behind is carried at the coarsest scale its blur
    allows and refined once per scale; layers in front are blurred at their scale and put
    over the full-resolution result.

    Args:
      lin: (H,W,3) linear colour; coverage: (H,W) in [0,1] (the photo's alpha, or ones).
      index: (H,W) int signed layer index (:func:`layer_index`), -len(radii) < index <
        len(radii); radii: the layer radii (static).
    Returns:
      (H,W,3) linear colour, normalised by the total coverage.
    """
    h0, w0 = lin.shape[:2]
    n = len(radii)
    top = layer_scale(radii[-1])
    # Whole blocks at every scale: extend the edges to a multiple of the coarsest scale.
    ph, pw = -h0 % top, -w0 % top
    if ph or pw:
        lin = jnp.pad(lin, ((0, ph), (0, pw), (0, 0)), mode="edge")
        coverage = jnp.pad(coverage, ((0, ph), (0, pw)), mode="edge")
        index = jnp.pad(index, ((0, ph), (0, pw)), mode="edge")
    h, w = h0 + ph, w0 + pw
    scale = top
    p = jnp.zeros((h // top, w // top, 3), jnp.float32)
    a = jnp.zeros((h // top, w // top, 1), jnp.float32)
    # Which layers have pixels, in one pass (a layer without any is skipped below).
    present = jnp.zeros(2 * n - 1, jnp.float32).at[(index + n - 1).ravel()].add(
        coverage.ravel()) > 0
    blur = partial(_blur, aperture=aperture, blades=blades, rotation=rotation)
    fill_radius = FILL_RADIUS * radii[-1] / top
    for j in range(-(n - 1), n):  # far to near
        rho = radii[abs(j)]
        s = layer_scale(rho)
        if j <= 0 and s < scale:  # behind: refine what is behind to this layer's scale
            p, a, scale = _up(p, scale // s), _up(a, scale // s), s

        def layer(state, j=j, rho=rho, s=s):
            p, a = state
            m = jnp.where(index == j, coverage, 0.0)[..., None]
            hidden = jnp.where(index > j, coverage, 0.0)[..., None]
            own = _down(jnp.concatenate([lin * m, m, hidden], -1), s)
            # Step 3 at the coarsest scale: the layer's colour continued under nearer ones.
            near = _blur(_down(own[..., :4], top // s), fill_radius, "gaussian", 6, 0.0)
            support = jnp.clip((near[..., 3:] - _FILL_FLOOR) / _FILL_SUPPORT, 0.0, 1.0)
            fill = jnp.maximum(near[..., :3], 0.0) / jnp.maximum(near[..., 3:], _FILL_FLOOR)
            fill, support = _up(fill, top // s), _up(support, top // s)
            extra = own[..., 4:] * support
            both = blur(jnp.concatenate([own[..., :3] + fill * extra, own[..., 3:4] + extra],
                                        -1), rho / s)
            if j > 0:  # in front: (p, a) stay at full resolution
                both = _up(both, s)
            return _over(both[..., :3], both[..., 3:], p, a)

        p, a = lax.cond(present[j + n - 1], layer, lambda st: st, (p, a))
    if scale > 1:  # nothing at or in front of the focus
        p, a = _up(p, scale), _up(a, scale)
    return (p / jnp.maximum(a, _EPS))[:h0, :w0]


def render_layered(rgb: jax.Array, disparity: jax.Array, focus, strength, *,
                   max_radius: float, aperture: str = "disk", blades: int = 6,
                   rotation: float = 0.0, gamma=1.0, highlight=0.0,
                   alpha: jax.Array | None = None) -> jax.Array:
    """The layered render of one (H,W,3) [0,1] image from its (H,W) disparity.

    ``alpha`` ((H,W) in [0,1], optional) is the photo's own coverage: transparent pixels
    add neither colour nor coverage. Returns (H,W,3) float32 in [0,1].
    """
    radii = layer_radii(max_radius)
    coverage = jnp.ones(rgb.shape[:2], jnp.float32) if alpha is None else alpha
    index = layer_index(coc_radius(disparity, focus, strength, max_radius), radii)
    lin = to_linear(rgb, gamma, highlight)
    out = composite_layers(lin, coverage, index, radii, aperture=aperture, blades=blades,
                           rotation=rotation)
    return from_linear(out, gamma)
