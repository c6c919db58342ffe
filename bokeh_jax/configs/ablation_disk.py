"""The paper's future work as an ablation: the same recipe with disk-blurred copies.

    python train.py --config ablation_disk --workdir runs/ablation_disk \\
        --config.init_checkpoint=megadepth.pth

The paper (Sec. 5) names disk blur, the shape a real lens gives an out-of-focus point, as
future work. Everything but the copies' kernel is the final model's recipe: kernels
25/45/75 (disks of radius 12, 22, 37), three phases. CPU-sized: ``ablation_disk_demo``.
"""

from bokeh_jax.configs import common


def get_config():
    config = common.get_config()
    config.aperture = "disk"
    config.phases = (1, 2, 3)
    return config
