"""``python -m bokeh_jax.app``: the same command as ``bokeh-jax app``."""

import sys

from bokeh_jax.app.cli import main
from bokeh_jax.cli import run_main

sys.exit(run_main(main))
