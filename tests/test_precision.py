"""Mixed precision: bfloat16 activations with float32 parameters, statistics, losses, blend.

The float32 network is the reference: the bfloat16 one must stay close to it (bfloat16
keeps 8 bits of mantissa, so ~0.4% per rounding) while really computing in bfloat16.
"""

from __future__ import annotations

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY_KERNELS, TINY_LEVELS, TINY_RESOLUTION, sample_photo

from bokeh_jax.configs import common
from bokeh_jax.errors import UserError
from bokeh_jax.inference.model import load_model
from bokeh_jax.network.models import BokehNet
from bokeh_jax.train import placement
from bokeh_jax.train import state as state_lib
from bokeh_jax.train.trainer import AXIS, phase_config

H, W = TINY_RESOLUTION


@pytest.fixture(scope="module")
def images():
    return np.stack([sample_photo("astronaut", H, W), sample_photo("chelsea", H, W)])


@pytest.fixture(scope="module")
def models(tiny_ckpt):
    return load_model(tiny_ckpt), load_model(tiny_ckpt, dtype="bfloat16")


def _conv_dtypes(module: BokehNet, variables, images) -> set[str]:
    jaxpr = jax.make_jaxpr(lambda v, x: module.apply(v, x, method=BokehNet.maps))(
        variables, images)
    found = set()

    def walk(jp):
        for eqn in jp.eqns:
            if eqn.primitive.name in ("conv_general_dilated", "dot_general"):
                found.add(str(eqn.invars[0].aval.dtype))
            for sub in jax.extend.core.jaxprs_in_params(eqn.params):
                walk(sub)

    walk(jaxpr.jaxpr)
    return found


def test_bfloat16_forward_is_close_to_float32_and_really_bfloat16(models, images):
    f32, bf16 = models
    assert _conv_dtypes(f32.module, f32.variables, images) == {"float32"}
    assert _conv_dtypes(bf16.module, bf16.variables, images) == {"bfloat16"}
    w32, w16 = np.asarray(f32.weights(images)), np.asarray(bf16.weights(images))
    assert w16.dtype == np.float32  # Eq. 2's softmax runs in float32
    np.testing.assert_allclose(w16.sum(-1), 1.0, atol=1e-5)
    diff = np.abs(w16 - w32)
    # Measured: max 1.1e-3, mean 1.9e-4 (random weights, the 1-level tiny network, 32x48).
    assert 0 < diff.max() < 0.01 and diff.mean() < 0.001, (diff.max(), diff.mean())
    d32, d16 = f32.predict_depth(images), bf16.predict_depth(images)
    assert d16.dtype == jnp.float32
    scale = float(jnp.std(d32))
    assert 0 < float(jnp.max(jnp.abs(d16 - d32))) < 0.1 * scale  # measured: 0.04 * scale


def test_one_bfloat16_train_step_keeps_float32_state(images):
    # The trainer's pmapped step with the test suite's tiny phase (tests/test_train.py), as
    # bench/device_check.py --small times it: one bfloat16 program traced for both.
    config = common.get_config()
    config.kernel_sizes = TINY_KERNELS
    config.hourglass_levels = TINY_LEVELS
    config.dtype = "bfloat16"
    config.phase1.update(resolution=TINY_RESOLUTION, global_batch_size=4, num_steps=20,
                         lr_start=1e-3, lr_end=1e-4)
    pc = phase_config(config, 1)
    model, tx = state_lib.make_model(pc), state_lib.make_optimizer(pc)
    assert model.dtype == "bfloat16"
    state = state_lib.create_state(state_lib.init_variables(model, 0), tx)
    rng = np.random.default_rng(0)
    batch = np.concatenate([images, images[::-1]])[None]  # (1 device, 4, H, W, 3)
    target = np.clip(batch + 0.05 * rng.standard_normal(batch.shape), 0, 1).astype(np.float32)
    step = placement.parallel_step(model, state_lib.optimizer_settings(pc), "l1", "train", AXIS)
    devices = jax.local_devices()[:1]
    new, metrics = step(placement.replicate(state, devices, AXIS),
                        {"original": batch, "bokeh": target})
    # Read back on the host: a jnp op per leaf would compile programs per leaf shape.
    new, metrics = jax.tree.map(lambda x: np.asarray(x)[0], (new, metrics))
    assert np.isfinite(float(metrics["loss"])) and float(metrics["grad_norm"]) > 0
    assert metrics["loss"].dtype == jnp.float32
    for tree in (new.params, new.batch_stats, new.opt_state):
        assert {str(x.dtype) for x in jax.tree.leaves(tree) if x.ndim} == {"float32"}
    moved = max(float(np.max(np.abs(a - np.asarray(b)))) for a, b in
                zip(jax.tree.leaves(new.params), jax.tree.leaves(state.params), strict=True))
    assert moved > 1e-4  # the update reached the float32 parameters
    stats = max(float(np.max(np.abs(a - np.asarray(b)))) for a, b in
                zip(jax.tree.leaves(new.batch_stats), jax.tree.leaves(state.batch_stats),
                    strict=True))
    assert stats > 0  # BatchNorm statistics were updated (in float32)


def test_unknown_dtype_is_refused(tiny_ckpt):
    with pytest.raises(ValueError, match="use one of float32, bfloat16"):
        load_model(tiny_ckpt, dtype="float16")
    config = common.get_config()
    config.dtype = "half"
    from bokeh_jax.train.config_check import check_config

    with pytest.raises(UserError, match="--config.dtype='half': use one of float32, bfloat16"):
        check_config(config, num_devices=1)
