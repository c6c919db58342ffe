"""The train state and the optimizer: Adam with the phase's learning-rate schedule."""

from __future__ import annotations

import math
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


# Every config field make_optimizer (and learning_rate) reads: equal values, equal optimizer.
OPTIMIZER_FIELDS = ("lr_start", "lr_end", "num_steps", "warmup_steps", "grad_clip_norm",
                    "adam_b1", "adam_b2")


def optimizer_settings(config: ml_collections.ConfigDict) -> tuple:
    """The optimizer's settings as a hashable tuple of (field, value) pairs."""
    return tuple((k, config[k]) for k in OPTIMIZER_FIELDS)


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


# The standard deviation of a standard normal truncated to [-2, 2]: Flax's
# variance_scaling divides by it so a truncated draw keeps the variance asked for.
_TRUNCATED_STD = 0.87962566103423978


def _lecun_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Flax's ``lecun_normal()``: a normal truncated at 2 sigma, variance 1/fan_in, with
    fan_in = prod(shape[:-1]) (kernel (k,k,Ci,Co) or (Ci,Co))."""
    values = rng.standard_normal(int(np.prod(shape)))
    while (out := np.abs(values) > 2).any():  # rejection: redraw what falls outside
        values[out] = rng.standard_normal(int(out.sum()))
    std = math.sqrt(1.0 / int(np.prod(shape[:-1]))) / _TRUNCATED_STD
    return (values * std).astype(np.float32).reshape(shape)


def init_variables(model: BokehNet, seed: int) -> dict:
    """Random weights for every layer, from the distributions Flax's initialisers use.

    Drawn on the host with numpy, leaf by leaf from the variables' shapes: running the
    network's init costs a ~16 s XLA compile on a 2-core CPU, and JAX's own initialisers
    compile one program per kernel shape (30 shapes, ~24 s), all for no benefit. Kernels:
    LeCun normal (the initialiser of :class:`bokeh_jax.network.models.Conv` and of the
    random head); biases 0; BatchNorm scale 1, bias 0, running mean 0 and variance 1.
    """
    abstract = checkpoint.abstract_variables(model)
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
