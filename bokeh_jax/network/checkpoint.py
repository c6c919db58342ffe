"""bokeh_jax checkpoint folders: the format, writing one atomically, reading its variables.

A checkpoint folder holds::

    bokeh_jax.json   what is needed to rebuild the model without flags (kernel sizes, head
                     kernel, resolution, head init, source SHA-256, format version)
    variables/       an orbax checkpoint of {"params", "batch_stats"} of a BokehNet

:func:`bokeh_jax.load_model` (:mod:`bokeh_jax.inference.model`) turns one into a model object.
"""

from __future__ import annotations

import datetime
import json
import sys
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from bokeh_jax.errors import UserError, one_line
from bokeh_jax.files import check_can_write, check_output_folder, staged_folder
from bokeh_jax.names import __version__
from bokeh_jax.network.models import HOURGLASS_LEVELS, BokehNet

FORMAT = "bokeh_jax.checkpoint"
FORMAT_VERSION = 1
METADATA_FILE = "bokeh_jax.json"
VARIABLES_DIR = "variables"


def check_writable(out_dir: str | Path, force: bool) -> Path:
    """Refuses a non-empty output folder unless ``force``, or one whose parent cannot be
    written (the folder is staged beside it); checked before any work."""
    out_dir = check_output_folder(out_dir, replaceable=force,
                                  fix="choose another output folder or pass --force to "
                                      "replace it")
    check_can_write(out_dir.parent)
    return out_dir


def save_checkpoint(out_dir: str | Path, variables: dict, metadata: dict, *,
                    force: bool = False) -> Path:
    """Writes variables + metadata into ``out_dir`` atomically (temp folder, then rename)."""
    import orbax.checkpoint as ocp

    out_dir = check_writable(out_dir, force)
    with staged_folder(out_dir) as tmp:
        tree = jax.tree.map(lambda x: np.asarray(x, np.float32), variables)
        with ocp.StandardCheckpointer(multiprocessing_options=_this_process_only()) as ckpt:
            ckpt.save(tmp / VARIABLES_DIR, tree)
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION, **metadata,
                "bokeh_jax_version": __version__,
                "created": datetime.datetime.now(datetime.timezone.utc).isoformat()}
        (tmp / METADATA_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return out_dir


def _this_process_only():
    """Orbax options for a folder this process reads or writes alone, with no barrier: in
    a multi-process training run only process 0 exports best/ and final/ (plain orbax
    would wait for the other processes to join the save)."""
    import orbax.checkpoint as ocp

    me = jax.process_index()
    return ocp.options.MultiprocessingOptions(primary_host=me, active_processes={me})


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


def model_from_metadata(meta, dtype: str = "float32") -> BokehNet:
    """The network a checkpoint's metadata (or a training config) describes; checkpoints
    from before apertures existed are Gaussian. ``dtype``: its activations' dtype (a choice
    of the run, not of the weights, so it is not read from ``meta``)."""
    return BokehNet(kernel_sizes=tuple(meta["kernel_sizes"]), head_kernel=meta["head_kernel"],
                    aperture=meta.get("aperture", "gaussian"), blades=int(meta.get("blades", 6)),
                    rotation=float(meta.get("rotation", 0.0)), dtype=dtype,
                    levels=hourglass_levels(meta))


def hourglass_levels(meta) -> int:
    """The hourglass depth a checkpoint's metadata or a config gives (4, MegaDepth's, for
    every checkpoint from before the option existed)."""
    return int(meta.get("hourglass_levels", HOURGLASS_LEVELS))


def abstract_variables(model: BokehNet) -> dict:
    """Shapes and dtypes of the model's variables, without running anything."""
    return jax.eval_shape(partial(model.init, method=BokehNet.maps), jax.random.key(0),
                          jnp.zeros((1, 16, 16, 3)))


def quiet_closed_loop_noise() -> None:
    """Drops the "Event loop is closed" reports that follow a failed orbax restore.

    tensorstore's reader threads hand their results to the asyncio loop orbax ran the
    restore in; when the restore fails that loop is closed, and every read still in flight
    reports a RuntimeError through ``sys.unraisablehook``: hundreds of tracebacks that bury
    the one-line error. Only exactly that error is dropped; others reach the hook in place.
    """
    previous = sys.unraisablehook
    if getattr(previous, "drops_closed_loop_noise", False):
        return

    def hook(unraisable):
        e = unraisable.exc_value
        if isinstance(e, RuntimeError) and str(e) == "Event loop is closed":
            return
        previous(unraisable)

    hook.drops_closed_loop_noise = True
    sys.unraisablehook = hook


def load_variables(path: str | Path) -> tuple[dict, dict]:
    """(variables as numpy arrays, metadata) of a checkpoint folder, shapes checked."""
    import orbax.checkpoint as ocp

    path = Path(path).absolute()
    meta = read_metadata(path)
    expected = abstract_variables(model_from_metadata(meta))
    try:
        variables = ocp.StandardCheckpointer(
            multiprocessing_options=_this_process_only()).restore(path / VARIABLES_DIR)
    except Exception as e:  # noqa: BLE001 - a damaged folder, whatever the cause
        quiet_closed_loop_noise()
        reason = one_line(e)[:300] or type(e).__name__
        raise UserError(f"{path / VARIABLES_DIR}: cannot read the weights ({reason}); "
                        "convert or train the checkpoint again") from None
    got = jax.tree.map(lambda x: tuple(x.shape), variables)
    want = jax.tree.map(lambda x: tuple(x.shape), expected)
    if got != want:
        raise UserError(f"{path}: weights do not match the model its {METADATA_FILE} "
                        "describes; convert or train the checkpoint again")
    return variables, meta
