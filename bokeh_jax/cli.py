"""The command line: the ``bokeh-jax`` entry point and what every command shares.

    bokeh-jax convert|prepare|train|eval|render|gallery|app|launch [options]

Each subcommand is the same code as its older form (``python -m bokeh_jax.convert``,
``python -m bokeh_jax.data.prepare``, ``python train.py``, ``python eval.py``,
``python -m bokeh_jax.render``, ``python -m bokeh_jax.gallery``), which all keep working.

Shared plumbing: :func:`run_main` turns a :class:`~bokeh_jax.errors.UserError` into one line
and a non-zero exit without a traceback; :class:`ArgumentParser` spells long flags in
kebab-case and accepts the snake_case spelling as a silent alias; the persistent JAX
compilation cache; the parsers of values several commands take.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from bokeh_jax.errors import UserError, one_line
from bokeh_jax.names import __version__

# name -> (module whose main(argv) runs it, one line for `bokeh-jax --help`). Imported only
# when the command runs, so `bokeh-jax --help` starts in a blink.
COMMANDS: dict[str, tuple[str, str]] = {
    "convert": ("bokeh_jax.network.convert", "convert the authors' PyTorch checkpoint"),
    "prepare": ("bokeh_jax.data.prepare", "build a dataset (EBB! or synthetic) for training"),
    "train": ("bokeh_jax.train.cli", "train the network in the paper's three phases"),
    "eval": ("bokeh_jax.evaluation.cli", "score a checkpoint with the paper's protocol"),
    "render": ("bokeh_jax.render.cli", "bokeh for your photos, from a checkpoint or a depth map"),
    "gallery": ("bokeh_jax.render.gallery", "depth-driven renders of real sample photos"),
    "app": ("bokeh_jax.app.cli", "click to focus: a local web page that refocuses photos"),
    "launch": ("bokeh_jax.launch", "run N training processes on this machine (multi-process)"),
}


def run_main(main: Callable[[Sequence[str] | None], int | None],
             argv: Sequence[str] | None = None) -> int:
    """Runs ``main(argv)``, turning UserError / Ctrl-C into a one-line exit.

    SIGTERM (``kill PID``) interrupts as Ctrl-C does, so the cleanup on the way out runs
    (the dataset build stops its worker processes; the trainer installs its own handler,
    which checkpoints first)."""
    previous = _interrupt_on_sigterm()
    try:
        code = main(argv)
    except (UserError, KeyboardInterrupt) as e:
        return report(e)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return int(code or 0)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _interrupt_on_sigterm():
    """Installs the SIGTERM -> KeyboardInterrupt handler; the previous one, or None when
    signals cannot be set here (not the main thread) or someone else already handles it."""
    if threading.current_thread() is not threading.main_thread():
        return None
    if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
        return None
    return signal.signal(signal.SIGTERM, _raise_interrupt)


def report(error: UserError | KeyboardInterrupt) -> int:
    """Prints a user mistake's one line (or "interrupted") and returns its exit status."""
    if isinstance(error, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        return 130
    print(f"error: {one_line(error)}", file=sys.stderr)
    return error.exit_code


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the project's conventions.

    Long flags are kebab-case (``--pairs-dir``); the snake_case spelling (``--pairs_dir``) is
    accepted as a silent alias, so older commands keep working. ``epilog`` is shown as
    written (worked examples).
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def parse_known_args(self, args=None, namespace=None):
        args = list(sys.argv[1:] if args is None else args)
        known = set(self._option_string_actions)
        out = []
        for i, arg in enumerate(args):
            if arg == "--":
                out += args[i:]
                break
            if arg.startswith("--") and "_" in arg:
                flag, eq, value = arg.partition("=")
                kebab = flag.replace("_", "-")
                if flag not in known and kebab in known:
                    arg = kebab + eq + value
            out.append(arg)
        return super().parse_known_args(out, namespace)


def parse_kernels(text: str) -> tuple[int, ...]:
    """``--kernels 25,45,75`` -> (25, 45, 75); odd sizes >= 3 (OpenCV's rule)."""
    try:
        ks = tuple(int(k) for k in text.split(",") if k.strip())
    except ValueError:
        ks = ()
    if not ks or any(k < 3 or k % 2 == 0 for k in ks):
        raise UserError(f"--kernels {text!r}: give odd kernel sizes >= 3 separated by commas, "
                        "e.g. 25,45,75")
    return ks


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


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"usage: bokeh-jax COMMAND [options]   (bokeh-jax {__version__})", "",
             "Depth-aware blending of smoothed images for bokeh (Dutta, 2021), in JAX.", "",
             "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "`bokeh-jax COMMAND --help` shows a command's options and a worked example.",
              "Docs: README.md and docs/ in the source repository."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``bokeh-jax COMMAND ...``: runs the command's own ``main`` with the rest of argv."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0 if argv else 2
    if argv[0] == "--version":
        print(f"bokeh-jax {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}; choose one of {', '.join(COMMANDS)} "
              "(bokeh-jax --help lists them)", file=sys.stderr)
        return 2
    command = importlib.import_module(COMMANDS[name][0])
    return run_main(lambda args: command.main(args, prog=f"bokeh-jax {name}"), rest)


def console_main() -> None:
    """The ``bokeh-jax`` console script."""
    sys.exit(main())
