"""Where built datasets live, and how to open one (or say how to build it).

A dataset is named ``"ebb"``, ``"synthetic_bokeh"`` (the default synthetic build,
256x384, 2000/200 pairs, seed 0) or ``"synthetic_bokeh/<config>"`` with a config such
as ``128x192_train300_val60_seed0``. Builds live under a TFDS data dir:
``--data_dir`` when given, else ``$TFDS_DATA_DIR``, else ``~/tensorflow_datasets``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
from pathlib import Path

from bokeh_jax.errors import UserError
from bokeh_jax.names import EBB, SYNTHETIC

# Each builder's version: a build from an older generator is not reused. synthetic_bokeh
# 2.0.0: scenes calibrated to EBB! (docs/synthetic_data.md).
VERSIONS = {EBB: "1.0.0", SYNTHETIC: "2.0.0"}
# synthetic_bokeh's builder configs: one per size, split sizes and seed.
SYNTHETIC_DEFAULT = {"height": 256, "width": 384, "num_train": 2000, "num_val": 200, "seed": 0}
_CONFIG_RE = re.compile(r"^(\d+)x(\d+)_train(\d+)_val(\d+)_seed(\d+)$")


def default_data_dir() -> Path:
    """TFDS's default data dir: ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``."""
    env = os.environ.get("TFDS_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / "tensorflow_datasets"


def data_dir_or_default(data_dir: str | os.PathLike | None) -> Path:
    """``data_dir`` (expanded), or :func:`default_data_dir` when None."""
    return Path(data_dir).expanduser() if data_dir is not None else default_data_dir()


def split_counts(builder) -> dict[str, int]:
    """{split: number of examples} of a built dataset."""
    return {name: info.num_examples for name, info in builder.info.splits.items()}


@dataclasses.dataclass(frozen=True)
class PreparedDataset:
    """A built dataset: pass it (or its ``name`` with ``data_dir``) to the pipeline.

    ``splits`` maps split names to their number of examples.
    """

    name: str
    data_dir: Path
    splits: dict[str, int]

    @property
    def path(self) -> Path:
        return dataset_path(self.name, self.data_dir)


def config_name(height: int, width: int, num_train: int, num_val: int, seed: int) -> str:
    """The builder-config name of a build, e.g. ``256x384_train2000_val200_seed0``."""
    return f"{height}x{width}_train{num_train}_val{num_val}_seed{seed}"


def parse_config_name(name: str) -> dict[str, int] | None:
    """Inverse of :func:`config_name` (None when ``name`` is not of that form)."""
    m = _CONFIG_RE.match(name)
    if not m:
        return None
    keys = ("height", "width", "num_train", "num_val", "seed")
    return dict(zip(keys, map(int, m.groups()), strict=True))


def canonical_name(name: str) -> str:
    """``synthetic_bokeh`` -> ``synthetic_bokeh/<default config>``; checks the name."""
    if name == EBB:
        return name
    if name == SYNTHETIC:
        return f"{SYNTHETIC}/{config_name(**SYNTHETIC_DEFAULT)}"
    base, _, config = name.partition("/")
    if base == SYNTHETIC and parse_config_name(config) is not None:
        return name
    raise UserError(f"unknown dataset {name!r}: use 'ebb', 'synthetic_bokeh' or "
                    "'synthetic_bokeh/<H>x<W>_train<N>_val<M>_seed<S>' "
                    "(the name `python -m bokeh_jax.data.prepare` prints)")


def dataset_path(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """The folder of a build: ``DATA_DIR/<name>[/<config>]/<version>``."""
    name = canonical_name(name)
    return data_dir_or_default(data_dir) / name / VERSIONS[name.partition("/")[0]]


def prepare_command(name: str, data_dir: str | os.PathLike | None = None) -> str:
    """The shell command that builds ``name`` into ``data_dir``."""
    name = canonical_name(name)
    cmd = ["python", "-m", "bokeh_jax.data.prepare"]
    if name == EBB:
        cmd += [EBB, "--manual-dir", "/path/to/EBB"]
    else:
        cfg = parse_config_name(name.partition("/")[2])
        cmd += [SYNTHETIC] + [f"--{k.replace('_', '-')}={v}" for k, v in cfg.items()]
    if data_dir is not None:
        cmd += ["--data-dir", str(data_dir)]
    return shlex.join(cmd)


def resolve(dataset: str | PreparedDataset,
            data_dir: str | os.PathLike | None = None) -> tuple[str, Path | None]:
    """(name, data_dir) from a name or a PreparedDataset (whose data_dir wins if none given)."""
    if isinstance(dataset, PreparedDataset):
        return dataset.name, Path(data_dir) if data_dir is not None else dataset.data_dir
    return dataset, Path(data_dir) if data_dir is not None else None


def load_builder(dataset: str | PreparedDataset, data_dir: str | os.PathLike | None = None):
    """Opens a built dataset read-only (a TFDS builder); UserError says how to build it."""
    import tensorflow_datasets as tfds

    name, data_dir = resolve(dataset, data_dir)
    path = dataset_path(name, data_dir)
    if not (path / "dataset_info.json").is_file():
        where = data_dir_or_default(data_dir)
        raise UserError(f"dataset {canonical_name(name)} is not built in {where}; build it "
                        f"with: {prepare_command(name, data_dir)}")
    return tfds.builder_from_directory(os.fspath(path))


def check_split(builder, split: str) -> int:
    """Number of examples in ``split``; UserError listing the splits when it is unknown."""
    splits = split_counts(builder)
    if split not in splits:
        raise UserError(f"unknown split {split!r} for {builder.info.full_name}; "
                        f"available: {', '.join(sorted(splits))}")
    return splits[split]
