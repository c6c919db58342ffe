"""Evaluation throughput at 1024x1536 (images/s), as eval.py runs it, on this machine.

    python bench/bench_eval.py [--images 3] [--checkpoint DIR]

Scores EBB! pairs at full size (the 6 real pairs in ../shared/data/ebb_samples when present,
else random 1024x1536 images) with a model at 384x576, kernels 25/45/75 (random weights
unless --checkpoint: the speed does not depend on the values). Three settings:

- validation: PSNR + SSIM of the model only (what the trainer runs every M steps);
- protocol: + LPIPS (``python eval.py`` without --baselines);
- baselines: + identity, the three global blurs and the depth-driven row (``--baselines``).

For each: the first image (compile included; the persistent compile cache is off) and the
steady rate over the others. The network alone (``BokehModel.render``) is timed too, since
it is most of the cost.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bokeh_jax import load_model  # noqa: E402
from bokeh_jax.evaluation import scoring as evaluation  # noqa: E402
from bokeh_jax.inference.model import BokehModel  # noqa: E402
from bokeh_jax.names import PAPER_KERNELS  # noqa: E402
from bokeh_jax.network.models import BokehNet  # noqa: E402
from bokeh_jax.train.state import init_variables  # noqa: E402

SAMPLES = REPO.parent / "shared" / "data" / "ebb_samples"


def random_model(kernels=PAPER_KERNELS, resolution=(384, 576)) -> BokehModel:
    module = BokehNet(kernel_sizes=kernels)
    variables = jax.tree.map(jax.numpy.asarray, init_variables(module, 0))
    meta = {"kernel_sizes": list(kernels), "head_kernel": 3, "has_depth_head": True,
            "resolution": list(resolution)}
    return BokehModel(module, variables, meta)


def examples(n: int) -> list[dict]:
    if SAMPLES.is_dir():
        from bokeh_jax.data.pairs_dir import iter_pairs

        pairs = iter_pairs(SAMPLES)
        return [pairs[i % len(pairs)] for i in range(n)]
    rng = np.random.default_rng(0)
    return [{"id": i, "original": rng.random((1024, 1536, 3), np.float32),
             "bokeh": rng.random((1024, 1536, 3), np.float32)} for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=3, help="images timed after the first")
    parser.add_argument("--checkpoint", default=None, help="a checkpoint folder (optional)")
    args = parser.parse_args()
    jax.config.update("jax_enable_compilation_cache", False)
    model = load_model(args.checkpoint) if args.checkpoint else random_model()
    data = examples(args.images + 1)
    size = "x".join(map(str, data[0]["original"].shape[:2]))
    print(f"{jax.devices()[0].device_kind}, {jax.local_device_count()} device(s); "
          f"{'real EBB! pairs' if SAMPLES.is_dir() else 'random images'} at {size}; "
          f"network at {'x'.join(map(str, model.resolution))}, kernels {model.kernel_sizes}")

    t = time.perf_counter()
    jax.block_until_ready(model.render(data[0]["original"]))
    first = time.perf_counter() - t
    t = time.perf_counter()
    for ex in data[1:]:
        jax.block_until_ready(model.render(ex["original"]))
    steady = (time.perf_counter() - t) / args.images
    print(f"{'network only (render)':<24} first {first:6.1f} s   then {steady:6.2f} s/img "
          f"= {1 / steady:.3f} img/s")

    for name, kw in (("validation", dict(lpips=False)), ("protocol", dict(lpips=True)),
                     ("baselines", dict(lpips=True, baselines=True))):
        t = time.perf_counter()
        evaluation.evaluate(model, data[:1], progress=False, **kw)
        first = time.perf_counter() - t
        t = time.perf_counter()
        evaluation.evaluate(model, data[1:], progress=False, **kw)
        steady = (time.perf_counter() - t) / args.images
        print(f"{name:<24} first {first:6.1f} s   then {steady:6.2f} s/img "
              f"= {1 / steady:.3f} img/s")


if __name__ == "__main__":
    main()
