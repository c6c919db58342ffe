"""Phase 2 of the paper's recipe on EBB! (see common.py for the settings).

    python train.py --config phase2 --workdir runs/ebb
"""

from bokeh_jax.configs import common


def get_config():
    config = common.get_config()
    config.phases = (2,)
    return config
