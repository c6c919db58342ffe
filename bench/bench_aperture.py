"""Lens-like rendering: the disk blur stack and bokeh_jax.refocus, against same-process references.

    python bench/bench_aperture.py [--repeats 5] [--hugepages]

1. The disk blur stack 25/45/75 (radii 12, 22, 37) on one 1024x1536 RGB image, jitted,
   with each non-separable method (``fft``, the default; ``conv`` at a quarter of the
   pixels, scaled), against the Gaussian stack (the paper's, default method) and against
   three ``cv2.filter2D`` calls with the same disk kernels (OpenCV picks its own DFT path
   for kernels this large). Also the gradient (VJP) of the disk stack, for training.
2. ``bokeh_jax.refocus`` on a 1024x1536 photo with its depth map (a PyNET sample when
   ../shared/data has one, cropped to 1536 wide; else a synthetic scene), focused on the
   nearest region: layered + disk (goal: <= 1.0 s warm on a 2-core CPU), layered + disk +
   gamma 2.2 (the CLI's default), blend + disk and blend + gaussian (the paper's, today's
   depth render), each warm after a first call, and the first call (compile) of the
   layered one.

Ratios are against references run in this process; say which CPU the figures come from
(``lscpu``: model name and AVX-512 or AVX2).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import machine_line, median_time, rerun_with_hugepages  # noqa: E402

KERNELS = (25, 45, 75)


def _photo():
    from bokeh_jax.inference.depth import disparity_map
    from bokeh_jax.io import samples
    from bokeh_jax.io.photos import read_depth, read_image

    for name, photo, depth in samples.pynet_pairs():
        image = read_image(photo)
        if image.shape[:2] == (1024, 1536) or image.shape[1] >= 1536:
            disparity, _ = disparity_map(read_depth(depth), image.shape[:2])
            return name, image[:1024, :1536], disparity[:1024, :1536]
    rng = np.random.default_rng(0)
    image = rng.random((1024, 1536, 3)).astype(np.float32)
    disparity = np.tile(np.linspace(0, 1, 1536, dtype=np.float32), (1024, 1))
    return "synthetic", image, disparity


def bench_stack(repeats: int) -> None:
    import cv2
    import jax
    import jax.numpy as jnp

    from bokeh_jax import ops

    x = np.random.default_rng(0).random((1024, 1536, 3)).astype(np.float32)
    xj = jnp.asarray(x)
    kernels = [ops.aperture_kernel("disk", k) for k in KERNELS]

    def cv():
        return [cv2.filter2D(x, -1, k, borderType=cv2.BORDER_REFLECT_101) for k in kernels]

    t_cv = median_time(cv, repeats)
    gauss = jax.jit(lambda a: ops.blur_stack(a, KERNELS))
    t_gauss = median_time(lambda: gauss(xj).block_until_ready(), repeats)
    print(f"reference: 3 x cv2.filter2D (disk 25/45/75) {t_cv * 1e3:.0f} ms; Gaussian stack "
          f"({ops.default_method()}) {t_gauss * 1e3:.0f} ms")
    disk = jax.jit(lambda a: ops.blur_stack(a, KERNELS, "disk", method="fft"))
    t = median_time(lambda: disk(xj).block_until_ready(), repeats)
    print(f"disk stack, fft:   {t * 1e3:6.0f} ms   {t / t_cv:.2f}x cv2.filter2D, "
          f"{t / t_gauss:.2f}x the Gaussian stack")
    quarter = xj[:512, :768]
    conv = jax.jit(lambda a: ops.blur_stack(a, KERNELS, "disk", method="conv"))
    t = 4 * median_time(lambda: conv(quarter).block_until_ready(), max(1, repeats // 2))
    print(f"disk stack, conv:  {t * 1e3:6.0f} ms   {t / t_cv:.2f}x cv2.filter2D "
          "(timed at 512x768, x4)")
    # The cotangent is an argument: a constant one would let XLA fold the (linear) adjoint.
    g = jnp.asarray(np.random.default_rng(1).random((3, 1024, 1536, 3), np.float32))
    vjp = jax.jit(jax.grad(lambda a, g: jnp.sum(ops.blur_stack(a, KERNELS, "disk") * g)))
    t = median_time(lambda: vjp(xj, g).block_until_ready(), repeats)
    vjp_g = jax.jit(jax.grad(lambda a, g: jnp.sum(ops.blur_stack(a, KERNELS) * g)))
    t_g = median_time(lambda: vjp_g(xj, g).block_until_ready(), repeats)
    print(f"gradient of the disk stack {t * 1e3:.0f} ms; of the Gaussian stack {t_g * 1e3:.0f} ms")


def bench_refocus(repeats: int) -> None:
    import bokeh_jax
    from bokeh_jax.inference.depth import nearest_region_focus

    name, image, disparity = _photo()
    focus = nearest_region_focus(disparity)
    print(f"photo: {name} {image.shape[1]}x{image.shape[0]}, focus {focus:.2f}")
    runs = [("layered + disk", dict(renderer="layered", aperture="disk")),
            ("layered + disk, gamma 2.2", dict(renderer="layered", aperture="disk", gamma=2.2)),
            ("layered + polygon", dict(renderer="layered", aperture="polygon")),
            ("blend + disk", dict(renderer="blend", aperture="disk")),
            ("blend + gaussian (the paper's)", dict(renderer="blend", aperture="gaussian"))]
    for label, kw in runs:
        t0 = time.perf_counter()
        bokeh_jax.refocus(image, disparity, focus=focus, **kw)
        first = time.perf_counter() - t0
        t = median_time(lambda kw=kw: bokeh_jax.refocus(image, disparity, focus=focus, **kw),
                        repeats, warmup=0)
        print(f"{label:32s} warm {t:.2f} s   (first call {first:.1f} s, compile included)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--hugepages", action="store_true",
                   help="re-run with glibc huge pages for malloc (as the Makefile does)")
    args = p.parse_args()
    if args.hugepages:
        rerun_with_hugepages()
    print(machine_line())
    bench_stack(args.repeats)
    bench_refocus(args.repeats)


if __name__ == "__main__":
    main()
