"""``bokeh-jax train`` (and ``python train.py``): the paper's three phases, from a config.

    bokeh-jax train --config phase1 --workdir runs/ebb --config.init_checkpoint=megadepth_jax/
    bokeh-jax train --config phase2 --workdir runs/ebb
    bokeh-jax train --config demo --workdir runs/demo      # all three phases on synthetic data

``--config`` takes a named config of :mod:`bokeh_jax.configs` (shipped in the package) or
the path of a config file. Any field can be overridden on the command line with absl's
``--config.FIELD=VALUE`` (``--config.phase1.num_steps=100``). Running the same command again
resumes the run.

Several processes (one per machine, docs/multihost.md) train together with JAX's names for
the distributed flags::

    python train.py --config phase1 --workdir /shared/runs/ebb \
        --coordinator_address 10.0.0.1:29500 --num_processes 2 --process_id 0   # machine 0
    python -m bokeh_jax.launch -n 2 -- python train.py --config demo --workdir runs/demo

``--config.multihost=True`` without those flags lets ``jax.distributed.initialize()``
detect them (SLURM, Open MPI, Kubernetes/TPU).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path

from bokeh_jax import configs
from bokeh_jax.cli import enable_compilation_cache, report
from bokeh_jax.errors import UserError
from bokeh_jax.train.multihost import DEFAULT_TIMEOUT_S

CONFIG_DIR = Path(configs.__file__).parent
FIELDS_DOC = "bokeh_jax/configs/common.py"
# Fields holding tuples: an override must spell the tuple out.
TUPLE_FIELDS = ("--config.phases", "--config.kernel_sizes")
DISTRIBUTED_FLAGS = ("coordinator_address", "num_processes", "process_id")


def named_configs() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.py") if p.stem not in ("__init__", "common"))


def _help(prog: str) -> str:
    return f"""usage: {prog} --config NAME|PATH --workdir DIR [--config.FIELD=VALUE ...]
       [--coordinator_address HOST:PORT --num_processes N --process_id I]

Trains the bokeh network in the paper's three phases (docs/method.md, "Training").

  --config NAME|PATH   a named config: {', '.join(named_configs())};
                       or a config file (a Python file whose get_config() returns an
                       ml_collections.ConfigDict; it may build on bokeh_jax.configs.common)
  --workdir DIR        the run's folder: checkpoints, logs, results; rerun to resume
  --config.FIELD=VALUE override any field, e.g. --config.phase1.num_steps=100
                       --config.bn_mode=frozen --config.init_checkpoint=megadepth_jax/

multi-process training (one process per machine; docs/multihost.md):
  --coordinator_address HOST:PORT  process 0's machine and a free port, the same for all
  --num_processes N    how many processes train together
  --process_id I       this process's number, 0..N-1 (0 writes logs and checkpoints)
  --distributed_timeout S  seconds to wait for all N to join, then stop with an error
                       (default {DEFAULT_TIMEOUT_S})
  --config.multihost=True  without the three flags: jax.distributed.initialize() finds
                       them itself (SLURM, Open MPI, Kubernetes/TPU)
  python -m bokeh_jax.launch -n N -- {prog} ...   N processes on this machine

Every field, its default and its meaning: {FIELDS_DOC} (in the installed package:
{CONFIG_DIR / 'common.py'}); named configs change only what differs.

examples:
  {prog} --config demo --workdir runs/demo
  {prog} --config phase1 --workdir runs/ebb --config.init_checkpoint=megadepth_jax/
  {prog} --config phase1 --workdir runs/try --config.phase1.num_steps=200 --config.seed=1
  {prog} --config phase1 --workdir /nfs/runs/ebb --coordinator_address 10.0.0.1:29500 \
      --num_processes 2 --process_id 0"""


def resolve_config_arg(argv: Sequence[str]) -> list[str]:
    """``--config phase1`` / ``--config=demo`` -> the packaged file (paths pass through)."""
    out, i = [], 0
    argv = list(argv)
    while i < len(argv):
        arg = argv[i]
        value = None
        if arg == "--config" and i + 1 < len(argv):
            value, i = argv[i + 1], i + 1
        elif arg.startswith("--config="):
            value = arg.split("=", 1)[1]
        if value is not None:
            name = value.split(":", 1)[0]
            if not name.endswith(".py") and (CONFIG_DIR / f"{name}.py").is_file():
                value = str(CONFIG_DIR / f"{name}.py") + value[len(name):]
            elif not Path(name).is_file():
                raise UserError(f"--config {name!r}: no such config; choose one of "
                                f"{', '.join(named_configs())} or give a path to a config file")
            arg = f"--config={value}"
        out.append(arg)
        i += 1
    return out


def _flags():
    """The absl flags of this command, defined once per process."""
    from absl import flags
    from ml_collections import config_flags

    if "workdir" not in flags.FLAGS:
        config_flags.DEFINE_config_file("config", None, "Training configuration.",
                                        lock_config=True)
        flags.DEFINE_string("workdir", None, "Folder of the run (checkpoints, logs, results).")
        # JAX's names (jax.distributed.initialize) for the multi-process flags.
        flags.DEFINE_string("coordinator_address", None,
                            "HOST:PORT of process 0's coordinator (multi-process runs).")
        flags.DEFINE_integer("num_processes", None, "Number of training processes.")
        flags.DEFINE_integer("process_id", None, "This process's number, 0..num_processes-1.")
        flags.DEFINE_integer("distributed_timeout", DEFAULT_TIMEOUT_S,
                             "Seconds to wait for every process to join the run.")
    return flags


def _missing_field(error: Exception) -> str:
    """ml_collections' "'num_step'\\nDid you mean "num_steps" instead of "num_step"?" as a
    sentence: the config has no field 'num_step' (did you mean 'num_steps'?)."""
    # The message arrives quoted once or twice over (a KeyError inside an AttributeError).
    text = str(error.args[0] if error.args else error)
    name = re.search(r"[A-Za-z_][\w.]*", text).group(0)
    hint = re.search(r'Did you mean \\*"([^"\\]+)', text)
    return f"the config has no field {name!r}" + (f" (did you mean {hint.group(1)!r}?)"
                                                   if hint else "")


def _check_tuple_syntax(argv: Sequence[str]) -> None:
    """``--config.phases=1`` would silently become (1,): ask for the tuple the user means."""
    for arg in argv:
        flag, eq, value = arg.partition("=")
        if flag in TUPLE_FIELDS and eq and not value.strip().startswith(("(", "[")):
            raise UserError(f"{flag}={value}: give a tuple, e.g. {flag}='({value.strip()},)' "
                            "for that one value")


def parse(argv: Sequence[str], prog: str):
    """(config, workdir) from the command line; UserError for every mistake, one line."""
    flags = _flags()
    if not argv or any(a in ("-h", "--help", "--helpfull") for a in argv):
        print(_help(prog))
        raise SystemExit(0 if argv else 2)
    argv = resolve_config_arg(argv)
    _check_tuple_syntax(argv)
    try:
        flags.FLAGS([prog, *argv])
    except flags.Error as e:
        raise UserError(f"{e}; see {prog} --help") from None
    except (AttributeError, KeyError) as e:  # ml_collections: an override of a missing field
        raise UserError(f"{_missing_field(e)}; every field is listed in {FIELDS_DOC}") from None
    for name in ("config", "workdir"):
        if flags.FLAGS[name].value is None:
            raise UserError(f"--{name} is required; see {prog} --help")
    return flags.FLAGS.config, flags.FLAGS.workdir


def distributed_args(config) -> dict | None:
    """jax.distributed.initialize's arguments from the flags; None for a single process.

    All three flags, or none with ``--config.multihost=True`` (auto-detection; any flag
    given then overrides what is detected).
    """
    from absl import flags

    given = {name: flags.FLAGS[name].value for name in DISTRIBUTED_FLAGS
             if flags.FLAGS[name].value is not None}
    if not given and not config.multihost:
        return None
    missing = [f"--{name}" for name in DISTRIBUTED_FLAGS if name not in given]
    if missing and not config.multihost:
        raise UserError(f"{', '.join(missing)} missing: a multi-process run needs "
                        "--coordinator_address, --num_processes and --process_id (or "
                        "--config.multihost=True to detect them on SLURM, Open MPI, TPU)")
    return given | {"timeout_s": flags.FLAGS.distributed_timeout}


def main(argv: Sequence[str] | None = None, prog: str = "bokeh-jax train") -> int:
    from absl import logging

    config, workdir = parse(sys.argv[1:] if argv is None else argv, prog)
    dist = distributed_args(config)
    logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
    from bokeh_jax.train import multihost
    from bokeh_jax.train.trainer import train_and_evaluate  # jax, TFDS: after the flags

    enable_compilation_cache()
    if dist is None:
        train_and_evaluate(config, workdir)
        return 0
    multihost.connect(**dist)
    try:
        train_and_evaluate(config, workdir)
    except BaseException as e:  # noqa: BLE001 - every way out of a multi-process run
        _exit_at_once(e)
    return 0


def _exit_at_once(error: BaseException) -> None:
    """Reports ``error`` as run_main would and ends the process now: a normal exit would
    wait in JAX's exit barrier for processes that wait for this one (see multihost)."""
    import traceback

    from bokeh_jax.train import multihost

    if isinstance(error, (UserError, KeyboardInterrupt)):
        code = report(error)
    elif isinstance(error, SystemExit):
        code = error.code if isinstance(error.code, int) else 1
    else:
        traceback.print_exception(error)
        code = 1
    multihost.exit_now(code)
