"""Trains the bokeh network in the paper's three phases.

    python train.py --config phase1 --workdir runs/ebb --config.init_checkpoint=megadepth_jax/
    python train.py --config phase2 --workdir runs/ebb
    python train.py --config demo --workdir runs/demo      # all three phases on synthetic data

--config takes a name from configs/ or a path to a config file; any field can be overridden
(--config.phase1.num_steps=100). Running the same command again resumes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from absl import app, flags, logging
from ml_collections import config_flags

REPO = Path(__file__).resolve().parent


def _resolve_config_arg(argv: list[str]) -> list[str]:
    """`--config phase1` / `--config=demo` -> the file in configs/ (paths pass through)."""
    out, i = [], 0
    while i < len(argv):
        arg = argv[i]
        value = None
        if arg == "--config" and i + 1 < len(argv):
            value, i = argv[i + 1], i + 1
        elif arg.startswith("--config="):
            value = arg.split("=", 1)[1]
        if value is not None:
            name = value.split(":", 1)[0]
            if not name.endswith(".py") and (REPO / "configs" / f"{name}.py").is_file():
                value = str(REPO / "configs" / f"{name}.py") + value[len(name):]
            elif not Path(name).is_file():
                known = sorted(p.stem for p in (REPO / "configs").glob("*.py")
                               if p.stem not in ("__init__", "common"))
                print(f"error: --config {name!r}: no such config; choose one of "
                      f"{', '.join(known)} or give a path to a config file", file=sys.stderr)
                sys.exit(2)
            arg = f"--config={value}"
        out.append(arg)
        i += 1
    return out


config_flags.DEFINE_config_file("config", None, "Training configuration (configs/NAME.py).",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Folder of the run (checkpoints, logs, results).")
flags.mark_flags_as_required(["config", "workdir"])


def _parse_flags(argv: list[str]) -> list[str]:
    """absl's parser, with its errors as one line and exit code 2 (no usage dump)."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        message = f"error: {e}"
    except (AttributeError, KeyError) as e:  # ml_collections: an override of a missing field
        message = (f"error: the config has no field {str(e).strip(chr(34))}; every field is "
                   "listed in configs/common.py")
    print(message, file=sys.stderr)
    sys.exit(2)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
    from bokeh_jax.cli import enable_compilation_cache, run_main
    from bokeh_jax.train.trainer import train_and_evaluate

    enable_compilation_cache()
    config = flags.FLAGS.config
    return run_main(lambda _: train_and_evaluate(config, flags.FLAGS.workdir) and 0)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))  # configs/ import configs.common
    app.run(main, argv=_resolve_config_arg(sys.argv), flags_parser=_parse_flags)
