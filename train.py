"""Trains the bokeh network in the paper's three phases: ``bokeh-jax train`` as a script.

    python train.py --config demo --workdir runs/demo

See ``python train.py --help`` and :mod:`bokeh_jax.train.cli`.
"""

import sys

from bokeh_jax.cli import run_main
from bokeh_jax.train.cli import main

if __name__ == "__main__":
    sys.exit(run_main(lambda argv: main(argv, prog="python train.py"), sys.argv[1:]))
