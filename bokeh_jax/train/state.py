"""The train state and the optimizer: Adam with the phase's learning-rate schedule."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import struct

from bokeh_jax.network import checkpoint
from bokeh_jax.network.models import BokehNet


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
    """The config's network, computing in ``config.dtype`` (float32 parameters either way)."""
    return checkpoint.model_from_metadata(config, dtype=config.get("dtype", "float32"))


def init_variables(model: BokehNet, seed: int) -> dict:
    """Random weights for every layer, drawn as Flax's initialisers draw them.

    Filled leaf by leaf from the variables' shapes, op by op: running the network's init
    costs a ~16 s XLA compile on a 2-core CPU for no benefit. Kernels: LeCun normal (the
    initialiser of :class:`bokeh_jax.network.models.Conv` and of the random head); biases 0;
    BatchNorm scale 1, bias 0, running mean 0 and variance 1.
    """
    abstract = checkpoint.abstract_variables(model)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(abstract)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    lecun = jax.nn.initializers.lecun_normal()
    values = []
    for key, (path, leaf) in zip(keys, leaves, strict=True):
        collection, name = path[0].key, path[-1].key
        if collection == "params" and name == "kernel":
            values.append(np.asarray(lecun(key, leaf.shape, jnp.float32)))
        elif name in ("scale", "var"):
            values.append(np.ones(leaf.shape, np.float32))
        else:
            values.append(np.zeros(leaf.shape, np.float32))
    return jax.tree_util.tree_unflatten(treedef, values)


def create_state(variables: dict, tx: optax.GradientTransformation) -> TrainState:
    params = variables["params"]
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      batch_stats=variables["batch_stats"], opt_state=tx.init(params))
