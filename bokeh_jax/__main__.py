"""``python -m bokeh_jax``: the same as the ``bokeh-jax`` console script."""

from bokeh_jax.cli import console_main

console_main()
