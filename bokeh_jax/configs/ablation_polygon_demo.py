"""``ablation_polygon`` at the demo's size: the demo's data, steps and seed, hexagonal copies.

    python train.py --config ablation_polygon_demo --workdir runs/ablation/polygon

See ``ablation_disk_demo``.
"""

from bokeh_jax.configs import demo


def get_config():
    config = demo.get_config()
    config.aperture = "polygon"
    config.blades = 6
    config.rotation = 0.0
    config.render_at_end = False
    return config
