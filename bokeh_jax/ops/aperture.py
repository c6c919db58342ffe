"""Aperture kernels: what a lens makes of an out-of-focus point (the paper's future work).

A real lens images a defocused point as a copy of its aperture: a flat disk, or a polygon
from the aperture blades. The paper blurs with Gaussians (Eq. 1) and names disk blur as
future work. Every kernel here is a (k, k) float32 array summing to 1, centred on pixel
((k-1)/2, (k-1)/2), with x to the right and y downwards (image axes):

- ``"gaussian"``: OpenCV's, ``outer(g, g)`` with ``g = cv2.getGaussianKernel(k, 0)``
  (the kernel of Eq. 1; blurs with it stay separable and OpenCV-exact).
- ``"disk"``: the uniform disk of radius R = (k-1)/2 about the centre, anti-aliased by
  pixel coverage: each tap is the exact area of the disk inside that pixel's unit square
  (closed form, below), then the taps are normalised.
- ``"polygon"``: the regular polygon with ``blades`` sides and circumradius R, anti-aliased
  the same way (exact areas, by clipping each pixel square against the polygon). With
  ``rotation = 0`` one vertex points straight up; a positive ``rotation`` (degrees) turns
  the polygon counter-clockwise as seen on the screen.

Blurs with disk and polygon kernels equal ``cv2.filter2D(x, -1, kernel,
borderType=cv2.BORDER_REFLECT_101)`` (a correlation; see :mod:`bokeh_jax.ops.blur`).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from bokeh_jax.ops.gaussian import gaussian_kernel, gaussian_sigma

APERTURES = ("gaussian", "disk", "polygon")


def check_aperture(aperture: str, blades: int = 6, rotation: float = 0.0) -> None:
    """ValueError naming the bad value and the fix (the CLI turns it into one line)."""
    if aperture not in APERTURES:
        raise ValueError(f"unknown aperture {aperture!r}; use one of {', '.join(APERTURES)}")
    if aperture == "polygon":
        if isinstance(blades, bool) or int(blades) != blades or not 3 <= blades <= 64:
            raise ValueError(f"blades={blades!r}: a polygonal aperture needs 3 to 64 blades, "
                             "e.g. 6")
        if not math.isfinite(rotation):
            raise ValueError(f"rotation={rotation!r} must be a finite angle in degrees")


def _check_ksize(ksize: int) -> int:
    if isinstance(ksize, (bool, np.bool_)) or int(ksize) != ksize or ksize < 1 or ksize % 2 == 0:
        raise ValueError(f"kernel size {ksize!r} must be a positive odd integer, e.g. 25")
    return int(ksize)


def _chord_integral(t: np.ndarray, radius: float) -> np.ndarray:
    """P(t) = integral of sqrt(R^2 - u^2) du from 0 to t, for t in [-R, R]."""
    t = np.clip(t, -radius, radius)
    return 0.5 * (t * np.sqrt(np.maximum(radius * radius - t * t, 0.0))
                  + radius * radius * np.arcsin(t / radius))


def _under(a: np.ndarray, b: np.ndarray, c: np.ndarray, radius: float) -> np.ndarray:
    """Area of {(u, v): a <= u <= b, 0 <= v <= min(c, sqrt(R^2 - u^2))}, for c >= 0."""
    a, b = np.clip(a, -radius, radius), np.clip(b, -radius, radius)
    cc = np.minimum(c, radius)
    t = np.sqrt(np.maximum(radius * radius - cc * cc, 0.0))  # where the chord height is c
    # |u| < t: the height is capped at c; |u| >= t: the circle's own height.
    flat = np.maximum(np.minimum(b, t) - np.maximum(a, -t), 0.0) * cc
    left = _chord_integral(np.minimum(b, -t), radius) - _chord_integral(np.minimum(a, -t), radius)
    right = _chord_integral(np.maximum(b, t), radius) - _chord_integral(np.maximum(a, t), radius)
    return flat + np.maximum(left, 0.0) + np.maximum(right, 0.0)


def _disk_coverage(size: int, radius: float) -> np.ndarray:
    """Exact area of the disk of ``radius`` (centred) inside each pixel of a size^2 grid."""
    edges = np.arange(size + 1, dtype=np.float64) - (size - 1) / 2.0 - 0.5
    x0, x1 = edges[None, :-1], edges[None, 1:]
    y0, y1 = edges[:-1, None], edges[1:, None]

    def signed(c):  # area between v = 0 and v = c (negative below), for u in [x0, x1]
        return np.sign(c) * _under(x0, x1, np.abs(c), radius)

    return np.broadcast_to(signed(y1) - signed(y0), (size, size))


def polygon_vertices(blades: int, radius: float, rotation: float) -> np.ndarray:
    """(blades, 2) vertices (x right, y down) of the regular polygon, counter-clockwise on
    screen, one vertex straight up at ``rotation = 0``."""
    angles = np.deg2rad(90.0 + rotation + 360.0 * np.arange(blades) / blades)
    return np.stack([radius * np.cos(angles), -radius * np.sin(angles)], axis=1)


def _clip(poly: list[tuple[float, float]], p: np.ndarray, q: np.ndarray):
    """Sutherland-Hodgman: keeps the part of ``poly`` on the polygon's side of edge p -> q.

    In y-down axes, with the vertices counter-clockwise on screen, the inside is where the
    cross product (q - p) x (v - p) is <= 0."""
    def side(v):
        return (q[0] - p[0]) * (v[1] - p[1]) - (q[1] - p[1]) * (v[0] - p[0])

    out = []
    for i, cur in enumerate(poly):
        prev = poly[i - 1]
        sc, sp = side(cur), side(prev)
        if sc <= 0:  # inside
            if sp > 0:
                f = sp / (sp - sc)
                out.append((prev[0] + f * (cur[0] - prev[0]), prev[1] + f * (cur[1] - prev[1])))
            out.append(cur)
        elif sp <= 0:
            f = sp / (sp - sc)
            out.append((prev[0] + f * (cur[0] - prev[0]), prev[1] + f * (cur[1] - prev[1])))
    return out


def _area(poly) -> float:
    if len(poly) < 3:
        return 0.0
    xy = np.asarray(poly)
    return 0.5 * abs(float(np.dot(xy[:, 0], np.roll(xy[:, 1], -1))
                           - np.dot(xy[:, 1], np.roll(xy[:, 0], -1))))


def _polygon_coverage(size: int, radius: float, blades: int, rotation: float) -> np.ndarray:
    """Exact area of the polygon inside each pixel (boundary pixels clipped, others 0 or 1)."""
    verts = polygon_vertices(blades, radius, rotation)
    edges = list(zip(verts, np.roll(verts, -1, axis=0), strict=True))
    c = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    cx, cy = np.meshgrid(c, c)
    corners = [(cx + dx, cy + dy) for dx in (-0.5, 0.5) for dy in (-0.5, 0.5)]
    inside = np.ones((size, size), bool)
    outside = np.zeros((size, size), bool)
    for p, q in edges:
        sides = [(q[0] - p[0]) * (y - p[1]) - (q[1] - p[1]) * (x - p[0]) for x, y in corners]
        inside &= np.all([s <= 0 for s in sides], axis=0)
        outside |= np.all([s >= 0 for s in sides], axis=0)
    cover = inside.astype(np.float64)
    for i, j in zip(*np.nonzero(~inside & ~outside), strict=True):
        x, y = cx[i, j], cy[i, j]
        poly = [(x - 0.5, y - 0.5), (x + 0.5, y - 0.5), (x + 0.5, y + 0.5), (x - 0.5, y + 0.5)]
        for p, q in edges:
            poly = _clip(poly, p, q)
            if not poly:
                break
        cover[i, j] = _area(poly)
    return cover


@lru_cache(maxsize=512)
def _kernel(aperture: str, radius: float, blades: int, rotation: float) -> np.ndarray:
    half = int(math.ceil(radius - 1e-9))
    size = 2 * half + 1
    if radius <= 0:
        kern = np.ones((1, 1))
    elif aperture == "gaussian":
        if radius == half:  # a whole radius: OpenCV's kernel of size 2r + 1, tables included
            g = gaussian_kernel(size).astype(np.float64)
        else:  # OpenCV's sigma rule continued to fractional sizes
            sigma = gaussian_sigma(size) + 0.3 * (radius - half)
            g = np.exp(-0.5 * (np.arange(size) - half) ** 2 / sigma**2)
        kern = np.outer(g, g)
    elif aperture == "disk":
        kern = _disk_coverage(size, radius)
    else:
        kern = _polygon_coverage(size, radius, blades, rotation)
    kern = (kern / kern.sum()).astype(np.float32)
    kern.setflags(write=False)
    return kern


def radius_kernel(aperture: str, radius: float, *, blades: int = 6,
                  rotation: float = 0.0) -> np.ndarray:
    """The kernel of an aperture of any radius >= 0 (pixels; fractional allowed).

    Size 2 * ceil(radius) + 1. For a whole radius it equals ``aperture_kernel(aperture,
    2 * radius + 1, ...)``; radius 0 is the identity. A fractional Gaussian continues
    OpenCV's rule sigma = 0.3 (r - 1) + 0.8.
    """
    check_aperture(aperture, blades, rotation)
    if not (math.isfinite(radius) and radius >= 0):
        raise ValueError(f"aperture radius {radius!r} must be a finite number >= 0")
    if aperture != "polygon":
        blades, rotation = 6, 0.0
    return _kernel(aperture, float(radius), int(blades), float(rotation) % 360.0)


def aperture_kernel(aperture: str, ksize: int, *, blades: int = 6,
                    rotation: float = 0.0) -> np.ndarray:
    """The (ksize, ksize) float32 kernel of an aperture, summing to 1 (module docstring).

    Args:
      aperture: "gaussian", "disk" or "polygon".
      ksize: odd size; the disk and the polygon have radius (ksize - 1) / 2 (ksize 1: the
        identity).
      blades: the polygon's number of sides (3..64); ignored otherwise.
      rotation: the polygon's rotation in degrees, counter-clockwise; ignored otherwise.
    """
    k = _check_ksize(ksize)
    return radius_kernel(aperture, (k - 1) / 2, blades=blades, rotation=rotation).copy()
