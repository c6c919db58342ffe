"""Training throughput: the jitted JAX train step vs a PyTorch reference train step.

    python bench/bench_train.py [--height 256 --width 384 --batch 4 --repeats 5]

Same network (MegaDepth trunk + 4-channel softmax head), same batch and resolution, the
same Gaussian blur stack (25/45/75) and blend, L1 loss, Adam, on the same CPU and thread
count. Prints images/s of each and the time ratio (JAX / PyTorch; goal <= 1.0).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import machine_line, median_time  # noqa: E402

from bokeh_jax.names import PAPER_KERNELS  # noqa: E402

KERNELS = PAPER_KERNELS


def torch_step_fn(batch: int, h: int, w: int):
    """A PyTorch train step of the paper's model, written plainly (the reference)."""
    import torch
    import torch.nn.functional as F
    import torch_megadepth as tm

    from bokeh_jax.ops import gaussian_kernel

    model = tm.megadepth(out_channels=len(KERNELS) + 1).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.999))
    taps = [torch.from_numpy(np.asarray(gaussian_kernel(k), np.float32)) for k in KERNELS]

    def blur(x, g):  # separable, BORDER_REFLECT_101 (= torch's "reflect")
        k, r = g.numel(), g.numel() // 2
        c = x.shape[1]
        x = F.pad(x, (r, r, 0, 0), mode="reflect")
        x = F.conv2d(x, g.view(1, 1, 1, k).repeat(c, 1, 1, 1), groups=c)
        x = F.pad(x, (0, 0, r, r), mode="reflect")
        return F.conv2d(x, g.view(1, 1, k, 1).repeat(c, 1, 1, 1), groups=c)

    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.random((batch, 3, h, w), np.float32))
    y = torch.from_numpy(rng.random((batch, 3, h, w), np.float32))

    def step():
        weights = torch.softmax(model(x), dim=1)
        with torch.no_grad():
            stack = [x] + [blur(x, g) for g in taps]
        out = sum(weights[:, i:i + 1] * s for i, s in enumerate(stack))
        loss = (out - y).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def jax_step_fn(batch: int, h: int, w: int):
    from bokeh_jax.configs import common
    from bokeh_jax.train import state as state_lib
    from bokeh_jax.train.step import make_train_step
    from bokeh_jax.train.trainer import phase_config

    config = common.get_config()
    config.phase1.update(resolution=(h, w), global_batch_size=batch, lr_start=1e-4,
                         lr_end=1e-4)
    pc = phase_config(config, 1)
    model, tx = state_lib.make_model(pc), state_lib.make_optimizer(pc)
    state = [state_lib.create_state(state_lib.init_variables(model, 0), tx)]
    step = jax.jit(make_train_step(model, tx, loss="l1", bn_mode="train"), donate_argnums=0)
    rng = np.random.default_rng(0)
    data = {k: jax.device_put(rng.random((batch, h, w, 3), np.float32))
            for k in ("original", "bokeh")}

    def run():
        state[0], m = step(state[0], data)
        return float(m["loss"])

    t = time.perf_counter()
    run()
    return run, time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=384)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    b, h, w = args.batch, args.height, args.width
    # One block of runs each, not alternating rounds: the two share glibc's heap, and
    # alternating made each pay for the other's allocations (JAX 15.7 s and PyTorch 8.7 s
    # per step, against 10.7 s and 12.0 s each alone in a process).
    jax_run, first = jax_step_fn(b, h, w)
    jax_s = median_time(jax_run, args.repeats)
    torch_s = median_time(torch_step_fn(b, h, w), args.repeats)
    print(machine_line(args.threads))
    print(f"train step (forward, backward, Adam), batch {b} at {h}x{w}, kernels {KERNELS}, "
          f"median of {args.repeats}:")
    print(f"  jax   {jax_s:6.2f} s/step  {b / jax_s:5.2f} images/s   (first call, with "
          f"compilation: {first:.1f} s)")
    print(f"  torch {torch_s:6.2f} s/step  {b / torch_s:5.2f} images/s")
    print(f"  ratio jax/torch = {jax_s / torch_s:.2f} (goal <= 1.0)")


if __name__ == "__main__":
    main()
