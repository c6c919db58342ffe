"""Data benchmark: synthetic generation speed and input-pipeline throughput.

    python bench/bench_data.py [--pairs 48] [--batches 12] [--synthetic_pairs 60]

Prints pairs/s for
  * generating synthetic_bokeh pairs at 256x384 (render + PNG encode, one process),
    and a whole TFDS build of ``--synthetic_pairs`` pairs;
  * the training pipeline, batch 8, from an EBB!-like JPEG fixture at 1536x1024 (the 6
    real sample pairs repeated when ../shared/data is present, else photo-textured
    JPEGs of the same size at quality 75) to 384x576 and to 256x384, with 0 and 2
    workers;
  * the same from the synthetic build (PNG, 256x384, upscaled to 384x576);
each with its ratio to a plain reference loop in this process: Pillow full decode +
bilinear resize of both images, float32 (no draft decoding, no grain). Rates are the
best of 3 short runs, as other work on a shared machine only ever slows them down.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED_EBB = REPO.parent / "shared" / "data" / "ebb_samples" / "Training"
RES = (384, 576)  # phases 2 and 3
BATCH = 8


def make_jpeg_fixture(root: Path, pairs: int) -> str:
    """EBB!-layout folder with ``pairs`` pairs at 1536x1024; returns what it holds."""
    for side in ("original", "bokeh"):
        (root / "Training" / side).mkdir(parents=True)
    if SHARED_EBB.is_dir():
        real = sorted(p.name for p in (SHARED_EBB / "original").glob("*.jpg"))
        for i in range(pairs):
            for side in ("original", "bokeh"):
                src = SHARED_EBB / side / real[i % len(real)]
                (root / "Training" / side / f"{i}.jpg").write_bytes(src.read_bytes())
        return f"real EBB! samples x{pairs / len(real):.0f}"
    from bokeh_jax.data import textures

    rng = np.random.default_rng(0)
    for i in range(pairs):
        tex = textures.photo_texture(rng, 1024, 1536)
        for side in ("original", "bokeh"):
            buf = io.BytesIO()
            Image.fromarray((tex * 255).astype(np.uint8)).save(buf, format="jpeg", quality=75)
            (root / "Training" / side / f"{i}.jpg").write_bytes(buf.getvalue())
    return "generated photo-textured JPEGs (q75)"


def reference_rate(raw_pairs: list[tuple[bytes, bytes]], res, n: int) -> float:
    """Plain loop: full decode + bilinear resize of both images, float32 (best of 3)."""
    best = 0.0
    for _ in range(3):
        t = time.perf_counter()
        for i in range(n):
            for data in raw_pairs[i % len(raw_pairs)]:
                img = Image.open(io.BytesIO(data)).convert("RGB")
                np.asarray(img.resize(res[::-1], Image.BILINEAR)).astype(np.float32) / 255.0
        best = max(best, n / (time.perf_counter() - t))
    return best


def pipeline_rate(dataset, data_dir, res, workers: int, batches: int, threads: int) -> float:
    """Best of 3 timed runs of ``batches`` batches (the machine is shared: take the best)."""
    from bokeh_jax.data import pipeline

    with pipeline.make_train_loader(dataset, "train", data_dir=data_dir, global_batch_size=BATCH,
                                    resolution=res, num_devices=1, seed=0, num_workers=workers,
                                    num_threads=threads) as loader:
        for _ in range(3):  # start-up (worker processes) and first fills are not counted
            next(loader)
        best = 0.0
        for _ in range(3):
            t = time.perf_counter()
            for _ in range(batches):
                next(loader)
            best = max(best, batches * BATCH / (time.perf_counter() - t))
        return best


def raw_train_pairs(dataset, data_dir, n: int) -> list[tuple[bytes, bytes]]:
    from bokeh_jax.data import pipeline

    source = pipeline._open(dataset, "train", data_dir, extras=False)[0]
    return [(source[i]["original"], source[i]["bokeh"]) for i in range(min(n, len(source)))]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=48, help="JPEG fixture pairs")
    parser.add_argument("--batches", type=int, default=12, help="batches of 8 per timed run")
    parser.add_argument("--synthetic_pairs", type=int, default=60)
    parser.add_argument("--threads", type=int, default=2, help="decoding threads per process")
    args = parser.parse_args(argv)

    from bokeh_jax.data import prepare, synthetic_builder

    quiet = {"log": lambda *a: None}
    # Other work on the machine skews every figure; say how busy it was.
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        tmp = Path(tmp)
        # Synthetic generation, measured on the encode function the builder runs.
        synthetic_builder._encode_example((0, "train", 0, 256, 384))  # loads sample photos
        t = time.perf_counter()
        for i in range(20):
            synthetic_builder._encode_example((0, "train", i, 256, 384))
        gen = 20 / (time.perf_counter() - t)
        print(f"synthetic generation 256x384 (render + PNG, 1 process): {gen:.1f} pairs/s")
        t = time.perf_counter()
        syn = prepare.prepare_synthetic(data_dir=tmp / "tfds", num_train=args.synthetic_pairs,
                                        num_val=0, workers=1, **quiet)
        build = args.synthetic_pairs / (time.perf_counter() - t)
        print(f"synthetic build of {args.synthetic_pairs} pairs 256x384 (TFDS write included): "
              f"{build:.1f} pairs/s")

        what = make_jpeg_fixture(tmp / "ebb_src", args.pairs)
        prepare.prepare_ebb(tmp / "ebb_src", data_dir=tmp / "tfds", progress=False, **quiet)
        print(f"JPEG fixture: {args.pairs} pairs 1536x1024, {what}")

        cases = (("EBB!-like JPEG 1536x1024", "ebb", RES), ("EBB!-like JPEG 1536x1024", "ebb",
                 (256, 384)), ("synthetic PNG 256x384", syn.name, RES))
        for label, ds, res in cases:
            raw = raw_train_pairs(ds, tmp / "tfds", 16)
            ref = reference_rate(raw, res, 16)
            print(f"\n{label} -> {res[0]}x{res[1]}, batch {BATCH}")
            print(f"  reference loop (full decode + resize, 1 thread): {ref:6.1f} pairs/s")
            for workers in (0, 2):
                rate = pipeline_rate(ds, tmp / "tfds", res, workers, args.batches, args.threads)
                print(f"  pipeline, {workers} workers, {args.threads} threads: {rate:6.1f} "
                      f"pairs/s  ({rate / ref:.2f}x reference)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
