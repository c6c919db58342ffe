"""Pairs read straight from a folder (no build step): for evaluating on a few local images.

Layout: ``FOLDER/original/N.jpg`` + ``FOLDER/bokeh/N.jpg`` (``.jpeg`` and ``.png`` too),
or EBB!'s own ``FOLDER/Training/original`` + ``FOLDER/Training/bokeh``. N is an integer id.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bokeh_jax.data import images
from bokeh_jax.errors import UserError

_NAME_RE = re.compile(r"^(\d+)\.(jpe?g|png)$", re.IGNORECASE)
LAYOUT = "FOLDER/original/N.jpg and FOLDER/bokeh/N.jpg (or FOLDER/Training/original, ...)"


class PairsDir(Sequence):
    """The pairs of a folder in id order, decoded on access at full resolution.

    Items: {"id": int, "original": float32 (H, W, 3) in [0, 1], "bokeh": same}.
    """

    def __init__(self, pairs: list[tuple[int, Path, Path]]):
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict:
        pair_id, o_path, b_path = self.pairs[index]
        out = {"id": pair_id}
        for key, path in (("original", o_path), ("bokeh", b_path)):
            try:
                out[key] = images.to_float(images.decode_rgb(path.read_bytes()))
            except (OSError, SyntaxError, ValueError) as e:
                raise UserError(f"{path}: unreadable or truncated image ({e}); replace or "
                                "remove this pair") from None
        if out["original"].shape != out["bokeh"].shape:
            raise UserError(f"{b_path}: size {_size(out['bokeh'])} differs from its original "
                            f"{o_path} ({_size(out['original'])}); remove or fix this pair")
        return out


def _size(img: np.ndarray) -> str:
    return f"{img.shape[1]}x{img.shape[0]}"


def iter_pairs(folder: str | os.PathLike, *, skip_unpaired: bool = False) -> PairsDir:
    """The pairs under ``folder``, sorted by id (a sized sequence: ``len()`` works).

    Raises UserError for a missing or wrong folder, no pairs, or an id present on one
    side only (all named; ``skip_unpaired`` leaves those out instead). Broken or
    mismatched files raise UserError when their item is read.
    """
    original_dir, bokeh_dir = images.find_pair_folders(folder, LAYOUT)
    base = original_dir.parent
    originals = images.numbered_files(original_dir, _NAME_RE)
    bokehs = images.numbered_files(bokeh_dir, _NAME_RE)
    unpaired = [f"{p}: no partner in {bokeh_dir if i in originals else original_dir}"
                for i, p in sorted({**bokehs, **originals}.items())
                if (i in originals) != (i in bokehs)]
    if unpaired and not skip_unpaired:
        raise UserError(f"{len(unpaired)} unpaired file(s) in {base}: {'; '.join(unpaired)}. "
                        "Add the partners, or leave those files out with --skip-unpaired "
                        "(skip_unpaired=True)")
    ids = sorted(set(originals) & set(bokehs))
    if not ids:
        raise UserError(f"{base}: no image pairs found; expected {LAYOUT}")
    return PairsDir([(i, originals[i], bokehs[i]) for i in ids])
