"""The paper's one-kernel ablation: the photo and a single Gaussian blur, all three phases.

    python train.py --config ablation_1kernel --workdir runs/ablation_1kernel \\
        --config.init_checkpoint=megadepth.pth

Our copy of the paper does not give the single kernel's size; we use 45, the middle of
the final model's three.
"""

from bokeh_jax.configs import common


def get_config():
    config = common.get_config()
    config.kernel_sizes = (45,)
    config.phases = (1, 2, 3)
    return config
