"""The paper's kernels-5/25/45 ablation, all three phases.

    python train.py --config ablation_5_25_45 --workdir runs/ablation_5_25_45 \\
        --config.init_checkpoint=megadepth.pth
"""

from bokeh_jax.configs import common


def get_config():
    config = common.get_config()
    config.kernel_sizes = (5, 25, 45)
    config.phases = (1, 2, 3)
    return config
