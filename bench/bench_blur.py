"""Blur-stack speed: the jitted JAX stack (kernels 25/45/75) vs the three cv2.GaussianBlur calls.

    python bench/bench_blur.py [--runs 15] [--methods banded,direct,fft] [--hugepages]

On a 1024x1536x3 float32 image, each round times the three OpenCV calls and then each JAX
method, in the same process and interleaved, so a busy machine slows both alike. Prints the
median times, their ratio (goal: <= 1.0 for the default method), each method's max abs
difference from OpenCV, and what training pays: the stack's forward + backward for an
(8,256,384,3) batch. ``--hugepages`` re-runs itself with glibc's transparent huge pages for
malloc (GLIBC_TUNABLES=glibc.malloc.hugetlb=1): XLA allocates its buffers afresh on every
call, and page faults are a large part of the time on this machine. To time an AVX2
machine on an AVX-512 one: ``XLA_FLAGS=--xla_cpu_max_isa=AVX2`` and ``OPENCV_CPU_DISABLE=AVX512F,
AVX512-SKX,AVX512-COMMON,AVX512BW,AVX512CD,AVX512DQ,AVX512VL`` (the first line printed
says which ISA each library uses).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from timing import HUGEPAGES, rerun_with_hugepages  # bench/ is the script's folder

from bokeh_jax.cli import enable_compilation_cache, run_main
from bokeh_jax.errors import UserError
from bokeh_jax.names import PAPER_KERNELS

KERNELS = PAPER_KERNELS


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=15, help="timed rounds (median reported)")
    p.add_argument("--methods", default="banded,direct,fft",
                   help="comma-separated blur methods (also: conv, ~50x slower on CPU)")
    p.add_argument("--hugepages", action="store_true",
                   help=f"re-run with GLIBC_TUNABLES={HUGEPAGES}")
    p.add_argument("--no-train", action="store_true", help="skip the forward+backward timing")
    return p.parse_args(argv)


def _median_ms(times):
    return 1e3 * float(np.median(times))


def main(argv=None) -> int:
    args = _parse(argv)
    if args.hugepages:
        rerun_with_hugepages()

    import cv2
    import jax
    import jax.numpy as jnp

    from bokeh_jax import ops

    methods = [m for m in args.methods.split(",") if m]
    for m in methods:
        if m not in ops.METHODS:
            raise UserError(f"--methods: unknown method {m!r}; use some of "
                            f"{','.join(ops.METHODS)}")
    enable_compilation_cache()

    x = np.random.default_rng(0).random((1024, 1536, 3), dtype=np.float32)
    xj = jnp.asarray(x)
    print(f"backend {jax.default_backend()}, {os.cpu_count()} CPUs, cv2 {cv2.__version__} "
          f"({cv2.getNumThreads()} threads), GLIBC_TUNABLES={os.environ.get('GLIBC_TUNABLES')}")
    print(f"ISA: XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}; OpenCV dispatch "
          f"{cv2.getCPUFeaturesLine()!r} (a '?' marks a disabled feature)")
    print(f"image 1024x1536x3 float32, kernels {KERNELS}, default method "
          f"{ops.default_method()!r}, {args.runs} interleaved rounds")

    def opencv():
        return [cv2.GaussianBlur(x, (k, k), 0) for k in KERNELS]

    reference = np.stack(opencv())
    fns = {}
    for m in methods:
        f = jax.jit(lambda a, m=m: ops.blur_stack(a, KERNELS, method=m))
        t0 = time.perf_counter()
        out = np.asarray(f(xj))
        err = float(np.abs(out - reference).max())
        print(f"  {m:7s} first call (compile) {time.perf_counter() - t0:6.2f} s, "
              f"max |jax - cv2| {err:.1e}")
        fns[m] = f
        f(xj).block_until_ready()

    times = {"cv2": []} | {m: [] for m in methods}
    for _ in range(args.runs):
        t0 = time.perf_counter()
        opencv()
        times["cv2"].append(time.perf_counter() - t0)
        for m, f in fns.items():
            t0 = time.perf_counter()
            f(xj).block_until_ready()
            times[m].append(time.perf_counter() - t0)

    base = _median_ms(times["cv2"])
    print(f"\n{'form':24s} {'median ms':>10s} {'ratio':>7s}")
    print(f"{'cv2.GaussianBlur x3':24s} {base:10.1f} {1.0:7.2f}")
    for m in methods:
        ms = _median_ms(times[m])
        tag = " (default)" if m == ops.default_method() else ""
        print(f"{'jax ' + m + tag:24s} {ms:10.1f} {ms / base:7.2f}")
    if ops.default_method() in methods:
        ratio = _median_ms(times[ops.default_method()]) / base
        print(f"goal (default method no slower than OpenCV, ratio <= 1.0): "
              f"{'met' if ratio <= 1.0 else 'not met'}"
              + ("" if args.hugepages else "; compare --hugepages"))

    if not args.no_train:
        method = ops.default_method()
        batch = jnp.asarray(np.random.default_rng(1).random((8, 256, 384, 3), np.float32))
        cot = jnp.asarray(np.random.default_rng(2).random((8, 3, 256, 384, 3), np.float32))
        fwd = jax.jit(lambda a: ops.blur_stack(a, KERNELS, method=method))
        # The cotangent is an argument: a closed-over array would be constant-folded.
        grad = jax.jit(jax.value_and_grad(
            lambda a, g: jnp.sum(ops.blur_stack(a, KERNELS, method=method) * g)))
        fwd(batch).block_until_ready()
        jax.block_until_ready(grad(batch, cot))
        tf, tg = [], []
        for _ in range(max(3, args.runs // 3)):
            t0 = time.perf_counter()
            fwd(batch).block_until_ready()
            tf.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            jax.block_until_ready(grad(batch, cot))
            tg.append(time.perf_counter() - t0)
        print(f"\ntraining batch (8,256,384,3), method {method!r}: forward "
              f"{_median_ms(tf):.1f} ms, forward+backward {_median_ms(tg):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
