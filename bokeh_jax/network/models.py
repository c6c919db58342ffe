"""The MegaDepth hourglass (Li & Snavely, CVPR 2018) and the bokeh network (Dutta, 2021).

Flax Linen, NHWC. The architecture is described once, as data (:data:`LEVELS`), and both
the modules below and the checkpoint converter (:mod:`bokeh_jax.network.convert`) read it, so the
network and its PyTorch key table cannot drift apart.

Layout of the parameters (``params`` and ``batch_stats`` collections)::

    trunk/conv0, trunk/bn0           7x7 conv 3->128 + affine BN (PyTorch ``0``, ``1``)
    trunk/channels4/{a1, a2, a3, ...} the hourglass (PyTorch ``3``); ``aI`` / ``bI`` are the
                                     modules at index I of branch A / B of a level
    depth_head                       3x3 conv 64->1, log-depth (PyTorch ``4``)
    weight_head                      (BokehNet only) 3x3 conv 64->N+1, Eq. 2

Each inception module applies four 1x1 convolutions to the same input. They are stored as
one fused matrix ``reduce`` (cin, c0+a1+a2+a3) applied as a plain matmul: XLA's 1x1
convolutions are about 2x slower than the equivalent matmul on CPU (docs/performance.md), and the
fused form reads the input once. BatchNorm is per channel, so fusing the four BNs that
follow is exact in both training and inference.

Mixed precision (``dtype="bfloat16"``): the trunk and the heads compute in the dtype of
the images they are given, and :class:`BokehNet` / :class:`MegaDepth` cast their input to
their ``dtype`` first. Parameters stay float32 (cast at each layer; their gradients arrive
in float32), BatchNorm computes its statistics and keeps its running averages in float32
(Flax's ``force_float32_reductions``), and the outputs, the softmax of Eq. 2, the blur
stack and the blend of Eq. 1 are float32.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import linen as nn

from bokeh_jax import ops
from bokeh_jax.names import COMPUTE_DTYPES, PAPER_KERNELS
from bokeh_jax.network.conv import conv2d

# Inception branch configurations (docs/network.md): [c0] then [k, a, b] three times.
P = ((32,), (3, 32, 32), (5, 32, 32), (7, 32, 32))  # out 128
Q = ((64,), (3, 32, 64), (5, 32, 64), (7, 32, 64))  # out 256
E = ((64,), (3, 64, 64), (7, 64, 64), (11, 64, 64))  # out 256


def inc(cin: int, cfg) -> tuple:
    """An inception module in the level spec."""
    return ("inc", cin, tuple(tuple(b) for b in cfg))


# The four nested levels: (branch A ops, branch B ops); the two branches are summed.
# Positions in each tuple are the PyTorch Sequential indices (the checkpoint keys use them).
LEVELS: dict[int, tuple[tuple, tuple]] = {
    4: (
        ("maxpool", inc(128, P), inc(128, P), ("level", 3),
         inc(128, ((32,), (3, 64, 32), (5, 64, 32), (7, 64, 32))),
         inc(128, ((16,), (3, 32, 16), (7, 32, 16), (11, 32, 16))), "up"),
        (inc(128, ((16,), (3, 64, 16), (7, 64, 16), (11, 64, 16))),),
    ),
    3: (
        ("maxpool", inc(128, P), inc(128, Q), ("level", 2), inc(256, Q), inc(256, P), "up"),
        (inc(128, P), inc(128, ((32,), (3, 64, 32), (7, 64, 32), (11, 64, 32)))),
    ),
    # Channels2 and Channels1: the non-pooled branch comes first (docs/network.md).
    2: (
        (inc(256, Q), inc(256, E)),
        ("avgpool", inc(256, Q), inc(256, Q), ("level", 1), inc(256, Q), inc(256, E), "up"),
    ),
    1: (
        (inc(256, Q), inc(256, Q)),
        ("avgpool", inc(256, Q), inc(256, Q), inc(256, Q), "up"),
    ),
}

def compute_dtype(name: str) -> jnp.dtype:
    """The activation dtype for a config/CLI name ("float32" or "bfloat16")."""
    if name not in COMPUTE_DTYPES:
        raise ValueError(f"unknown dtype {name!r}; use one of {', '.join(COMPUTE_DTYPES)}")
    return jnp.dtype(name)


BN_EPS = 1e-5  # PyTorch's default; Keras' 1e-3 gives wrong depth with converted weights.
BN_MOMENTUM = 0.9  # Flax convention for PyTorch's momentum=0.1.
MULTIPLE = 16  # four 2x2 poolings without padding (kept whatever ``levels``: one input rule)
HOURGLASS_LEVELS = 4  # MegaDepth's nesting depth (Channels4 .. Channels1)


def check_input(x: jax.Array) -> None:
    """Raises a ValueError unless x is (N, H, W, 3) with H and W multiples of 16."""
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"expected images of shape (N, H, W, 3), got {tuple(x.shape)}")
    h, w = x.shape[1:3]
    if h % MULTIPLE or w % MULTIPLE:
        raise ValueError(
            f"image height and width must be multiples of {MULTIPLE} (four 2x2 poolings), "
            f"got {h}x{w}; resize or pad the input, e.g. to "
            f"{max(MULTIPLE, round(h / MULTIPLE) * MULTIPLE)}x"
            f"{max(MULTIPLE, round(w / MULTIPLE) * MULTIPLE)}")


class Conv(nn.Module):
    """k x k conv, stride 1, zero padding (k-1)/2 (PyTorch's padding=(k-1)//2), with bias.

    The parameters are those of ``nn.Conv`` (``kernel`` (k,k,Ci,Co), ``bias`` (Co,)); the
    convolution is :func:`bokeh_jax.network.conv.conv2d`, whose weight gradient is fast on CPU.
    It computes in ``x``'s dtype (float32 parameters are cast to it).
    """

    features: int
    k: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", nn.initializers.lecun_normal(),
                            (self.k, self.k, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        return conv2d(x, kernel.astype(x.dtype)) + bias.astype(x.dtype)


def _bn(train: bool, name: str, dtype, affine: bool = False) -> nn.BatchNorm:
    # Output in the activations' dtype; statistics and running averages stay float32.
    return nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM, epsilon=BN_EPS,
                        use_scale=affine, use_bias=affine, dtype=dtype, name=name)


class Inception(nn.Module):
    """Four parallel branches concatenated on channels (docs/network.md, ``inc(cin, cfg)``)."""

    cfg: tuple

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        reduce_widths = [self.cfg[0][0]] + [b[1] for b in self.cfg[1:]]
        # The branches' four 1x1 convs (+ BN + ReLU) as one matmul (see module docstring).
        y = nn.Dense(sum(reduce_widths), dtype=x.dtype, name="reduce")(x)
        y = nn.relu(_bn(train, "reduce_bn", x.dtype)(y))
        outs, start = [], 0
        for i, width in enumerate(reduce_widths):
            part = y[..., start:start + width]
            start += width
            if i > 0:
                k, _, out = self.cfg[i]
                part = Conv(out, k, name=f"conv{i}")(part)
                part = nn.relu(_bn(train, f"bn{i}", x.dtype)(part))
            outs.append(part)
        return jnp.concatenate(outs, axis=-1)


def _pool(x: jax.Array, kind: str) -> jax.Array:
    n, h, w, c = x.shape
    x = x.reshape(n, h // 2, 2, w // 2, 2, c)
    return x.max(axis=(2, 4)) if kind == "maxpool" else x.mean(axis=(2, 4))


def _upsample(x: jax.Array) -> jax.Array:
    """Nearest-neighbour x2 (the checkpoint was trained with it, not bilinear)."""
    n, h, w, c = x.shape
    x = jnp.broadcast_to(x[:, :, None, :, None, :], (n, h, 2, w, 2, c))
    return x.reshape(n, 2 * h, 2 * w, c)


class Level(nn.Module):
    """One "Channels" level: two branches applied to the same input and summed.

    ``innermost``: the deepest level kept; a nested level below it is left out (the
    identity: every level maps its input's channels to as many, so the rest still fits).
    """

    level: int
    innermost: int = 1

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        out = 0.0
        for prefix, branch in zip("ab", LEVELS[self.level], strict=True):
            y = x
            for idx, op in enumerate(branch):
                if op in ("maxpool", "avgpool"):
                    y = _pool(y, op)
                elif op == "up":
                    y = _upsample(y)
                elif op[0] == "level":
                    if op[1] >= self.innermost:
                        y = Level(op[1], self.innermost, name=f"{prefix}{idx}")(y, train)
                else:
                    y = Inception(op[2], name=f"{prefix}{idx}")(y, train)
            out = out + y
        return out


class Trunk(nn.Module):
    """MegaDepth up to its 64-channel features: conv 7x7, BN, ReLU, Channels4.

    ``levels``: how many of the four nested levels to keep, from the outside in (4: the
    MegaDepth hourglass; see :class:`BokehNet`).
    """

    levels: int = HOURGLASS_LEVELS

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        check_input(x)
        if self.levels not in range(1, HOURGLASS_LEVELS + 1):
            raise ValueError(f"levels={self.levels!r}: the hourglass has 1 to "
                             f"{HOURGLASS_LEVELS} levels")
        y = Conv(128, 7, name="conv0")(x)
        y = nn.relu(_bn(train, "bn0", x.dtype, affine=True)(y))
        return Level(4, HOURGLASS_LEVELS + 1 - self.levels, name="channels4")(y, train)


class MegaDepth(nn.Module):
    """The MegaDepth hourglass: (N,H,W,3) RGB in [0,1] -> (N,H,W,1) log-depth.

    H and W must be multiples of 16. No input normalisation, no output activation
    (``exp`` of the output is depth, as in the authors' demo). ``dtype``: the activations'
    dtype, "float32" or "bfloat16" (mixed precision; the output is float32).
    """

    dtype: str = "float32"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = x.astype(compute_dtype(self.dtype))
        y = Conv(1, 3, name="depth_head")(Trunk(name="trunk")(x, train))
        return y.astype(jnp.float32)


class BokehOutput(NamedTuple):
    bokeh: jax.Array  # (N,H,W,3), Eq. 1
    weights: jax.Array  # (N,H,W,K+1), Eq. 2; channel 0 weighs the sharp input
    log_depth: jax.Array  # (N,H,W,1), the original MegaDepth head


class BokehNet(nn.Module):
    """MegaDepth trunk with two heads: log-depth and the N+1 blend weights (Dutta, 2021).

    ``kernel_sizes`` are the kernels of the blurred copies (paper: 25, 45, 75; its
    ablations use one kernel and 5/25/45). ``head_kernel`` is the weight head's kernel size,
    which the paper leaves open (we use 3, like the layer it replaces). ``aperture`` is the
    copies' kernel shape: the paper's "gaussian", or the disk blur it names as future work
    ("disk", "polygon" with ``blades`` and ``rotation``; :mod:`bokeh_jax.ops.aperture`).
    ``dtype`` is the trunk's and the heads' activation dtype: "float32", or "bfloat16" for
    mixed precision (float32 parameters, BatchNorm statistics, weights, blur and blend).
    ``levels`` is the hourglass's depth: 4 is MegaDepth's (the paper's, and the only depth
    MegaDepth's weights fit); 1 to 3 keep the outer levels only, a smaller network trained
    from random weights that compiles several times faster (docs/network.md). Its
    parameters are the full network's minus the inner levels, under the same names.
    """

    kernel_sizes: Sequence[int] = PAPER_KERNELS
    head_kernel: int = 3
    blur_method: str | None = None  # None: ops picks the fastest exact form per backend
    aperture: str = "gaussian"
    blades: int = 6
    rotation: float = 0.0
    dtype: str = "float32"
    levels: int = HOURGLASS_LEVELS

    def blur_options(self) -> dict:
        """The keyword arguments of :func:`bokeh_jax.ops.blur_stack` for this network."""
        method = self.blur_method if self.aperture == "gaussian" else None
        return dict(aperture=self.aperture, method=method, blades=self.blades,
                    rotation=self.rotation)

    def setup(self):
        self.trunk = Trunk(self.levels)
        self.depth_head = Conv(1, 3)
        self.weight_head = Conv(len(self.kernel_sizes) + 1, self.head_kernel)

    def maps(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
        """(N,H,W,3) in [0,1] -> (weights (N,H,W,K+1), log-depth (N,H,W,1))."""
        feats = self.trunk(x.astype(compute_dtype(self.dtype)), train)
        # Eq. 2: softmax over the K+1 channels at every pixel (float32 in mixed precision).
        weights = jax.nn.softmax(self.weight_head(feats).astype(jnp.float32), axis=-1)
        return weights, self.depth_head(feats).astype(jnp.float32)

    def blend(self, x: jax.Array, weights: jax.Array) -> jax.Array:
        """Eq. 1: ``x`` and its blurred copies weighed by ``weights`` (same (N,H,W)); uses
        no variables, so it also runs on an unbound module."""
        stack = ops.blur_stack(x, tuple(self.kernel_sizes), **self.blur_options())
        return ops.blend(x, stack, weights)

    def __call__(self, x: jax.Array, train: bool = False) -> BokehOutput:
        weights, log_depth = self.maps(x, train)
        return BokehOutput(self.blend(x, weights), weights, log_depth)
