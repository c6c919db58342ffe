"""Checks a whole training config before any dataset build, compilation or write.

Every problem is collected and reported at once, as one :class:`~bokeh_jax.errors.UserError`
line naming each field (``--config.phase1.num_steps=-5: must be >= 1; ...``), so a user fixes
them all in one go instead of discovering them one run at a time.
"""

from __future__ import annotations

import numbers
from pathlib import Path

import ml_collections

from bokeh_jax.data import catalog
from bokeh_jax.errors import UserError
from bokeh_jax.names import COMPUTE_DTYPES, POLICIES
from bokeh_jax.network.heads import HEAD_INITS
from bokeh_jax.network.models import HOURGLASS_LEVELS, MULTIPLE
from bokeh_jax.ops.aperture import APERTURES
from bokeh_jax.train.step import BN_MODES, LOSSES

PHASES = (1, 2, 3)


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


class _Problems:
    def __init__(self):
        self.items: list[str] = []

    def add(self, field: str, value, why: str) -> None:
        self.items.append(f"--config.{field}={value!r}: {why}")

    def int_at_least(self, config, field: str, low: int) -> None:
        value = _get(config, field)
        if not _is_int(value):
            self.add(field, value, "must be a whole number")
        elif value < low:
            self.add(field, value, f"must be >= {low}")

    def number_in(self, config, field: str, low: float, high: float | None = None, *,
                  low_open: bool = False, high_open: bool = True) -> None:
        value = _get(config, field)
        if not _is_number(value) or value != value:  # NaN fails too
            self.add(field, value, "must be a number")
            return
        too_low = value <= low if low_open else value < low
        too_high = high is not None and (value >= high if high_open else value > high)
        if too_low or too_high:
            lo = f"{'>' if low_open else '>='} {low:g}"
            hi = "" if high is None else f" and {'<' if high_open else '<='} {high:g}"
            self.add(field, value, f"must be {lo}{hi}")

    def choice(self, config, field: str, choices) -> None:
        value = _get(config, field)
        if value not in choices:
            self.add(field, value, f"use one of {', '.join(map(str, choices))}")

    def flag(self, config, field: str) -> None:
        value = _get(config, field)
        if not isinstance(value, bool):
            self.add(field, value, "must be True or False")


def _get(config, field: str):
    node = config
    for part in field.split("."):
        node = node[part]
    return node


def _hw(value) -> tuple[int, int] | None:
    """``value`` as (H, W) when it is two positive whole numbers, else None."""
    if (isinstance(value, (tuple, list)) and len(value) == 2
            and all(_is_int(v) and v > 0 for v in value)):
        return tuple(value)
    return None


def _check_phase(p: _Problems, config, n: int, num_devices: int,
                 pairs: tuple[int, int] | None) -> None:
    """``pairs``: the synthetic pairs' (H, W), which a blend_resolution must not exceed."""
    name = f"phase{n}"
    res = _hw(config[name].resolution)
    if res is None:
        p.add(f"{name}.resolution", config[name].resolution,
              "give (H, W), two positive whole numbers")
    elif res[0] % MULTIPLE or res[1] % MULTIPLE:
        p.add(f"{name}.resolution", res,
              f"height and width must be multiples of {MULTIPLE} (four 2x2 poolings)")
    blend = config[name].get("blend_resolution", ())
    if blend:
        hw = _hw(blend)
        if hw is None:
            p.add(f"{name}.blend_resolution", blend,
                  "give (H, W), two positive whole numbers, or () to blend at the resolution")
        elif res is not None and (hw[0] < res[0] or hw[1] < res[1]):
            p.add(f"{name}.blend_resolution", hw,
                  f"is smaller than the network's resolution {res}: give at least it")
        elif pairs is not None and (hw[0] > pairs[0] or hw[1] > pairs[1]):
            # A config that lowered synthetic.height/width but kept the demo's blend size.
            p.add(f"{name}.blend_resolution", hw,
                  f"is larger than the synthetic pairs ({pairs[0]}x{pairs[1]}), which would "
                  "only be upsampled: give at most their size, or () to blend at the "
                  "network's resolution")
    p.choice(config, f"{name}.loss", LOSSES)
    p.number_in(config, f"{name}.lr_start", 0.0, low_open=True)
    p.number_in(config, f"{name}.lr_end", 0.0, low_open=True)
    p.int_at_least(config, f"{name}.num_steps", 1)
    p.int_at_least(config, f"{name}.warmup_steps", 0)
    for field in ("eval_every", "checkpoint_every"):
        p.int_at_least(config, f"{name}.{field}", 1)
    p.int_at_least(config, f"{name}.global_batch_size", 1)
    batch = config[name].global_batch_size
    if _is_int(batch) and batch >= 1 and batch % num_devices:
        p.add(f"{name}.global_batch_size", batch,
              f"is not divisible by the {num_devices} devices: use a multiple of {num_devices}")
    warmup, steps = config[name].warmup_steps, config[name].num_steps
    if _is_int(warmup) and _is_int(steps) and steps >= 1 and warmup >= steps:
        p.add(f"{name}.warmup_steps", warmup, f"must be below num_steps ({steps})")


def check_config(config: ml_collections.ConfigDict, num_devices: int) -> None:
    """Raises one UserError listing every problem of ``config``; returns None when sound."""
    p = _Problems()
    pairs = (_hw((config.synthetic.height, config.synthetic.width))
             if config.dataset == catalog.SYNTHETIC else None)
    phases = config.phases
    if (not isinstance(phases, (tuple, list)) or not phases
            or not all(_is_int(n) and n in PHASES for n in phases)):
        p.add("phases", phases, "give a tuple of phase numbers out of 1, 2, 3, e.g. (1, 2, 3)")
    elif list(phases) != sorted(set(phases)):
        p.add("phases", phases, "list each phase once, in order, e.g. (1, 2, 3)")
    else:
        for n in phases:
            if f"phase{n}" not in config:
                p.add("phases", phases, f"phase {n} is not defined by this config")
            else:
                _check_phase(p, config, n, num_devices, pairs)
    try:
        name = catalog.canonical_name(config.dataset)
    except UserError as e:
        p.items.append(f"--config.dataset={config.dataset!r}: {e}")
    else:  # synthetic_bokeh is built on demand; any other dataset must be built already
        data_dir = config.data_dir or None
        if (not name.startswith(catalog.SYNTHETIC)
                and not (catalog.dataset_path(name, data_dir) / "dataset_info.json").is_file()):
            p.add("dataset", config.dataset, "is not built in "
                  f"{catalog.data_dir_or_default(data_dir)}; build it with: "
                  f"{catalog.prepare_command(name, data_dir)}")
    for field in ("train_split", "val_split"):
        if not isinstance(config[field], str) or not config[field]:
            p.add(field, config[field], "give a split name")
    p.int_at_least(config, "num_workers", 0)
    if config.dataset == catalog.SYNTHETIC:
        for field in ("height", "width"):
            p.int_at_least(config, f"synthetic.{field}", 16)
        for field in ("num_train", "num_val", "seed"):
            p.int_at_least(config, f"synthetic.{field}", 0)
    ks = config.kernel_sizes
    if (not isinstance(ks, (tuple, list)) or not ks
            or not all(_is_int(k) and k >= 3 and k % 2 for k in ks)):
        p.add("kernel_sizes", ks, "give odd kernel sizes >= 3, e.g. (25, 45, 75)")
    elif len(set(ks)) != len(ks):
        p.add("kernel_sizes", ks, "each blur level once")
    p.choice(config, "aperture", APERTURES)
    if not _is_int(config.blades) or not 3 <= config.blades <= 64:
        p.add("blades", config.blades, "a polygonal aperture has 3 to 64 blades, e.g. 6")
    p.number_in(config, "rotation", -360.0, 360.0)
    hk = config.head_kernel
    if not _is_int(hk) or hk < 1 or hk % 2 == 0:
        p.add("head_kernel", hk, "must be an odd whole number, e.g. 3")
    levels = config.hourglass_levels
    if not _is_int(levels) or not 1 <= levels <= HOURGLASS_LEVELS:
        p.add("hourglass_levels", levels, f"the hourglass has 1 to {HOURGLASS_LEVELS} levels "
              f"({HOURGLASS_LEVELS}: MegaDepth's)")
    if config.init_checkpoint and not Path(config.init_checkpoint).expanduser().exists():
        p.add("init_checkpoint", config.init_checkpoint,
              "no such file or folder (a converted checkpoint folder or the MegaDepth .pth)")
    elif config.init_checkpoint and levels != HOURGLASS_LEVELS:
        p.add("hourglass_levels", levels, f"MegaDepth's weights (init_checkpoint) fit the "
              f"whole hourglass only: use {HOURGLASS_LEVELS}, or train from random weights")
    p.choice(config, "head_init", HEAD_INITS)
    p.choice(config, "bn_mode", BN_MODES)
    p.choice(config, "dtype", COMPUTE_DTYPES)
    p.number_in(config, "adam_b1", 0.0, 1.0)
    p.number_in(config, "adam_b2", 0.0, 1.0)
    p.number_in(config, "grad_clip_norm", 0.0)
    p.number_in(config, "focus_loss_weight", 0.0)
    weight = config.focus_loss_weight
    if (_is_number(weight) and weight > 0
            and not str(config.dataset).startswith(catalog.SYNTHETIC)):
        p.add("focus_loss_weight", weight, f"the focus loss needs the pairs' depth, which only "
              f"{catalog.SYNTHETIC} has: set it to 0 for {config.dataset!r}")
    p.int_at_least(config, "val_images", 0)
    p.choice(config, "val_policy", POLICIES)
    p.int_at_least(config, "keep_checkpoints", 1)
    p.int_at_least(config, "log_every", 1)
    p.int_at_least(config, "seed", 0)
    for field in ("multihost", "eval_at_end", "render_at_end"):
        p.flag(config, field)
    if p.items:
        raise UserError("the training config has "
                        + (f"{len(p.items)} problems: " if len(p.items) > 1 else "a problem: ")
                        + "; ".join(p.items))
