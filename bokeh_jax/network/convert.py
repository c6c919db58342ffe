"""Strict conversion of the authors' PyTorch checkpoints into bokeh_jax checkpoints.

    python -m bokeh_jax.convert SRC.pth OUT_DIR [--kernels 25,45,75]
        [--head-init depth-prior|random] [--resolution 384x576] [--force]

Accepted sources (docs/network.md, "Conversion"): the MegaDepth release
``best_generalization_net_G.pth`` (624 tensors, ``module.`` prefix, no
``num_batches_tracked``), the same with the counters (779 entries), without the prefix, or
wrapped in a dict under ``state_dict`` / ``model``; and a PyTorch bokeh model of this paper
(the same network whose last conv has N+1 channels), whose last conv becomes the weight head.

Strict like big_vision's ``merge_params``: the key table below is derived from the one
architecture description in :mod:`bokeh_jax.network.models`; every source tensor must be used,
every target filled and every shape match, otherwise every offending key is named and
nothing is written. Files are read with ``torch.load(weights_only=True)``: no code in a
checkpoint ever runs.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from flax import traverse_util

from bokeh_jax.cli import ArgumentParser, parse_kernels
from bokeh_jax.errors import UserError
from bokeh_jax.names import PAPER_KERNELS
from bokeh_jax.network import checkpoint, heads
from bokeh_jax.network.models import LEVELS


class ConversionError(UserError):
    """The source does not fit the network: unknown, missing or mis-shaped keys."""


@dataclass(frozen=True)
class Entry:
    """One target array filled from one or more source tensors.

    kind: "conv" (OIHW -> HWIO), "dense" (1x1 convs (O,I,1,1) -> (I, sum O), concatenated),
    "vector" (1-D, concatenated when several sources).
    """

    target: tuple[str, ...]  # (collection, *module path, leaf)
    sources: tuple[str, ...]  # PyTorch keys without the `module.` prefix
    shapes: tuple[tuple[int, ...], ...]  # expected PyTorch shape of each source
    kind: str


def _bn_entries(path: tuple[str, ...], keys: Sequence[str], width: Sequence[int],
                affine: bool) -> list[Entry]:
    out = []
    leaves = [("batch_stats", "mean", "running_mean"), ("batch_stats", "var", "running_var")]
    if affine:
        leaves = [("params", "scale", "weight"), ("params", "bias", "bias")] + leaves
    for coll, leaf, tkey in leaves:
        out.append(Entry((coll, *path, leaf), tuple(f"{k}.{tkey}" for k in keys),
                         tuple((w,) for w in width), "vector"))
    return out


def _conv_entries(path: tuple[str, ...], key: str, cin: int, cout: int, k: int) -> list[Entry]:
    return [Entry(("params", *path, "kernel"), (f"{key}.weight",), ((cout, cin, k, k),), "conv"),
            Entry(("params", *path, "bias"), (f"{key}.bias",), ((cout,),), "vector")]


def _inception_entries(path: tuple[str, ...], key: str, cin: int, cfg) -> list[Entry]:
    # Branch i is the Sequential `key.i`: conv 1x1 (.0), BN (.1), ReLU, then for i > 0
    # conv kxk (.3), BN (.4), ReLU. The four 1x1 convs are fused into `reduce`.
    widths = [cfg[0][0]] + [b[1] for b in cfg[1:]]
    branches = [f"{key}.{i}" for i in range(len(cfg))]
    out = [
        Entry(("params", *path, "reduce", "kernel"), tuple(f"{b}.0.weight" for b in branches),
              tuple((w, cin, 1, 1) for w in widths), "dense"),
        Entry(("params", *path, "reduce", "bias"), tuple(f"{b}.0.bias" for b in branches),
              tuple((w,) for w in widths), "vector"),
    ]
    out += _bn_entries((*path, "reduce_bn"), [f"{b}.1" for b in branches], widths, False)
    for i, (k, a, b) in enumerate(cfg[1:], start=1):
        out += _conv_entries((*path, f"conv{i}"), f"{key}.{i}.3", a, b, k)
        out += _bn_entries((*path, f"bn{i}"), [f"{key}.{i}.4"], [b], False)
    return out


def _level_entries(level: int, path: tuple[str, ...], key: str) -> list[Entry]:
    # A level is Sequential(LambdaMap(A, B), LambdaReduce): A at `key.0.0`, B at `key.0.1`.
    out = []
    for j, (prefix, branch) in enumerate(zip("ab", LEVELS[level], strict=True)):
        for idx, op in enumerate(branch):
            sub_path, sub_key = (*path, f"{prefix}{idx}"), f"{key}.0.{j}.{idx}"
            if isinstance(op, tuple) and op[0] == "level":
                out += _level_entries(op[1], sub_path, sub_key)
            elif isinstance(op, tuple):
                out += _inception_entries(sub_path, sub_key, op[1], op[2])
    return out


def key_table(head: str = "depth_head", head_channels: int = 1) -> list[Entry]:
    """Every target of the network and the PyTorch keys it is made of.

    head: which Flax head the source's last conv (``4``) fills: "depth_head" (MegaDepth) or
    "weight_head" (a bokeh model with ``head_channels`` = N+1 outputs).
    """
    out = _conv_entries(("trunk", "conv0"), "0", 3, 128, 7)
    out += _bn_entries(("trunk", "bn0"), ["1"], [128], True)
    out += _level_entries(4, ("trunk", "channels4"), "3")
    out += _conv_entries((head,), "4", 64, head_channels, 3)
    return out


def bn_keys(table: Sequence[Entry]) -> set[str]:
    """The BatchNorm module keys (for the optional `num_batches_tracked` counters)."""
    return {s.rsplit(".", 1)[0] for e in table for s in e.sources
            if s.endswith(".running_mean")}


def _convert_entry(entry: Entry, tensors: list[np.ndarray]) -> np.ndarray:
    if entry.kind == "conv":
        return np.ascontiguousarray(tensors[0].transpose(2, 3, 1, 0))  # OIHW -> HWIO
    if entry.kind == "dense":
        return np.concatenate([t[:, :, 0, 0].T for t in tensors], axis=1)
    return np.concatenate(tensors) if len(tensors) > 1 else tensors[0]


def unwrap_state_dict(obj, source: str = "checkpoint") -> dict[str, np.ndarray]:
    """The flat {key: float32 array} of a state_dict, unwrapped and without `module.`."""
    for wrapper in ("state_dict", "model"):
        if isinstance(obj, Mapping) and wrapper in obj and isinstance(obj[wrapper], Mapping):
            obj = obj[wrapper]
    if not isinstance(obj, Mapping) or not obj:
        raise ConversionError(f"{source}: not a state_dict (expected a mapping of tensors, "
                              "possibly under 'state_dict' or 'model')")
    out = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not hasattr(value, "shape"):
            raise ConversionError(f"{source}: entry {key!r} is not a tensor; expected a plain "
                                  "state_dict of tensors")
        key = key[len("module."):] if key.startswith("module.") else key
        arr = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
        out[key] = arr
    return out


def detect_head(state: Mapping[str, np.ndarray]) -> int:
    """Output channels of the source's last conv: 1 for MegaDepth, N+1 for a bokeh model."""
    w = state.get("4.weight")
    if w is None or w.ndim != 4:
        raise ConversionError("missing key 4.weight (the last 3x3 conv): this is not a "
                              "MegaDepth or bokeh checkpoint")
    return int(w.shape[0])


def convert_state_dict(state: Mapping[str, np.ndarray], head: str = "depth_head") -> dict:
    """Strictly maps a flat PyTorch state_dict onto the Flax variables.

    Returns {"params": ..., "batch_stats": ...} holding the trunk and the given head.
    Raises ConversionError naming every unknown, missing or mis-shaped key.
    """
    table = key_table(head, detect_head(state))
    counters = {f"{k}.num_batches_tracked" for k in bn_keys(table)}
    expected = {s: shape for e in table for s, shape in zip(e.sources, e.shapes, strict=True)}
    unknown = sorted(k for k in state if k not in expected and k not in counters)
    missing = sorted(k for k in expected if k not in state)
    wrong = sorted(f"{k} {tuple(state[k].shape)} (expected {expected[k]})"
                   for k in expected if k in state and tuple(state[k].shape) != expected[k])
    problems = []
    if unknown:
        problems.append(f"{len(unknown)} unknown key(s): {', '.join(unknown)}")
    if missing:
        problems.append(f"{len(missing)} missing key(s): {', '.join(missing)}")
    if wrong:
        problems.append(f"{len(wrong)} wrong shape(s): {', '.join(wrong)}")
    if problems:
        raise ConversionError("checkpoint does not match the MegaDepth network: "
                              + "; ".join(problems) + ". Nothing was written.")
    flat = {e.target: _convert_entry(e, [np.asarray(state[s], np.float32) for s in e.sources])
            for e in table}
    return traverse_util.unflatten_dict(flat)


def load_torch_checkpoint(path: str | Path) -> dict[str, np.ndarray]:
    """Reads a .pth safely (``weights_only=True``) into a flat numpy state_dict."""
    try:
        import torch
    except ImportError:
        raise UserError("converting a PyTorch checkpoint needs PyTorch: "
                        "pip install torch==2.13.0 (CPU build is enough)") from None
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path}: is a folder, not a .pth file; give the path of the PyTorch "
                        "checkpoint file (e.g. best_generalization_net_G.pth)")
    if not path.is_file():
        raise UserError(f"{path}: no such file; give the path of the .pth checkpoint")
    try:
        # weights_only=True: tensors and plain containers only; any pickled code is refused.
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise UserError(f"{path}: refused by the safe loader: not a checkpoint of plain "
                        "tensors (not a PyTorch file, corrupted, or carrying code); no code "
                        "from it was run") from None
    except EOFError:
        raise UserError(f"{path}: empty or truncated file; download it again") from None
    except Exception as e:  # noqa: BLE001 - any failure here means "not a usable checkpoint"
        first = (str(e).strip().splitlines() or [type(e).__name__])[0].split(". ")[0][:160]
        raise UserError(f"{path}: not a readable PyTorch checkpoint (corrupted or truncated? "
                        f"{type(e).__name__}: {first})") from None
    return unwrap_state_dict(obj, str(path))


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def parse_resolution(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        h = w = -1
    if h <= 0 or w <= 0 or h % 16 or w % 16:
        raise UserError(f"--resolution {text!r}: give HxW with both multiples of 16, "
                        "e.g. 384x576")
    return h, w


def convert_checkpoint(src: str | Path, out_dir: str | Path, *,
                       kernel_sizes: Sequence[int] | None = None, head_init: str | None = None,
                       resolution: tuple[int, int] = (384, 576), force: bool = False,
                       seed: int = 0) -> Path:
    """Converts ``src`` (.pth) into a bokeh_jax checkpoint folder ``out_dir``; returns it."""
    out_dir = checkpoint.check_writable(out_dir, force)
    state = load_torch_checkpoint(src)
    channels = detect_head(state)
    if channels == 1:  # MegaDepth: the trunk and its depth head; the weight head is new.
        kernel_sizes = tuple(kernel_sizes or PAPER_KERNELS)
        head_init = head_init or "depth-prior"
        variables = convert_state_dict(state, "depth_head")
        has_depth_head = True
    else:  # A bokeh model of this paper: its last conv is the weight head.
        if head_init is not None:
            raise UserError(f"{src}: this is a bokeh model with a trained {channels}-channel "
                            "head; --head-init only applies to MegaDepth checkpoints")
        kernel_sizes = tuple(kernel_sizes or PAPER_KERNELS)
        if len(kernel_sizes) + 1 != channels:
            raise UserError(f"{src}: its last conv has {channels} outputs, i.e. "
                            f"{channels - 1} blurred copies, but --kernels gives "
                            f"{len(kernel_sizes)} ({','.join(map(str, kernel_sizes))}); "
                            f"pass --kernels with {channels - 1} sizes")
        head_init = "source"
        variables = convert_state_dict(state, "weight_head")
        has_depth_head = False
    variables, extra = heads.complete_heads(variables, kernel_sizes, head_init, seed=seed)
    metadata = {
        "kind": "converted",
        "kernel_sizes": list(kernel_sizes),
        "head_kernel": 3,
        "head_init": head_init,
        "has_depth_head": has_depth_head,
        "resolution": list(resolution),
        "source": {"file": Path(src).name, "sha256": sha256(src),
                   "layout": "megadepth" if channels == 1 else "bokeh",
                   "num_entries": len(state)},
        **extra,
    }
    return checkpoint.save_checkpoint(out_dir, variables, metadata, force=force)


EXAMPLES = """examples:
  {prog} best_generalization_net_G.pth megadepth_jax/
  {prog} best_generalization_net_G.pth megadepth_1k/ --kernels 25 --head-init random
  {prog} bokeh_model.pth bokeh_jax_model/ --kernels 25,45,75 --force"""


def main(argv: Sequence[str] | None = None, prog: str = "python -m bokeh_jax.convert") -> int:
    parser = ArgumentParser(
        prog=prog, epilog=EXAMPLES.format(prog=prog),
        description="Convert the MegaDepth (or a bokeh) PyTorch checkpoint to bokeh_jax.")
    parser.add_argument("src", help="the .pth file (e.g. best_generalization_net_G.pth)")
    parser.add_argument("out_dir", help="folder to write (must be empty or absent)")
    parser.add_argument("--kernels", type=parse_kernels, default=None,
                        help="Gaussian kernel sizes of the blurred copies (default "
                             f"{','.join(map(str, PAPER_KERNELS))})")
    parser.add_argument("--head-init", choices=heads.HEAD_INITS, default=None,
                        help="weight head for a MegaDepth source (default depth-prior)")
    parser.add_argument("--resolution", type=parse_resolution, default=(384, 576),
                        help="HxW the network runs at under the paper's test policy")
    parser.add_argument("--seed", type=int, default=0, help="seed of a random head")
    parser.add_argument("--force", action="store_true", help="replace a non-empty OUT_DIR")
    args = parser.parse_args(argv)
    out = convert_checkpoint(args.src, args.out_dir, kernel_sizes=args.kernels,
                             head_init=args.head_init, resolution=args.resolution,
                             force=args.force, seed=args.seed)
    print(f"wrote {out}")
    return 0

