"""``ablation_disk`` at the demo's size: the demo's data, steps and seed, disk-blurred copies.

    python train.py --config ablation_disk_demo --workdir runs/ablation/disk

Compared with ``demo`` (Gaussian) and ``ablation_polygon_demo`` at equal steps from the
same seed by ``python experiments/aperture_ablation.py`` (README, "Aperture ablation").
Minutes on a 2-core CPU; evaluates on the synthetic validation split at the end.
"""

from bokeh_jax.configs import demo


def get_config():
    config = demo.get_config()
    config.aperture = "disk"
    config.render_at_end = False
    return config
