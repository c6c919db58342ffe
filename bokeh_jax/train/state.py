"""The train state and the optimizer: Adam with the phase's learning-rate schedule."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import struct

from bokeh_jax import model_io
from bokeh_jax.models import BokehNet


class TrainState(struct.PyTreeNode):
    """Everything a step changes. Pure data: the optimizer lives in the step's closure."""

    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any


def learning_rate(config: ml_collections.ConfigDict) -> optax.Schedule:
    """Geometric decay from ``lr_start`` to ``lr_end`` over the phase's steps.

    The paper: Adam, "learning rate starts at 1e-3 and is decreased gradually to 1e-5";
    the shape of the decrease is not given. Our phases chain 1e-3 -> 2e-4 -> 5e-5 -> 1e-5,
    each decaying geometrically (a straight line on a log scale), with an optional warm-up.
    """
    decay = optax.exponential_decay(
        config.lr_start, transition_steps=max(1, config.num_steps - config.warmup_steps),
        decay_rate=config.lr_end / config.lr_start)
    if config.warmup_steps <= 0:
        return decay
    warmup = optax.linear_schedule(config.lr_start * 0.01, config.lr_start, config.warmup_steps)
    return optax.join_schedules([warmup, decay], [config.warmup_steps])


def make_optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
    """Adam (betas not given by the paper: we use (0.9, 0.999)) with gradient clipping."""
    chain = []
    if config.grad_clip_norm:
        chain.append(optax.clip_by_global_norm(config.grad_clip_norm))
    chain.append(optax.adam(learning_rate(config), b1=config.adam_b1, b2=config.adam_b2))
    return optax.chain(*chain)


def make_model(config: ml_collections.ConfigDict) -> BokehNet:
    return model_io.model_from_metadata(config)


def _lecun_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Flax's default kernel init: truncated normal (+-2 std), variance 1/fan_in."""
    std = np.sqrt(1.0 / int(np.prod(shape[:-1]))) / 0.87962566103423978  # truncation
    x = rng.standard_normal(shape)
    bad = np.abs(x) > 2
    while bad.any():
        x[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(x) > 2
    return (x * std).astype(np.float32)


def init_variables(model: BokehNet, seed: int) -> dict:
    """Random weights for every layer, as Flax's defaults would draw them.

    Filled leaf by leaf in numpy from the variables' shapes: running the network's init
    costs a ~16 s XLA compile on a 2-core CPU for no benefit. Kernels: LeCun normal;
    biases 0; BatchNorm scale 1, bias 0, running mean 0 and variance 1.
    """
    abstract = model_io.abstract_variables(model)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(abstract)
    rng = np.random.default_rng(seed)
    values = []
    for path, leaf in leaves:
        collection, name = path[0].key, path[-1].key
        if collection == "params" and name == "kernel":
            values.append(_lecun_normal(rng, leaf.shape))
        elif name in ("scale", "var"):
            values.append(np.ones(leaf.shape, np.float32))
        else:
            values.append(np.zeros(leaf.shape, np.float32))
    return jax.tree_util.tree_unflatten(treedef, values)


def create_state(variables: dict, tx: optax.GradientTransformation) -> TrainState:
    params = variables["params"]
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      batch_stats=variables["batch_stats"], opt_state=tx.init(params))
