"""What ``eval.py`` scores: the checkpoint a path names, the examples, the output folder.

All checked before any weight is read or anything compiles.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from bokeh_jax.data import catalog, ebb, pipeline
from bokeh_jax.data.pairs_dir import PairsDir, iter_pairs
from bokeh_jax.errors import UserError
from bokeh_jax.evaluation.reports import SUMMARY_FILE
from bokeh_jax.files import check_can_write, check_output_folder
from bokeh_jax.names import EBB, SYNTHETIC, VAL294
from bokeh_jax.network import checkpoint

ALL_SPLIT = "all"  # a pairs folder taken whole
DEFAULT_SPLITS = {EBB: VAL294, SYNTHETIC: "validation"}


def resolve_checkpoint(path: str | os.PathLike) -> tuple[Path, str]:
    """The checkpoint folder ``--checkpoint`` names, and a note when it was not ``path`` itself.

    Accepts a bokeh_jax checkpoint folder (converted or trained), or a phase folder of a
    training workdir (``WORKDIR/phaseN/``), whose ``best/`` checkpoint is taken (``final/``
    when there is no ``best/``). Raises UserError naming the fix otherwise.
    """
    path = Path(path).expanduser()
    if (path / checkpoint.METADATA_FILE).is_file():
        checkpoint.read_metadata(path)  # checks the format; the weights are read later
        return path, ""
    for sub, why in (("best", "best validation score"), ("final", "no best/ was saved")):
        if (path / sub / checkpoint.METADATA_FILE).is_file():
            checkpoint.read_metadata(path / sub)
            return path / sub, f"{path} is a training phase folder: evaluating {path / sub} ({why})"
    if path.is_dir() and any(path.glob("phase*/")):
        raise UserError(f"{path}: a training workdir, not a checkpoint; pass one of its phase "
                        f"folders, e.g. --checkpoint {path / 'phase3'}")
    if path.is_dir() and re.fullmatch(r"phase\d+", path.name):
        raise UserError(f"{path}: this training phase has no best/ or final/ checkpoint yet; "
                        "let the phase save one (or pass a checkpoint folder)")
    checkpoint.read_metadata(path)  # raises the right UserError (missing / not bokeh_jax)
    return path, ""


def open_examples(dataset: str = "ebb", split: str | None = None, *,
                  data_dir: str | os.PathLike | None = None,
                  pairs_dir: str | os.PathLike | None = None, skip_unpaired: bool = False):
    """(examples, dataset label, split) for ``eval.py``.

    A built TFDS dataset (``bokeh_jax.data.pipeline.eval_examples``; default split val294 for
    EBB!, validation for synthetic_bokeh), or with ``pairs_dir`` a folder of pairs read
    directly, taken whole (split "all") or restricted to EBB!'s train / val294 ids.
    """
    if pairs_dir is not None:
        pairs = iter_pairs(pairs_dir, skip_unpaired=skip_unpaired)
        split = split or ALL_SPLIT
        if split != ALL_SPLIT:
            if split not in ebb.SPLITS:
                raise UserError(f"unknown split {split!r} for --pairs-dir; use {ALL_SPLIT}, "
                                f"{' or '.join(ebb.SPLITS)} (EBB! id ranges)")
            kept = [p for p in pairs.pairs if ebb.split_of(p[0]) == split]
            if not kept:
                raise UserError(f"{pairs_dir}: no pair has an id in EBB!'s {split} range; "
                                f"pass --split {ALL_SPLIT}")
            pairs = PairsDir(kept)
        return pairs, f"pairs_dir:{Path(pairs_dir).expanduser()}", split
    name = catalog.canonical_name(dataset)
    split = split or DEFAULT_SPLITS[name.partition("/")[0]]
    return pipeline.eval_examples(dataset, split, data_dir=data_dir), name, split




def check_out_dir(out_dir: str | os.PathLike) -> Path:
    """Refuses an output path that is a file, a non-empty folder not written by us, or one
    whose parent cannot be written (the reports are staged beside it)."""
    out_dir = check_output_folder(
        out_dir, replaceable=lambda p: (p / SUMMARY_FILE).is_file(),
        fix=f"it holds no earlier evaluation ({SUMMARY_FILE}); choose another --out or empty it")
    check_can_write(out_dir.parent)
    return out_dir
