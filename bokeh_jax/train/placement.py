"""Putting the train state on the local devices exactly as ``jax.pmap`` returns it.

Since JAX 0.8, ``jax.pmap`` is ``jit`` of a ``shard_map`` over a mesh whose one axis is the
pmap's ``axis_name``; its outputs carry ``NamedSharding(Mesh(devices, (axis_name,)),
P(axis_name))``. ``jit`` keys its compiled programs on the inputs' shardings, so a state
replicated any other way (``flax.jax_utils.replicate`` uses ``jax.device_put_replicated``,
whose mesh axis is called ``"_device_put_replicated"``) makes step 1 and step 2 two
different programs: the whole train step traced and compiled twice in every run, and two
entries in the persistent cache. :func:`replicate` gives the state the step's own output
sharding, so the first step's program is the one every later step reuses.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


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


__all__ = ["pmap_sharding", "replicate"]
