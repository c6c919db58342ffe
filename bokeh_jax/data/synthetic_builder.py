"""TFDS builder for ``synthetic_bokeh``: thin-lens pairs from ``synthetic.py``, as array_record.

Each size/count/seed is its own builder config, named like ``256x384_train2000_val200_seed0``,
so builds of different sizes live side by side under
``DATA_DIR/synthetic_bokeh/<config>/1.0.0``. Splits are ``train`` and ``validation``.
Images are stored as PNG (lossless: targets are exactly what the renderer produced),
depth as zlib-compressed float32.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import io
import multiprocessing
from collections.abc import Iterator
from typing import ClassVar

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from bokeh_jax.data import catalog, synthetic
from bokeh_jax.data.builder_base import LocalBuilder
from bokeh_jax.names import SYNTHETIC


@dataclasses.dataclass(eq=False)
class SyntheticBokehConfig(tfds.core.BuilderConfig):
    """Image size (H, W), split sizes and seed of one synthetic build."""

    height: int = 256
    width: int = 384
    num_train: int = 2000
    num_val: int = 200
    seed: int = 0


def make_config(height: int = 256, width: int = 384, num_train: int = 2000, num_val: int = 200,
                seed: int = 0) -> SyntheticBokehConfig:
    """A config for the given size, counts and seed (the defaults suit a CPU demo)."""
    cfg = _new_config(height, width, num_train, num_val, seed)
    # TFDS refuses a config object named like one of the class's but not that very object.
    return DEFAULT_CONFIG if cfg.name == DEFAULT_CONFIG.name else cfg


def _new_config(height: int = 256, width: int = 384, num_train: int = 2000, num_val: int = 200,
                seed: int = 0) -> SyntheticBokehConfig:
    for label, value in (("height", height), ("width", width)):
        if value < 16:
            raise ValueError(f"{label}={value}: images must be at least 16 pixels")
    if num_train < 0 or num_val < 0 or num_train + num_val == 0:
        raise ValueError(f"num_train={num_train}, num_val={num_val}: need >= 0 and not both 0")
    if seed < 0:
        raise ValueError(f"seed={seed}: must be >= 0")
    return SyntheticBokehConfig(
        name=catalog.config_name(height, width, num_train, num_val, seed),
        version=catalog.VERSIONS[SYNTHETIC],
        description=f"{num_train} train / {num_val} validation pairs at {height}x{width}, "
                    f"seed {seed}",
        height=height, width=width, num_train=num_train, num_val=num_val, seed=seed)


DEFAULT_CONFIG = _new_config(**catalog.SYNTHETIC_DEFAULT)


def _encode_example(args: tuple[int, str, int, int, int]) -> tuple[int, dict]:
    """Renders one example and encodes it for TFDS (runs in worker processes)."""
    seed, split, index, height, width = args
    ex = synthetic.make_example(seed, split, index, height, width)

    def png(img: np.ndarray) -> bytes:
        buf = io.BytesIO()
        # Level 1, Huffman coding only: the noisy originals barely compress more with
        # LZ77 or higher levels, which cost 1.2-6x the time.
        Image.fromarray(img).save(buf, format="png", compress_level=1, compress_type=2)
        return buf.getvalue()

    return index, {"id": index, "original": png(ex["original"]), "bokeh": png(ex["bokeh"]),
                   "depth": ex["depth"], "focus_depth": np.float32(ex["focus_depth"])}


class SyntheticBokeh(LocalBuilder):
    """Synthetic all-in-focus / bokeh pairs with depth (see ``bokeh_jax.data.synthetic``)."""

    VERSION = tfds.core.Version(catalog.VERSIONS[SYNTHETIC])
    RELEASE_NOTES: ClassVar[dict[str, str]] = {
        "1.0.0": "Initial release.",
        "2.0.0": "Scenes calibrated to EBB!: blur radii in pixels, native-scale textures "
                 "and foliage, exposure scatter, optics softening (docs/synthetic_data.md)."}

    BUILDER_CONFIGS: ClassVar[list[SyntheticBokehConfig]] = [DEFAULT_CONFIG]

    def __init__(self, *, workers: int = 1, **kwargs):
        """``workers``: processes rendering examples in parallel (1 = in this process)."""
        self._workers = max(1, int(workers))
        self._pool: concurrent.futures.Executor | None = None
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        cfg = self.builder_config
        shape = (cfg.height, cfg.width)
        return tfds.core.DatasetInfo(
            builder=self,
            description=("Synthetic layered scenes rendered all in focus and through a "
                         "thin lens focused on the nearest object (bokeh_jax.data.synthetic)."),
            features=tfds.features.FeaturesDict({
                "id": tfds.features.Scalar(np.int64),
                "original": tfds.features.Image(shape=(*shape, 3), encoding_format="png"),
                "bokeh": tfds.features.Image(shape=(*shape, 3), encoding_format="png"),
                "depth": tfds.features.Tensor(shape=shape, dtype=np.float32,
                                              encoding=tfds.features.Encoding.ZLIB),
                "focus_depth": tfds.features.Scalar(np.float32),
            }),
            # Records stay in id order, so evaluation reads them sorted without an index.
            disable_shuffling=True,
        )

    def _download_and_prepare(self, dl_manager, download_config=None) -> None:
        # One pool of rendering processes for all splits. Spawned (not forked) workers:
        # the parent may hold threads (TFDS, JAX).
        if self._workers == 1:
            return super()._download_and_prepare(dl_manager, download_config)
        ctx = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(self._workers, mp_context=ctx) as pool:
            self._pool = pool
            try:
                return super()._download_and_prepare(dl_manager, download_config)
            except BaseException:
                # Interrupted (Ctrl-C, SIGTERM through cli.run_main) or failed: drop the
                # queued pairs, so the workers finish their chunk and exit instead of the
                # pool's exit waiting for the whole split (or outliving us).
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            finally:
                self._pool = None

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download
        cfg = self.builder_config
        counts = {"train": cfg.num_train, "validation": cfg.num_val}
        return {split: self._generate_examples(split, n) for split, n in counts.items() if n}

    def _generate_examples(self, split: str, count: int) -> Iterator[tuple[int, dict]]:
        cfg = self.builder_config
        jobs = ((cfg.seed, split, i, cfg.height, cfg.width) for i in range(count))
        if self._pool is None:
            yield from map(_encode_example, jobs)
        else:
            yield from self._pool.map(_encode_example, jobs, chunksize=4)
