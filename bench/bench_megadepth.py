"""MegaDepth forward: jitted JAX vs the PyTorch reference on the same CPU and thread count.

    python bench/bench_megadepth.py [--height 384 --width 576 --repeats 5 --threads 2]

Prints the median time of each, their ratio (JAX / PyTorch; goal <= 1.0) and the first-call
compile time of the jitted forward (trace + XLA compile, no persistent cache).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import machine_line, median_time  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=384)
    parser.add_argument("--width", type=int, default=576)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()

    import torch
    import torch_megadepth as tm

    from bokeh_jax.network.convert import convert_state_dict, unwrap_state_dict
    from bokeh_jax.network.models import MegaDepth

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ref = tm.randomize_bn(tm.megadepth()).eval()
    variables = jax.device_put(convert_state_dict(
        unwrap_state_dict(tm.release_state_dict(ref))))
    x = np.random.default_rng(0).random((args.batch, args.height, args.width, 3), np.float32)

    forward = jax.jit(lambda v, x: MegaDepth().apply(v, x))
    xj = jnp.asarray(x)
    t = time.perf_counter()
    compiled = forward.lower(variables, xj).compile()
    compile_s = time.perf_counter() - t
    jax_s = median_time(lambda: compiled(variables, xj).block_until_ready(), args.repeats)

    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
    with torch.inference_mode():
        torch_s = median_time(lambda: ref(xt), args.repeats)
        diff = np.abs(ref(xt).permute(0, 2, 3, 1).numpy() - np.asarray(compiled(variables, xj)))

    print(machine_line(args.threads))
    print(f"MegaDepth forward {args.batch}x{args.height}x{args.width}, median of "
          f"{args.repeats}:")
    print(f"  jax   {jax_s * 1e3:8.0f} ms")
    print(f"  torch {torch_s * 1e3:8.0f} ms")
    print(f"  ratio jax/torch = {jax_s / torch_s:.2f} (goal <= 1.0); max |diff| {diff.max():.1e}")
    print(f"  first-call compile (trace + XLA): {compile_s:.1f} s")


if __name__ == "__main__":
    main()
