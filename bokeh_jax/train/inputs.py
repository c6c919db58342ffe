"""The data a training run reads, from its config: the dataset (built on demand), the loaders."""

from __future__ import annotations

import ml_collections

from bokeh_jax.data import pipeline
from bokeh_jax.data.catalog import PreparedDataset
from bokeh_jax.data.prepare import prepare_synthetic
from bokeh_jax.names import SYNTHETIC


def dataset(config: ml_collections.ConfigDict) -> str | PreparedDataset:
    """The dataset name (or prepared handle) for the pipeline; builds synthetic_bokeh if needed."""
    if config.dataset == SYNTHETIC:
        return prepare_synthetic(data_dir=config.data_dir or None, **config.synthetic.to_dict())
    return config.dataset


def train_loader(config: ml_collections.ConfigDict, data, num_devices: int):
    """The phase's training batches, (devices, per-device batch, H, W, 3), resumable."""
    return pipeline.make_train_loader(
        data, config.train_split, data_dir=config.data_dir or None,
        global_batch_size=config.global_batch_size, resolution=tuple(config.resolution),
        num_devices=num_devices, seed=config.seed, num_workers=config.num_workers)


def val_examples(config: ml_collections.ConfigDict, data):
    """The validation split, full-size images (eval.py's protocol)."""
    return pipeline.eval_examples(data, config.val_split, data_dir=config.data_dir or None)
