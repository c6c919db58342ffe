"""Shared test setup: JAX's persistent compilation cache, data locations, skips."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("BOKEH_JAX_SHARED_DATA", REPO.parent / "shared" / "data"))

# Compiled programs are reused across test runs (and across the subprocesses
# some tests start), which keeps the suite fast on a 2-core CPU.
os.environ.setdefault("BOKEH_JAX_CACHE", str(REPO / ".cache" / "jax-tests"))

from bokeh_jax.cli import enable_compilation_cache  # noqa: E402

enable_compilation_cache(os.environ["BOKEH_JAX_CACHE"])


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real sample data beside the checkout; skips the test when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real sample data not found at {SHARED_DATA} (only present beside the "
                    "project's own checkout; set BOKEH_JAX_SHARED_DATA to point at it)")
    return SHARED_DATA
