"""The pmapped train step, and the train state on the local devices as ``jax.pmap`` returns it.

Since JAX 0.8, ``jax.pmap`` is ``jit`` of a ``shard_map`` over a mesh whose one axis is the
pmap's ``axis_name``; its outputs carry ``NamedSharding(Mesh(devices, (axis_name,)),
P(axis_name))``. ``jit`` keys its compiled programs on the inputs' shardings, so a state
replicated any other way (``flax.jax_utils.replicate`` uses ``jax.device_put_replicated``,
whose mesh axis is called ``"_device_put_replicated"``) makes step 1 and step 2 two
different programs: the whole train step traced and compiled twice in every run, and two
entries in the persistent cache. :func:`replicate` gives the state the step's own output
sharding, so the first step's program is the one every later step reuses.

:func:`parallel_step` keeps one pmapped step per settings in a process, so another run
with the same settings (a resumed run, the tests' many short runs) reuses its trace and
compiled program instead of tracing the step again (~4 s on a 2-core CPU).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from bokeh_jax.network.models import BokehNet
from bokeh_jax.train import state as state_lib
from bokeh_jax.train.step import make_train_step


def pmap_sharding(devices: Sequence[jax.Device], axis_name: str) -> NamedSharding:
    """The sharding ``jax.pmap(..., axis_name=axis_name)`` gives its outputs on ``devices``
    (one process: the first ``len(devices)`` of ``jax.devices()``)."""
    return NamedSharding(Mesh(np.asarray(devices), (axis_name,)), PartitionSpec(axis_name))


def replicate(tree, devices: Sequence[jax.Device], axis_name: str):
    """One copy of every leaf of ``tree`` per device, stacked on a new leading axis, placed
    with :func:`pmap_sharding`. Leaves keep their dtype; weak types are dropped (a pmap
    output is never weakly typed either)."""
    sharding = pmap_sharding(devices, axis_name)

    def put(leaf):
        leaf = np.asarray(leaf)
        shards = [jax.device_put(leaf[None], d) for d in devices]
        return jax.make_array_from_single_device_arrays((len(devices), *leaf.shape),
                                                        sharding, shards)

    return jax.tree.map(put, tree)


@functools.lru_cache(maxsize=8)
def parallel_step(model: BokehNet, optimizer: tuple, loss: str, bn_mode: str,
                  axis_name: str, net_hw: tuple[int, int] | None = None,
                  focus_weight: float = 0.0) -> Callable:
    """``jax.pmap`` of :func:`~bokeh_jax.train.step.make_train_step` over all local devices,
    the state donated. ``optimizer``: :func:`~bokeh_jax.train.state.optimizer_settings`;
    ``net_hw``: the network's size when the pairs are blended at a larger one;
    ``focus_weight``: the focus loss's weight (0: the paper's loss)."""
    tx = state_lib.make_optimizer(ml_collections.ConfigDict(dict(optimizer)))
    step = make_train_step(model, tx, loss=loss, bn_mode=bn_mode, axis_name=axis_name,
                           net_hw=net_hw, focus_weight=focus_weight)
    return jax.pmap(step, axis_name=axis_name, donate_argnums=(0,))


__all__ = ["parallel_step", "pmap_sharding", "replicate"]
