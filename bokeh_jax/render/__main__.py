"""``python -m bokeh_jax.render``: the same command as ``bokeh-jax render``."""

import sys

from bokeh_jax.cli import run_main
from bokeh_jax.render.cli import main

sys.exit(run_main(main))
