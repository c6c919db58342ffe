"""``python -m bokeh_jax.convert``: the same command as ``bokeh-jax convert``.

The converter is :mod:`bokeh_jax.network.convert`.
"""

import sys

from bokeh_jax.cli import run_main
from bokeh_jax.network.convert import main

if __name__ == "__main__":
    sys.exit(run_main(main))
