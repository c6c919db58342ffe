"""bokeh_jax checkpoint folders: writing them atomically, loading them as a model object.

A checkpoint folder holds::

    bokeh_jax.json   what is needed to rebuild the model without flags (kernel sizes, head
                     kernel, resolution, head init, source SHA-256, format version)
    variables/       an orbax checkpoint of {"params", "batch_stats"} of a BokehNet

:func:`load_model` returns a :class:`BokehModel` with ``predict_depth``, ``weights`` and
``render`` (the paper's test policy, or blending at full resolution).
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import tempfile
from functools import partial
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bokeh_jax import __version__
from bokeh_jax.cli import UserError
from bokeh_jax.models import BokehNet, check_input

FORMAT = "bokeh_jax.checkpoint"
FORMAT_VERSION = 1
METADATA_FILE = "bokeh_jax.json"
VARIABLES_DIR = "variables"
POLICIES = ("paper", "fullres")


def check_writable(out_dir: Path, force: bool) -> None:
    """Refuses a non-empty output folder unless ``force`` (checked before any work)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir}: exists and is not a folder; choose another output path")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise UserError(f"{out_dir}: folder is not empty; choose another output folder or "
                        "pass --force to replace it")


def save_checkpoint(out_dir: str | Path, variables: dict, metadata: dict, *,
                    force: bool = False) -> Path:
    """Writes variables + metadata into ``out_dir`` atomically (temp folder, then rename)."""
    import orbax.checkpoint as ocp

    out_dir = Path(out_dir).absolute()
    check_writable(out_dir, force)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        tree = jax.tree.map(lambda x: np.asarray(x, np.float32), variables)
        with ocp.StandardCheckpointer() as ckpt:
            ckpt.save(tmp / VARIABLES_DIR, tree)
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION, **metadata,
                "bokeh_jax_version": __version__,
                "created": datetime.datetime.now(datetime.timezone.utc).isoformat()}
        (tmp / METADATA_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        if out_dir.exists():
            trash = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            out_dir.rename(trash)
            tmp.rename(out_dir)
            shutil.rmtree(trash)
        else:
            tmp.rename(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def read_metadata(path: str | Path) -> dict:
    """The checkpoint's bokeh_jax.json, with a clear error when it is not a checkpoint."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such checkpoint folder; make one with "
                        "`python -m bokeh_jax.convert SRC.pth OUT_DIR` or train one")
    meta_file = path / METADATA_FILE
    if not path.is_dir() or not meta_file.is_file():
        raise UserError(f"{path}: not a bokeh_jax checkpoint (no {METADATA_FILE}); make one "
                        "with `python -m bokeh_jax.convert SRC.pth OUT_DIR`")
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"{meta_file}: unreadable checkpoint metadata ({e})") from None
    if meta.get("format") != FORMAT or meta.get("format_version", 0) > FORMAT_VERSION:
        raise UserError(f"{meta_file}: format {meta.get('format')!r} version "
                        f"{meta.get('format_version')!r} is not one this bokeh_jax "
                        f"({__version__}) reads; convert the checkpoint again")
    return meta


def model_from_metadata(meta: dict) -> BokehNet:
    return BokehNet(kernel_sizes=tuple(meta["kernel_sizes"]), head_kernel=meta["head_kernel"])


def abstract_variables(model: BokehNet) -> dict:
    """Shapes and dtypes of the model's variables, without running anything."""
    return jax.eval_shape(partial(model.init, method=BokehNet.maps), jax.random.key(0),
                          jnp.zeros((1, 16, 16, 3)))


def load_variables(path: str | Path) -> tuple[dict, dict]:
    """(variables as numpy arrays, metadata) of a checkpoint folder, shapes checked."""
    import orbax.checkpoint as ocp

    path = Path(path).absolute()
    meta = read_metadata(path)
    expected = abstract_variables(model_from_metadata(meta))
    try:
        variables = ocp.StandardCheckpointer().restore(path / VARIABLES_DIR)
    except Exception as e:  # noqa: BLE001 - a damaged folder, whatever the cause
        raise UserError(f"{path / VARIABLES_DIR}: cannot read the weights "
                        f"({type(e).__name__}); convert or train the checkpoint again") from None
    got = jax.tree.map(lambda x: tuple(x.shape), variables)
    want = jax.tree.map(lambda x: tuple(x.shape), expected)
    if got != want:
        raise UserError(f"{path}: weights do not match the model its {METADATA_FILE} "
                        "describes; convert or train the checkpoint again")
    return variables, meta


def load_model(path: str | Path) -> BokehModel:
    """Loads a checkpoint folder written by :func:`save_checkpoint` (e.g. by the converter)."""
    variables, meta = load_variables(path)
    return BokehModel(model_from_metadata(meta), jax.tree.map(jnp.asarray, variables), meta)


class RenderOutput(NamedTuple):
    bokeh: jax.Array  # (H,W,3) in [0,1]
    weights: jax.Array  # (H,W,K+1), upsampled to the input size
    log_depth: jax.Array  # (H,W,1), upsampled to the input size


def working_size(image_hw: tuple[int, int], resolution: tuple[int, int]) -> tuple[int, int]:
    """The model resolution, turned to match the image's orientation (portrait/landscape)."""
    rh, rw = resolution
    if (image_hw[0] > image_hw[1]) != (rh > rw):
        rh, rw = rw, rh
    return rh, rw


def _resize(x: jax.Array, hw: tuple[int, int]) -> jax.Array:
    # Bilinear; antialiased when shrinking (jax.image.resize's default for "linear").
    return jax.image.resize(x, (*x.shape[:-3], *hw, x.shape[-1]), "linear")


@partial(jax.jit, static_argnums=(0,), static_argnames=("work_hw", "policy"))
def render_image(module: BokehNet, variables: dict, image: jax.Array, *, work_hw: tuple[int, int],
            policy: str) -> RenderOutput:
    """Jitted render of one (H,W,3) image (see :meth:`BokehModel.render`)."""
    from bokeh_jax import ops

    h, w = image.shape[:2]
    small = _resize(image, work_hw)[None]
    if policy == "paper":
        # Test policy (method.md): resize to the trained resolution, run, resize back.
        out = module.apply(variables, small)
        bokeh = _resize(out.bokeh[0], (h, w))
        weights, log_depth = out.weights[0], out.log_depth[0]
        weights, log_depth = _resize(weights, (h, w)), _resize(log_depth, (h, w))
    else:
        # Full resolution: upsample the weight maps (bilinear keeps them summing to 1) and
        # blend the full-size image with its full-size blurs (Eq. 1).
        weights, log_depth = module.apply(variables, small, method=BokehNet.maps)
        weights, log_depth = _resize(weights[0], (h, w)), _resize(log_depth[0], (h, w))
        stack = ops.blur_stack(image, tuple(module.kernel_sizes), method=module.blur_method)
        bokeh = ops.blend(image, stack, weights)
    return RenderOutput(jnp.clip(bokeh, 0.0, 1.0), weights, log_depth)


@partial(jax.jit, static_argnums=(0,))
def _maps(module: BokehNet, variables: dict, images: jax.Array):
    return module.apply(variables, images, method=BokehNet.maps)


class BokehModel:
    """A loaded bokeh_jax model: the Flax module, its variables and its metadata."""

    def __init__(self, module: BokehNet, variables: dict, metadata: dict):
        self.module = module
        self.variables = variables
        self.metadata = metadata

    @property
    def kernel_sizes(self) -> tuple[int, ...]:
        return tuple(self.module.kernel_sizes)

    @property
    def resolution(self) -> tuple[int, int]:
        """(H, W) the network runs at under the paper's test policy."""
        return tuple(self.metadata["resolution"])

    @property
    def has_depth_head(self) -> bool:
        return bool(self.metadata.get("has_depth_head", True))

    def _checked(self, images) -> jax.Array:
        x = jnp.asarray(images, jnp.float32)
        check_input(x)
        return x

    def predict_depth(self, images) -> jax.Array:
        """(N,H,W,3) RGB in [0,1], H and W multiples of 16 -> (N,H,W,1) log-depth."""
        if not self.has_depth_head:
            raise ValueError("this checkpoint has no depth head (it was converted from a "
                             "bokeh model, whose last layer replaced MegaDepth's)")
        return _maps(self.module, self.variables, self._checked(images))[1]

    def weights(self, images) -> jax.Array:
        """(N,H,W,3) RGB in [0,1], H and W multiples of 16 -> (N,H,W,K+1) blend weights."""
        return _maps(self.module, self.variables, self._checked(images))[0]

    def render(self, image, policy: str = "paper", return_aux: bool = False):
        """Renders one (H,W,3) image of any size (float in [0,1] or uint8).

        policy "paper": resize to :attr:`resolution` (turned to the image's orientation),
        run the network, resize the rendered image back (bilinear). "fullres": upsample the
        weight maps instead and blend at the input's size. Returns the (H,W,3) bokeh image,
        or a :class:`RenderOutput` with the upsampled weights and log-depth if
        ``return_aux``.
        """
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r}; choose one of {POLICIES}")
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"expected one (H,W,3) image, got shape {image.shape}")
        if image.dtype == np.uint8:
            image = image.astype(np.float32) / 255.0
        hw = working_size(image.shape[:2], self.resolution)
        out = render_image(self.module, self.variables, jnp.asarray(image, jnp.float32),
                      work_hw=hw, policy=policy)
        return out if return_aux else out.bokeh
