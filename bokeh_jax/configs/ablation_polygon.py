"""The aperture ablation with a hexagonal (six-blade) aperture instead of a disk.

    python train.py --config ablation_polygon --workdir runs/ablation_polygon \\
        --config.init_checkpoint=megadepth.pth

As ``ablation_disk``, with the copies blurred by a regular hexagon (circumradius 12, 22,
37; a vertex up): the shape of a lens stopped down with six straight blades.
CPU-sized: ``ablation_polygon_demo``.
"""

from bokeh_jax.configs import common


def get_config():
    config = common.get_config()
    config.aperture = "polygon"
    config.blades = 6
    config.rotation = 0.0
    config.phases = (1, 2, 3)
    return config
