"""Input pipeline: grain over the TFDS array_record builds (no TensorFlow).

Training (:func:`make_train_loader`): a seeded global shuffle, reshuffled every epoch;
each pair decoded (JPEG at reduced scale when that is still at least the target size,
see ``images.decode_rgb``), resized to the phase's resolution (bilinear, antialiased),
flipped horizontally and/or vertically (each with probability 1/2, the same flips for
both images of a pair: the paper's augmentation), batched with the remainder of each
epoch dropped, and shaped ``(devices, per_device, H, W, 3)`` for pmap.
Every random choice depends only on (seed, epoch, position), so the batches do not
depend on the number of worker processes, and a restored iterator carries on exactly
where the saved one was.

Evaluation (:func:`eval_examples`): the split in id order at full resolution, no
augmentation (the paper's metrics are computed at full size).

Checkpointing the training iterator with orbax (grain ships the handler)::

    mngr = ocp.CheckpointManager(dir, item_names=("state", "data"))
    mngr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                            data=grain.checkpoint.CheckpointSave(loader)))
    mngr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract),
                                               data=grain.checkpoint.CheckpointRestore(loader)))

or by hand: ``loader.get_state()`` is a small JSON-able dict, ``loader.set_state(d)``.
"""

from __future__ import annotations

import atexit
import os
import weakref
from collections.abc import Sequence

import grain
import numpy as np

from bokeh_jax.data import catalog, images
from bokeh_jax.data.catalog import PreparedDataset
from bokeh_jax.data.focus_labels import focus_label
from bokeh_jax.errors import UserError

_IMAGE_KEYS = ("original", "bokeh")


def _ensure_absl_flags_parsed() -> None:
    """grain's worker processes read absl flags; parse them if the program did not."""
    from absl import flags

    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()


def _open(dataset, split: str, data_dir, *, extras: bool):
    """(TFDS data source, number of examples); image bytes are left for us to decode."""
    import tensorflow_datasets as tfds

    builder = catalog.load_builder(dataset, data_dir)
    count = catalog.check_split(builder, split)
    features = builder.info.features
    skip = list(_IMAGE_KEYS) + ([] if extras else [k for k in ("depth",) if k in features])
    source = builder.as_data_source(split=split,
                                    decoders={k: tfds.decode.SkipDecoding() for k in skip})
    return source, count


class _DecodeFlip(grain.transforms.RandomMap):
    """Decodes and resizes both images of a pair, then applies the same random flips; with
    ``focus``, also the pair's focus labels
    (:func:`~bokeh_jax.data.focus_labels.focus_label`), resized (nearest) and flipped alike."""

    def __init__(self, size: tuple[int, int], flips: bool, focus: bool = False):
        self.size, self.flips, self.focus = size, flips, focus

    def random_map(self, element: dict, rng: np.random.Generator) -> dict:
        h, v = (bool(x) for x in rng.random(2) < 0.5) if self.flips else (False, False)
        o, b = (images.decode_rgb(element[k], self.size, flip_h=h, flip_v=v) for k in _IMAGE_KEYS)
        out = {"id": np.int64(element["id"]), "original": o, "bokeh": b}
        if self.focus:
            label = focus_label(element["depth"], float(element["focus_depth"]))
            out["focus"] = _resize_flip_nearest(label, self.size, h, v)
        return out


def _resize_flip_nearest(x: np.ndarray, size: tuple[int, int], flip_h: bool,
                         flip_v: bool) -> np.ndarray:
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(x, np.float32), mode="F")
    if img.size != (size[1], size[0]):
        img = img.resize((size[1], size[0]), Image.NEAREST)
    x = np.asarray(img, np.float32)
    return np.ascontiguousarray(x[::-1 if flip_v else 1, ::-1 if flip_h else 1])


class _ToDevices(grain.transforms.Map):
    """(B, ...) -> (devices, B / devices, ...); images to float32 in [0, 1].

    Runs in the main process: workers send uint8 (a quarter of the bytes), and the
    float arrays handed out are ordinary ones, not views of grain's shared memory.
    """

    def __init__(self, num_devices: int):
        self.num_devices = num_devices

    def map(self, batch: dict) -> dict:
        out = {}
        for k, v in batch.items():
            v = v.reshape(self.num_devices, v.shape[0] // self.num_devices, *v.shape[1:])
            out[k] = images.to_float(v) if k in _IMAGE_KEYS else np.array(v)
        return out


_LIVE_LOADERS: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _close_live_loaders() -> None:
    # Registered after grain imported multiprocessing, so this runs before its exit
    # hooks: closing worker processes here avoids noisy shared-memory errors at exit.
    for loader in list(_LIVE_LOADERS):
        loader.close()


class TrainLoader(grain.DatasetIterator):
    """The training iterator: yields batches, saves and restores its position.

    Each batch is {"original", "bokeh": float32 (devices, per_device, H, W, 3) in [0, 1],
    "id": int64 (devices, per_device)}. ``get_state()`` -> {"next_batch": n}; a loader
    given that state (``set_state``) yields batch n next, whatever its ``num_workers``.
    Call ``close()`` (or use ``with``) to stop worker processes early.
    """

    def __init__(self, batches: grain.MapDataset, *, num_devices: int, steps_per_epoch: int,
                 num_workers: int, num_threads: int, prefetch: int):
        super().__init__()
        self._batches = batches
        self._num_devices = num_devices
        self.steps_per_epoch = steps_per_epoch
        self._num_workers, self._num_threads, self._prefetch = num_workers, num_threads, prefetch
        self._next = 0
        self._it = None
        _LIVE_LOADERS.add(self)

    def _start(self) -> None:
        ds = self._batches[self._next:].to_iter_dataset(grain.ReadOptions(
            num_threads=self._num_threads, prefetch_buffer_size=self._prefetch))
        if self._num_workers:
            _ensure_absl_flags_parsed()
            ds = ds.mp_prefetch(grain.MultiprocessingOptions(
                num_workers=self._num_workers, per_worker_buffer_size=self._prefetch))
        self._it = iter(ds.map(_ToDevices(self._num_devices)))

    def __next__(self) -> dict:
        if self._closed:
            raise ValueError("this TrainLoader was closed")
        if self._it is None:
            self._start()
        batch = next(self._it)
        self._next += 1
        return batch

    def get_state(self) -> dict:
        return {"next_batch": self._next}

    def set_state(self, state: dict) -> None:
        if set(state) != {"next_batch"}:
            raise ValueError(f"not a TrainLoader state: {state!r}")
        self._stop()
        self._next = int(state["next_batch"])

    def _stop(self) -> None:
        if self._it is not None:
            self._it.close()
            self._it = None

    def close(self) -> None:
        self._stop()
        self._closed = True

    def __enter__(self) -> TrainLoader:  # noqa: PYI034 (typing.Self needs Python 3.11)
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def check_batch_size(global_batch_size: int, num_devices: int,
                     name: str = "global batch size", devices_text: str | None = None) -> None:
    """A global batch splits evenly over the devices (of all processes), or UserError
    naming ``name``; ``devices_text`` describes the devices ("4 devices (2 processes x 2)")."""
    if num_devices < 1 or global_batch_size < 1:
        raise UserError(f"{name} {global_batch_size} on {num_devices} device(s): both must be "
                        ">= 1")
    if global_batch_size % num_devices:
        raise UserError(f"{name} {global_batch_size} is not divisible by the "
                        f"{devices_text or f'{num_devices} devices'}: use a multiple of "
                        f"{num_devices}")


def make_train_loader(dataset: str | PreparedDataset, split: str, *,
                      data_dir: str | os.PathLike | None = None, global_batch_size: int,
                      resolution: tuple[int, int], num_devices: int, seed: int,
                      num_workers: int = 0, num_epochs: int | None = None, flips: bool = True,
                      num_threads: int = 2, prefetch: int = 2,
                      shard_options: grain.sharding.ShardOptions | None = None,
                      focus_labels: bool = False) -> TrainLoader:
    """The training input pipeline.

    Args:
      dataset: "ebb", "synthetic_bokeh[/<config>]" or what ``prepare_*`` returned.
      split: e.g. "train" (EBB!: train / val294; synthetic: train / validation).
      data_dir: TFDS data dir (default: the PreparedDataset's, else $TFDS_DATA_DIR or
        ~/tensorflow_datasets).
      global_batch_size: pairs per step over all devices of all processes; a multiple of
        ``num_devices`` times the number of shards.
      resolution: (H, W) every pair is resized to.
      num_devices: size of the leading (pmap) axis, e.g. ``jax.local_device_count()``.
      seed: shuffling and flip seed.
      num_workers: grain worker processes (0: decode in this process's threads). The
        batches are the same for any value. Workers are started with "spawn": the
        calling script needs an ``if __name__ == "__main__":`` guard.
      num_epochs: None repeats forever (each epoch reshuffled).
      flips: random horizontal and vertical flips (the paper's augmentation).
      num_threads: decoding threads per process (Pillow releases the GIL while decoding).
      prefetch: batches buffered per thread pool / worker.
      shard_options: this process's share of every global batch in a multi-process run,
        e.g. ``grain.sharding.ShardByJaxProcess()`` (default: the whole batch). Shard ``i``
        of ``n`` gets the ``i``-th contiguous block of each global batch, so the processes
        together feed exactly the batches one process with all the devices would, each
        device the same pairs (grain's usual sharding splits the dataset before the
        shuffle instead, which gives other batches).
      focus_labels: also yield "focus", float32 (devices, per_device, H, W): 1 in focus, 0
        out of focus, -1 undecided (:mod:`bokeh_jax.data.focus_labels`); synthetic_bokeh
        only (it needs the pairs' depth).

    Returns:
      A :class:`TrainLoader` (a grain ``DatasetIterator``); ``steps_per_epoch`` tells how
      many batches one epoch holds.
    """
    shard = shard_options or grain.sharding.NoSharding()
    total = num_devices * shard.shard_count
    check_batch_size(global_batch_size, total, devices_text=(
        f"{total} devices ({shard.shard_count} processes x {num_devices})"
        if shard.shard_count > 1 else None))
    h, w = (int(x) for x in resolution)
    if h < 1 or w < 1:
        raise UserError(f"resolution {tuple(resolution)}: needs positive (H, W)")
    source, count = _open(dataset, split, data_dir, extras=focus_labels)
    if focus_labels and "depth" not in catalog.load_builder(dataset, data_dir).info.features:
        raise UserError(f"{dataset}: has no depth, so no focus labels; the focus loss "
                        "(focus_loss_weight) needs synthetic_bokeh")
    steps = count // global_batch_size
    if steps == 0:
        raise UserError(f"split {split!r} has {count} pairs, fewer than one global batch of "
                        f"{global_batch_size}: lower the batch size")
    per_shard = global_batch_size // shard.shard_count
    pairs = (grain.MapDataset.source(source)
             .seed(seed)  # grain derives separate seeds for the shuffle and the flips
             .shuffle()
             .random_map(_DecodeFlip((h, w), flips, focus_labels)))
    # Each epoch drops its own remainder (the slice and the batches are per epoch: grain
    # reseeds the shuffle and the flips for every epoch). Block i of the global batch b is
    # sub-batch b * shard_count + i: only this shard's pairs are ever read and decoded.
    batches = (pairs[:steps * global_batch_size]
               .batch(per_shard, drop_remainder=True)
               [shard.shard_index::shard.shard_count]
               .repeat(num_epochs))
    return TrainLoader(batches, num_devices=num_devices, steps_per_epoch=steps,
                       num_workers=num_workers, num_threads=num_threads, prefetch=prefetch)


class EvalExamples(Sequence):
    """A split in id order at full resolution, decoded on access (``len()`` works).

    Items: {"id": int, "original": float32 (H, W, 3) in [0, 1], "bokeh": same, and for
    synthetic_bokeh "depth": float32 (H, W) metres and "focus_depth": float}.
    """

    def __init__(self, source, count: int):
        self._source, self._count = source, count

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int) -> dict:
        if not -self._count <= index < self._count:
            raise IndexError(index)
        rec = self._source[index % self._count]
        out = {"id": int(rec["id"])}
        for k in _IMAGE_KEYS:
            out[k] = images.to_float(images.decode_rgb(rec[k]))
        if "depth" in rec:
            out["depth"] = np.asarray(rec["depth"], np.float32)
            out["focus_depth"] = float(rec["focus_depth"])
        return out


def eval_examples(dataset: str | PreparedDataset, split: str, *,
                  data_dir: str | os.PathLike | None = None) -> EvalExamples:
    """The evaluation examples of a split: fixed (id) order, full resolution, no augmentation.

    Args: as :func:`make_train_loader` (e.g. ``eval_examples("ebb", "val294")``).
    """
    source, count = _open(dataset, split, data_dir, extras=True)
    return EvalExamples(source, count)
