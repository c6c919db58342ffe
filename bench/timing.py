"""Timing helpers shared by the benchmarks (median of repeated runs after a warm-up)."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

HUGEPAGES = "glibc.malloc.hugetlb=1"


def rerun_with_hugepages() -> None:
    """Re-executes this script with glibc's transparent huge pages for malloc, unless on.

    GLIBC_TUNABLES is read when the process starts, so setting it needs a new process.
    XLA allocates its buffers afresh on every call, and page faults are a large part of
    its CPU time on the development machine.
    """
    if HUGEPAGES in os.environ.get("GLIBC_TUNABLES", ""):
        return
    env = dict(os.environ)
    env["GLIBC_TUNABLES"] = ":".join(filter(None, [env.get("GLIBC_TUNABLES"), HUGEPAGES]))
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


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
