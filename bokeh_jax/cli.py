"""Shared command-line plumbing: user errors, exit codes, the compile cache.

Every entry point (``python -m bokeh_jax.convert``, ``train.py``, ``eval.py``,
``python -m bokeh_jax.render`` ...) wraps its ``main`` with :func:`run_main`, so a
user's mistake prints one line naming the file or value and the fix, and exits
non-zero without a traceback. Bugs still raise with a full traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path


class UserError(Exception):
    """A mistake the user can fix (bad path, bad flag, bad file).

    The message is printed as one line; it should name the offending file or
    value and say what to do.
    """

    exit_code = 2


def run_main(main: Callable[[Sequence[str] | None], int | None],
             argv: Sequence[str] | None = None) -> int:
    """Runs ``main(argv)``, turning UserError / Ctrl-C into a one-line exit."""
    try:
        code = main(argv)
    except UserError as e:
        # One line, whatever the message holds (lists of offending keys included).
        msg = "; ".join(line.strip() for line in str(e).splitlines() if line.strip())
        print(f"error: {msg}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


def default_cache_dir() -> Path:
    """Where the persistent JAX compilation cache lives (override with BOKEH_JAX_CACHE)."""
    env = os.environ.get("BOKEH_JAX_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "bokeh_jax" / "jax"


def enable_compilation_cache(path: str | os.PathLike | None = None) -> Path:
    """Turns on JAX's persistent compilation cache so a second run does not recompile."""
    import jax

    cache = Path(path) if path is not None else default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(cache))
    # Cache everything that took noticeable time; tiny programs are cheap to rebuild.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return cache
