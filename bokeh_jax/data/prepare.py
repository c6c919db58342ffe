"""Builds the datasets the pipeline reads (TFDS, array_record files, no TensorFlow).

    python -m bokeh_jax.data.prepare ebb --manual-dir DIR [--data-dir OUT] [--skip-bad]
    python -m bokeh_jax.data.prepare synthetic_bokeh [--data-dir OUT] [--num-train N]
        [--num-val M] [--height H] [--width W] [--seed S] [--workers K]

``OUT`` defaults to TFDS's data dir (``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).
Re-running on a built dataset does nothing. TFDS writes into a temporary folder and
renames it when done, so an interrupted build leaves nothing half-written. The command
prints the dataset name to give the pipeline (and training / evaluation configs).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bokeh_jax.cli import ArgumentParser, run_main
from bokeh_jax.data import catalog, ebb
from bokeh_jax.data import synthetic_builder as sb
from bokeh_jax.data.catalog import PreparedDataset
from bokeh_jax.errors import UserError
from bokeh_jax.files import check_can_write
from bokeh_jax.names import EBB, SYNTHETIC


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
    return PreparedDataset(catalog.canonical_name(name), data_dir, catalog.split_counts(builder))


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
    try:
        config = sb.make_config(height, width, num_train, num_val, seed)
    except ValueError as e:
        raise UserError(f"{e}") from None
    name = f"{SYNTHETIC}/{config.name}"
    out = check_can_write(catalog.data_dir_or_default(data_dir))
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
    out = check_can_write(catalog.data_dir_or_default(data_dir))
    if (catalog.dataset_path(EBB, out) / "dataset_info.json").is_file():
        log(f"ebb already built in {out}; nothing to do (delete "
            f"{catalog.dataset_path(EBB, out).parent} to rebuild)")
        return _prepared(EBB, out)
    # Checked before TFDS starts, so a bad folder leaves nothing behind in data_dir.
    result = ebb.scan(manual_dir, skip_bad=skip_bad, progress=progress)
    if result.bad:
        log(f"skipping {len(result.bad)} bad file(s):\n  " + "\n  ".join(result.bad))
    builder = ebb.Ebb(data_dir=os.fspath(out), scan_result=result, file_format="array_record")
    log(f"building ebb in {out} ({result.num_pairs} pairs)")
    _build(builder, progress, manual_dir=os.fspath(Path(manual_dir).expanduser()))
    log(f"built ebb in {out}")
    return _prepared(EBB, out)


EXAMPLES = {
    SYNTHETIC: "{prog} synthetic_bokeh --num-train 480 --num-val 48 --height 128 --width 192",
    EBB: "{prog} ebb --manual-dir /data/EBB --data-dir /data/tfds --skip-bad",
}


def _examples(prog: str, *names: str) -> str:
    return "examples:\n" + "\n".join("  " + EXAMPLES[n].format(prog=prog) for n in names)


def main(argv: Sequence[str] | None = None,
         prog: str = "python -m bokeh_jax.data.prepare") -> int:
    parser = ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                            epilog=_examples(prog, SYNTHETIC, EBB))
    sub = parser.add_subparsers(dest="dataset", required=True, metavar="DATASET")
    p_ebb = sub.add_parser(EBB, help="EBB! from a local folder", epilog=_examples(prog, EBB))
    p_ebb.add_argument("--manual-dir", required=True,
                       help="folder holding Training/original/N.jpg and Training/bokeh/N.jpg "
                            "(or that Training folder itself)")
    p_ebb.add_argument("--skip-bad", action="store_true",
                       help="leave out pairs with a missing partner, an unreadable or "
                            "truncated JPEG or mismatched sizes (listed) instead of stopping")
    p_syn = sub.add_parser(SYNTHETIC, help="render the synthetic thin-lens dataset",
                           epilog=_examples(prog, SYNTHETIC))
    defaults = catalog.SYNTHETIC_DEFAULT
    p_syn.add_argument("--num-train", type=int, default=defaults["num_train"],
                       help="pairs in the train split (default: %(default)s)")
    p_syn.add_argument("--num-val", type=int, default=defaults["num_val"],
                       help="pairs in the validation split (default: %(default)s)")
    p_syn.add_argument("--height", type=int, default=defaults["height"],
                       help="image height in pixels (default: %(default)s)")
    p_syn.add_argument("--width", type=int, default=defaults["width"],
                       help="image width in pixels (default: %(default)s)")
    p_syn.add_argument("--seed", type=int, default=defaults["seed"],
                       help="dataset seed; example i of a split depends only on (seed, split, "
                            "i) (default: %(default)s)")
    p_syn.add_argument("--workers", type=int, default=None,
                       help="rendering processes (default: all CPUs from 500 pairs up, else 1)")
    for p in (p_ebb, p_syn):
        p.add_argument("--data-dir", default=None,
                       help="TFDS data dir to build into (default: $TFDS_DATA_DIR or "
                            "~/tensorflow_datasets)")
    args = parser.parse_args(argv)

    if args.dataset == EBB:
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
