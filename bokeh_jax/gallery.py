"""``python -m bokeh_jax.gallery``: the same command as ``bokeh-jax gallery``.

The gallery is :mod:`bokeh_jax.render.gallery`.
"""

import sys

from bokeh_jax.cli import run_main
from bokeh_jax.render.gallery import main

if __name__ == "__main__":
    sys.exit(run_main(main))
