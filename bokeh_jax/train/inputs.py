"""The data a training run reads, from its config: the dataset (built on demand), the loaders."""

from __future__ import annotations

import grain
import ml_collections

from bokeh_jax.data import pipeline
from bokeh_jax.data.catalog import PreparedDataset
from bokeh_jax.data.prepare import prepare_synthetic
from bokeh_jax.names import SYNTHETIC
from bokeh_jax.train import multihost


def dataset(config: ml_collections.ConfigDict) -> str | PreparedDataset:
    """The dataset name (or prepared handle) for the pipeline; builds synthetic_bokeh if needed.

    In a multi-process run process 0 builds it while the others wait, then they open the
    finished build: no two processes ever write the same TFDS folder.
    """
    if config.dataset != SYNTHETIC:
        return config.dataset
    settings = dict(data_dir=config.data_dir or None, **config.synthetic.to_dict())
    return multihost.main_first(
        lambda: prepare_synthetic(**settings),
        others=lambda: prepare_synthetic(**settings, progress=False, log=lambda *a: None),
        what="building the synthetic dataset")


def blend_resolution(config: ml_collections.ConfigDict) -> tuple[int, int]:
    """(H, W) a phase's pairs are read and blended at: ``blend_resolution``, else the
    network's ``resolution``."""
    return tuple(config.get("blend_resolution") or config.resolution)


def net_size(config: ml_collections.ConfigDict) -> tuple[int, int] | None:
    """The network's (H, W) when the step must resize the pairs to it, else None."""
    res = tuple(config.resolution)
    return None if blend_resolution(config) == res else res


def train_loader(config: ml_collections.ConfigDict, data, num_devices: int):
    """This process's share of the phase's training batches, (local devices, per-device
    batch, H, W, 3) at :func:`blend_resolution`, resumable; the processes together read
    each global batch once."""
    return pipeline.make_train_loader(
        data, config.train_split, data_dir=config.data_dir or None,
        global_batch_size=config.global_batch_size, resolution=blend_resolution(config),
        num_devices=num_devices, seed=config.seed, num_workers=config.num_workers,
        shard_options=grain.sharding.ShardByJaxProcess(),
        focus_labels=float(config.get("focus_loss_weight", 0.0)) > 0)


def val_examples(config: ml_collections.ConfigDict, data):
    """The validation split, full-size images (eval.py's protocol)."""
    return pipeline.eval_examples(data, config.val_split, data_dir=config.data_dir or None)
