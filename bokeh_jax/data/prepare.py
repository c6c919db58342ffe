"""Builds the datasets the pipeline reads (TFDS, array_record files, no TensorFlow).

    python -m bokeh_jax.data.prepare ebb --manual_dir DIR [--data_dir OUT] [--skip_bad]
    python -m bokeh_jax.data.prepare synthetic_bokeh [--data_dir OUT] [--num_train N]
        [--num_val M] [--height H] [--width W] [--seed S] [--workers K]

``OUT`` defaults to TFDS's data dir (``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).
Re-running on a built dataset does nothing. TFDS writes into a temporary folder and
renames it when done, so an interrupted build leaves nothing half-written. The command
prints the dataset name to give the pipeline (and training / evaluation configs).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bokeh_jax.cli import UserError, run_main
from bokeh_jax.data import catalog
from bokeh_jax.data.catalog import PreparedDataset


def _data_dir(data_dir: str | os.PathLike | None) -> Path:
    return Path(data_dir).expanduser() if data_dir is not None else catalog.default_data_dir()


def _build(builder, progress: bool, **kwargs) -> None:
    import tensorflow_datasets as tfds

    tfds.display_progress_bar(progress)
    try:
        # Downloads would go to DATA_DIR/downloads; nothing is downloaded, keep it clean.
        with tempfile.TemporaryDirectory(prefix="bokeh_jax_tfds_") as tmp:
            builder.download_and_prepare(download_dir=tmp,
                                         download_config=tfds.download.DownloadConfig(**kwargs))
    finally:
        tfds.display_progress_bar(True)  # TFDS's default


@contextlib.contextmanager
def _quiet_absl_warnings():
    """TFDS warns "Using custom data configuration" for every size not listed in the class."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _prepared(name: str, data_dir: Path) -> PreparedDataset:
    builder = catalog.load_builder(name, data_dir)
    splits = {s: info.num_examples for s, info in builder.info.splits.items()}
    return PreparedDataset(catalog.canonical_name(name), data_dir, splits)


def prepare_synthetic(*, data_dir: str | os.PathLike | None = None, num_train: int = 2000,
                      num_val: int = 200, height: int = 256, width: int = 384, seed: int = 0,
                      workers: int | None = None, progress: bool = True,
                      log=print) -> PreparedDataset:
    """Renders and writes ``synthetic_bokeh`` (splits ``train`` and ``validation``).

    Args:
      data_dir: TFDS data dir (default: ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).
      num_train, num_val: number of pairs per split (a split of 0 is left out).
      height, width: image size in pixels.
      seed: dataset seed; example i of a split depends only on (seed, split, i).
      workers: rendering processes (default: all CPUs from 500 pairs up, else 1: starting
        a process costs about 2 s, and a small build is done in seconds).
      progress: show TFDS's progress bars.
      log: where our status lines go (``print``; ``lambda *a: None`` silences them).

    Returns:
      The PreparedDataset (name ``synthetic_bokeh/<HxW>_train<N>_val<M>_seed<S>``).
    """
    from bokeh_jax.data import synthetic_builder as sb

    try:
        config = sb.make_config(height, width, num_train, num_val, seed)
    except ValueError as e:
        raise UserError(f"{e}") from None
    name = f"{catalog.SYNTHETIC}/{config.name}"
    out = _data_dir(data_dir)
    if (catalog.dataset_path(name, out) / "dataset_info.json").is_file():
        log(f"{name} already built in {out}; nothing to do (delete "
            f"{catalog.dataset_path(name, out).parent} to rebuild)")
        return _prepared(name, out)
    if workers is None:
        workers = 1 if num_train + num_val < 500 else (os.cpu_count() or 1)
    with _quiet_absl_warnings():
        builder = sb.SyntheticBokeh(config=config, data_dir=os.fspath(out), workers=workers,
                                    file_format="array_record")
    log(f"building {name} in {out} ({num_train + num_val} pairs, {workers} process(es))")
    _build(builder, progress)
    log(f"built {name} in {out}")
    return _prepared(name, out)


def prepare_ebb(manual_dir: str | os.PathLike, *, data_dir: str | os.PathLike | None = None,
                skip_bad: bool = False, progress: bool = True, log=print) -> PreparedDataset:
    """Checks and writes EBB! from a local folder (splits ``train`` and ``val294``).

    Args:
      manual_dir: folder holding ``Training/original/N.jpg`` and ``Training/bokeh/N.jpg``
        (or the ``Training`` folder itself).
      data_dir: TFDS data dir (default: ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).
      skip_bad: leave out pairs with a missing partner, an unreadable or truncated JPEG
        or mismatched sizes (reported) instead of stopping with UserError.
      progress: show progress bars.
      log: where our status lines go (``print``; ``lambda *a: None`` silences them).

    Returns:
      The PreparedDataset (name ``ebb``).
    """
    from bokeh_jax.data import ebb

    out = _data_dir(data_dir)
    if (catalog.dataset_path(catalog.EBB, out) / "dataset_info.json").is_file():
        log(f"ebb already built in {out}; nothing to do (delete "
            f"{catalog.dataset_path(catalog.EBB, out).parent} to rebuild)")
        return _prepared(catalog.EBB, out)
    # Checked before TFDS starts, so a bad folder leaves nothing behind in data_dir.
    result = ebb.scan(manual_dir, skip_bad=skip_bad, progress=progress)
    if result.bad:
        log(f"skipping {len(result.bad)} bad file(s):\n  " + "\n  ".join(result.bad))
    builder = ebb.Ebb(data_dir=os.fspath(out), scan_result=result, file_format="array_record")
    log(f"building ebb in {out} ({result.num_pairs} pairs)")
    _build(builder, progress, manual_dir=os.fspath(Path(manual_dir).expanduser()))
    log(f"built ebb in {out}")
    return _prepared(catalog.EBB, out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bokeh_jax.data.prepare",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="dataset", required=True)
    p_ebb = sub.add_parser("ebb", help="EBB! from a local folder")
    p_ebb.add_argument("--manual_dir", required=True,
                       help="folder holding Training/original/N.jpg and Training/bokeh/N.jpg")
    p_ebb.add_argument("--skip_bad", action="store_true",
                       help="skip pairs with missing/broken/mismatched files instead of stopping")
    p_syn = sub.add_parser("synthetic_bokeh", help="render the synthetic thin-lens dataset")
    p_syn.add_argument("--num_train", type=int, default=2000)
    p_syn.add_argument("--num_val", type=int, default=200)
    p_syn.add_argument("--height", type=int, default=256)
    p_syn.add_argument("--width", type=int, default=384)
    p_syn.add_argument("--seed", type=int, default=0)
    p_syn.add_argument("--workers", type=int, default=None,
                       help="rendering processes (default: all CPUs from 500 pairs up, else 1)")
    for p in (p_ebb, p_syn):
        p.add_argument("--data_dir", default=None,
                       help="TFDS data dir (default: $TFDS_DATA_DIR or ~/tensorflow_datasets)")
    args = parser.parse_args(argv)

    if args.dataset == "ebb":
        ds = prepare_ebb(args.manual_dir, data_dir=args.data_dir, skip_bad=args.skip_bad)
    else:
        ds = prepare_synthetic(data_dir=args.data_dir, num_train=args.num_train,
                               num_val=args.num_val, height=args.height, width=args.width,
                               seed=args.seed, workers=args.workers)
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(ds.splits.items()))
    print(f"dataset: {ds.name}  ({counts})  data_dir: {ds.data_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
