"""Pure train and evaluation steps (no pmap here: :mod:`bokeh_jax.train.trainer` wraps them).

A step is a function of (state, batch) returning (state, metrics); it draws no randomness
(the flips happen in the input pipeline), so like flax's imagenet step it takes no key. The
data-parallel
reduction (``lax.pmean`` of gradients, BatchNorm statistics and metrics over ``axis_name``)
happens inside it, so the same function runs on one device (``axis_name=None``) or under
``jax.pmap``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from bokeh_jax.evaluation import metrics
from bokeh_jax.network.models import BokehNet, BokehOutput
from bokeh_jax.train.state import TrainState

LOSSES = ("l1", "ssim")
BN_MODES = ("train", "frozen")


def loss_value(kind: str, rendered: jax.Array, target: jax.Array) -> jax.Array:
    """Phases 1-2: L1. Phase 3: negative SSIM (dm-pix's 11x11 Gaussian SSIM)."""
    if kind == "l1":
        return jnp.mean(jnp.abs(rendered - target))
    if kind == "ssim":
        return -jnp.mean(metrics.ssim_gaussian(rendered, target))
    raise ValueError(f"unknown loss {kind!r}; choose one of {LOSSES}")


def focus_bce(sharp_weight: jax.Array, label: jax.Array) -> jax.Array:
    """The focus loss: binary cross-entropy of the sharp weight w_0 (Eq. 2) against the focus
    labels (1 in focus, 0 out, -1 left out; :mod:`bokeh_jax.data.focus_labels`), averaged
    over the labelled pixels (0 when there are none)."""
    w0 = jnp.clip(sharp_weight, 1e-6, 1 - 1e-6)
    known = label >= 0
    bce = -(label * jnp.log(w0) + (1 - label) * jnp.log1p(-w0))
    return jnp.sum(jnp.where(known, bce, 0.0)) / jnp.maximum(jnp.sum(known), 1)


def _pmean(tree, axis_name: str | None):
    return tree if axis_name is None else jax.lax.pmean(tree, axis_name)


def _forward_fullres(model: BokehNet, variables: dict, original: jax.Array,
                     net_hw: tuple[int, int], train: bool):
    """The "fullres" policy's render, differentiable: the network sees ``original`` resized
    to ``net_hw`` (bilinear, antialiased: the filter inference resizes photos with,
    :mod:`bokeh_jax.inference.resample`), its weights are upsampled bilinearly (they still
    sum to 1) and Eq. 1 blends the full-size pair, whose kernels then mean the same pixels
    as on a full-size photo. Returns (BokehOutput at full size, new BatchNorm statistics:
    the batch's with ``train``, else the given ones)."""
    n, h, w, c = original.shape
    small = jax.image.resize(original, (n, *net_hw, c), "linear", antialias=True)
    if train:
        (weights, log_depth), updates = model.apply(variables, small, train=True,
                                                    method=BokehNet.maps,
                                                    mutable=["batch_stats"])
        stats = updates["batch_stats"]
    else:
        weights, log_depth = model.apply(variables, small, method=BokehNet.maps)
        stats = variables["batch_stats"]
    weights = jax.image.resize(weights, (n, h, w, weights.shape[-1]), "linear")
    return BokehOutput(model.blend(original, weights), weights, log_depth), stats


def make_train_step(model: BokehNet, tx: optax.GradientTransformation, *, loss: str,
                    bn_mode: str, axis_name: str | None = None,
                    net_hw: tuple[int, int] | None = None,
                    focus_weight: float = 0.0) -> Callable:
    """Builds ``train_step(state, batch) -> (state, metrics)``.

    batch: {"original", "bokeh"}: (B,H,W,3) float32 in [0,1] (the per-device batch).
    bn_mode "train" updates BatchNorm statistics from the batch (as PyTorch's training mode;
    averaged over devices), "frozen" keeps the converted running statistics.
    net_hw: None trains as the paper does, network and blend at the batch's size. (H, W)
    runs the network at that size and blends and scores the batch at its own (larger)
    size, as the "fullres" test policy renders a photo (config ``blend_resolution``).
    focus_weight: > 0 adds that times :func:`focus_bce` of the sharp weight (at the blend
    size) to the loss; the batch then carries "focus" (B,H,W) labels (config
    ``focus_loss_weight``; synthetic pairs only). 0 is the paper's loss.
    """
    if bn_mode not in BN_MODES:
        raise ValueError(f"unknown bn_mode {bn_mode!r}; use 'train' or 'frozen'")
    train_bn = bn_mode == "train"

    def loss_fn(params, batch_stats, batch):
        variables = {"params": params, "batch_stats": batch_stats}
        if net_hw is not None:
            out, new_stats = _forward_fullres(model, variables, batch["original"],
                                              tuple(net_hw), train_bn)
        elif train_bn:
            out, updates = model.apply(variables, batch["original"], train=True,
                                       mutable=["batch_stats"])
            new_stats = updates["batch_stats"]
        else:
            out, new_stats = model.apply(variables, batch["original"]), batch_stats
        value = loss_value(loss, out.bokeh, batch["bokeh"])
        aux = {}
        if focus_weight:
            aux["focus_bce"] = focus_bce(out.weights[..., 0], batch["focus"])
            value = value + focus_weight * aux["focus_bce"]
        return value, (out, new_stats, aux)

    def train_step(state: TrainState, batch: dict):
        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
        (value, (out, new_stats, aux)), grads = grad_fn(state.params, state.batch_stats, batch)
        grads = _pmean(grads, axis_name)
        new_stats = _pmean(new_stats, axis_name)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        step_metrics = {
            "loss": value,
            "l1": jnp.mean(jnp.abs(out.bokeh - batch["bokeh"])),
            "grad_norm": optax.tree.norm(grads),
            "weight_sharp": jnp.mean(out.weights[..., 0]),
        } | aux
        new_state = state.replace(step=state.step + 1, params=params, batch_stats=new_stats,
                                  opt_state=opt_state)
        return new_state, _pmean(step_metrics, axis_name)

    return train_step
