"""Where built datasets live, and how to open one (or say how to build it).

A dataset is named ``"ebb"``, ``"synthetic_bokeh"`` (the default synthetic build,
256x384, 2000/200 pairs, seed 0) or ``"synthetic_bokeh/<config>"`` with a config such
as ``128x192_train300_val60_seed0``. Builds live under a TFDS data dir:
``--data_dir`` when given, else ``$TFDS_DATA_DIR``, else ``~/tensorflow_datasets``.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
from pathlib import Path

from bokeh_jax.cli import UserError

EBB = "ebb"
SYNTHETIC = "synthetic_bokeh"
VERSION = "1.0.0"  # both builders; bump here and in the builder together


def default_data_dir() -> Path:
    """TFDS's default data dir: ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``."""
    env = os.environ.get("TFDS_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / "tensorflow_datasets"


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


def canonical_name(name: str) -> str:
    """``synthetic_bokeh`` -> ``synthetic_bokeh/<default config>``; checks the name."""
    from bokeh_jax.data import synthetic_builder as sb

    if name == EBB:
        return name
    if name == SYNTHETIC:
        return f"{SYNTHETIC}/{sb.DEFAULT_CONFIG.name}"
    base, _, config = name.partition("/")
    if base == SYNTHETIC and sb.parse_config_name(config) is not None:
        return name
    raise UserError(f"unknown dataset {name!r}: use 'ebb', 'synthetic_bokeh' or "
                    "'synthetic_bokeh/<H>x<W>_train<N>_val<M>_seed<S>' "
                    "(the name `python -m bokeh_jax.data.prepare` prints)")


def dataset_path(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """The folder of a build: ``DATA_DIR/<name>[/<config>]/<version>``."""
    data_dir = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    return data_dir / canonical_name(name) / VERSION


def prepare_command(name: str, data_dir: str | os.PathLike | None = None) -> str:
    """The shell command that builds ``name`` into ``data_dir``."""
    from bokeh_jax.data import synthetic_builder as sb

    name = canonical_name(name)
    cmd = ["python", "-m", "bokeh_jax.data.prepare"]
    if name == EBB:
        cmd += ["ebb", "--manual_dir", "/path/to/EBB"]
    else:
        cfg = sb.parse_config_name(name.partition("/")[2])
        cmd += [SYNTHETIC] + [f"--{k}={v}" for k, v in cfg.items()]
    if data_dir is not None:
        cmd += ["--data_dir", str(data_dir)]
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
        where = data_dir if data_dir is not None else default_data_dir()
        raise UserError(f"dataset {canonical_name(name)} is not built in {where}; build it "
                        f"with: {prepare_command(name, data_dir)}")
    return tfds.builder_from_directory(os.fspath(path))


def check_split(builder, split: str) -> int:
    """Number of examples in ``split``; UserError listing the splits when it is unknown."""
    splits = {name: info.num_examples for name, info in builder.info.splits.items()}
    if split not in splits:
        raise UserError(f"unknown split {split!r} for {builder.info.full_name}; "
                        f"available: {', '.join(sorted(splits))}")
    return splits[split]
