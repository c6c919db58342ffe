"""Phase 1 of the paper's recipe on EBB! (see common.py for the settings).

    python train.py --config phase1 --workdir runs/ebb --config.init_checkpoint=megadepth_jax/
"""

from bokeh_jax.configs import common


def get_config():
    config = common.get_config()
    config.phases = (1,)
    return config
