"""Scores a checkpoint with the paper's protocol: ``bokeh-jax eval`` as a script.

    python eval.py --checkpoint runs/demo/phase3 --pairs-dir ../shared/data/ebb_samples

See ``python eval.py --help`` and :mod:`bokeh_jax.evaluation.cli`.
"""

import sys

from bokeh_jax.cli import run_main
from bokeh_jax.evaluation.cli import main

if __name__ == "__main__":
    sys.exit(run_main(lambda argv: main(argv, prog="python eval.py"), sys.argv[1:]))
