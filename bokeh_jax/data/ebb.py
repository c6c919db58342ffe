"""TFDS builder for EBB! ("Everything is Better with Bokeh", AIM 2019) from a local copy.

The download links are dead; users who have the data keep it locally in the dataset's
own layout ``DIR/Training/original/N.jpg`` + ``DIR/Training/bokeh/N.jpg`` (N = 0..4693).
Splits follow what every paper reports: ``train`` = ids 0..4399, ``val294`` = ids
4400..4693. Features: ``id`` (int64), ``original`` and ``bokeh`` (the JPEG files' bytes,
unchanged). Records are written in id order.

Before anything is written every pair is checked: both files present, both decodable
to the end (a truncated JPEG fails), both the same size. Problems stop the build with
every offending file named, unless ``skip_bad`` is set (then they are skipped and counted).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from bokeh_jax.data import catalog, images
from bokeh_jax.data.builder_base import LocalBuilder
from bokeh_jax.errors import UserError
from bokeh_jax.names import EBB

SPLITS = ("train", "val294")
NUM_IDS = 4694  # ids 0..4693
VAL_START = 4400
_ID_RE = re.compile(r"^(\d+)\.jpe?g$", re.IGNORECASE)
LAYOUT = "DIR/Training/original/N.jpg and DIR/Training/bokeh/N.jpg (N = 0..4693)"


def split_of(pair_id: int) -> str:
    """``train`` for ids 0..4399, ``val294`` for 4400..4693."""
    return "train" if pair_id < VAL_START else "val294"


@dataclasses.dataclass
class ScanResult:
    """What :func:`scan` found: good pairs per split and one message per bad file."""

    pairs: dict[str, list[tuple[int, Path, Path]]]
    bad: list[str]

    @property
    def num_pairs(self) -> int:
        return sum(len(v) for v in self.pairs.values())


def find_layout(manual_dir: str | Path) -> tuple[Path, Path]:
    """The ``original`` and ``bokeh`` folders under ``manual_dir`` (or ``manual_dir/Training``)."""
    return images.find_pair_folders(manual_dir, LAYOUT)


def _jpeg_size(path: Path) -> tuple[int, int]:
    """(W, H) of a JPEG after decoding all of it; raises ValueError/OSError when broken."""
    with Image.open(path) as img:
        if img.format != "JPEG":
            raise ValueError(f"is a {img.format} file, not a JPEG")
        size = img.size
        # Decoding at 1/8 scale still reads every coefficient, so truncation and corrupt
        # data are caught, at a fifth of the cost of a full decode.
        img.draft("RGB", (max(1, size[0] // 8), max(1, size[1] // 8)))
        img.load()
    return size


def scan(manual_dir: str | Path, *, skip_bad: bool = False, progress: bool = True) -> ScanResult:
    """Finds and checks every pair under ``manual_dir``.

    Raises UserError naming every offending file, unless ``skip_bad``; with ``skip_bad``
    the bad pairs are left out and listed in ``ScanResult.bad``.
    """
    from tqdm import tqdm

    orig_dir, bokeh_dir = find_layout(manual_dir)

    originals = images.numbered_files(orig_dir, _ID_RE)
    bokehs = images.numbered_files(bokeh_dir, _ID_RE)
    if not originals and not bokehs:
        raise UserError(f"{orig_dir.parent}: no N.jpg files in original/ or bokeh/; "
                        f"expected {LAYOUT}")
    bad: list[str] = []
    pairs: dict[str, list[tuple[int, Path, Path]]] = {s: [] for s in SPLITS}
    for pair_id in tqdm(sorted(set(originals) | set(bokehs)), desc="checking EBB! pairs",
                        unit="pair", disable=not progress or None):
        o, b = originals.get(pair_id), bokehs.get(pair_id)
        if o is None or b is None:
            have, missing = (o, bokeh_dir) if b is None else (b, orig_dir)
            bad.append(f"{have}: its partner {missing / have.name} is missing")
            continue
        if pair_id >= NUM_IDS:
            bad.append(f"{o} (and its partner): id {pair_id} is outside EBB!'s 0..{NUM_IDS - 1}")
            continue
        sizes, ok = [], True
        for p in (o, b):
            try:
                sizes.append(_jpeg_size(p))
            except (OSError, ValueError, Image.DecompressionBombError) as e:
                bad.append(f"{p}: unreadable or truncated JPEG ({e})")
                ok = False
        if ok and sizes[0] != sizes[1]:
            bad.append(f"{b}: size {sizes[1][0]}x{sizes[1][1]} differs from its original "
                       f"{o} ({sizes[0][0]}x{sizes[0][1]})")
            ok = False
        if ok:
            pairs[split_of(pair_id)].append((pair_id, o, b))
    if bad and not skip_bad:
        raise UserError(f"{len(bad)} bad file(s) in {orig_dir.parent}, nothing written "
                        "(fix them, or pass --skip-bad to leave those pairs out):\n"
                        + "\n".join(bad))
    if not any(pairs.values()):
        raise UserError(f"{orig_dir.parent}: no usable pair left (all {len(bad)} bad); "
                        f"expected {LAYOUT}")
    return ScanResult(pairs, bad)


class Ebb(LocalBuilder):
    """EBB! pairs (all-in-focus / f1.8 bokeh JPEGs) from a local folder."""

    VERSION = tfds.core.Version(catalog.VERSIONS[EBB])

    MANUAL_DOWNLOAD_INSTRUCTIONS = f"Pass the folder holding {LAYOUT} as --manual-dir."

    def __init__(self, *, skip_bad: bool = False, progress: bool = True,
                 scan_result: ScanResult | None = None, **kwargs):
        """``skip_bad``: leave out bad pairs instead of stopping (see :func:`scan`).

        ``scan_result``: the folder already checked by :func:`scan` (else it is scanned
        when TFDS asks for the splits).
        """
        self._skip_bad = skip_bad
        self._progress = progress
        self.scan_result = scan_result
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=("EBB! (Ignatov et al., AIM 2019): Canon 7D + 50mm pairs, narrow "
                         "aperture (original) and f/1.8 (bokeh). Val294 = ids 4400..4693."),
            features=tfds.features.FeaturesDict({
                "id": tfds.features.Scalar(np.int64),
                "original": tfds.features.Image(shape=(None, None, 3), encoding_format="jpeg"),
                "bokeh": tfds.features.Image(shape=(None, None, 3), encoding_format="jpeg"),
            }),
            homepage="https://competitions.codalab.org/competitions/20157",
            # Records stay in id order, so evaluation reads them sorted without an index.
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager):
        if self.scan_result is None:
            self.scan_result = scan(dl_manager.manual_dir, skip_bad=self._skip_bad,
                                    progress=self._progress)
        return {split: self._generate_examples(pairs)
                for split, pairs in self.scan_result.pairs.items() if pairs}

    def _generate_examples(self, pairs: list[tuple[int, Path, Path]]
                           ) -> Iterator[tuple[int, dict]]:
        for pair_id, o, b in pairs:
            yield pair_id, {"id": pair_id, "original": o.read_bytes(), "bokeh": b.read_bytes()}

