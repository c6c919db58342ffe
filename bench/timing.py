"""Timing helpers shared by the benchmarks (median of repeated runs after a warm-up)."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable


def median_time(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs, after ``warmup`` untimed runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def machine_line(torch_threads: int | None = None) -> str:
    import jax

    line = (f"machine: {platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__} "
            f"({jax.default_backend()}: {jax.devices()[0].device_kind})")
    if torch_threads is not None:
        import torch

        line += f", torch {torch.__version__} ({torch_threads} threads)"
    tunables = os.environ.get("GLIBC_TUNABLES")
    return line + (f", GLIBC_TUNABLES={tunables}" if tunables else "")
