"""Weight-gradient speed per MegaDepth layer shape: each CPU method vs XLA's own gradient.

    python bench/bench_conv.py [--height 256 --width 384 --batch 4] [--torch]

Walks the network's layer list (bokeh_jax.network.models.LEVELS) at the given training size and
times dL/dW of every distinct (kernel, channels, resolution) with each method of
bokeh_jax.network.conv, plus the forward convolution for scale (and, with --torch, PyTorch's
weight gradient). Prints a row per shape with the method ``choose_method`` picks marked *,
and the totals over the whole network (each shape times its count). This is the table
``choose_method`` was tuned on.
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import machine_line, median_time  # noqa: E402

from bokeh_jax.network import conv, models  # noqa: E402

METHODS = ("xla", "dft", "im2col", "im2col_grad")


def layer_shapes(h: int, w: int, head_channels: int = 4) -> collections.Counter:
    """(k, cin, cout, H, W) -> count, for every k>1 conv of BokehNet at input size h x w."""
    shapes: collections.Counter = collections.Counter()

    def walk(level: int, res: tuple[int, int]) -> None:
        for branch in models.LEVELS[level]:
            r = res
            for op in branch:
                if op in ("maxpool", "avgpool"):
                    r = (r[0] // 2, r[1] // 2)
                elif op == "up":
                    r = (r[0] * 2, r[1] * 2)
                elif op[0] == "level":
                    walk(op[1], r)
                else:
                    for k, mid, out in op[2][1:]:  # the kxk conv: mid -> out
                        shapes[(k, mid, out, *r)] += 1

    walk(4, (h, w))
    shapes[(7, 3, 128, h, w)] += 1  # conv0
    shapes[(3, 64, head_channels, h, w)] += 1  # weight head
    return shapes


def _ms(fn, repeats: int, *args) -> float:
    args = [jax.device_put(a) if isinstance(a, np.ndarray) else a for a in args]
    return 1e3 * median_time(lambda: jax.block_until_ready(fn(*args)), repeats)


def _torch_ms(x: np.ndarray, g: np.ndarray, k: int, repeats: int) -> float:
    import torch

    xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    gt = torch.from_numpy(g.transpose(0, 3, 1, 2).copy())
    size = (g.shape[-1], x.shape[-1], k, k)
    return 1e3 * median_time(
        lambda: torch.nn.grad.conv2d_weight(xt, size, gt, padding=(k - 1) // 2), repeats)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--height", type=int, default=256)
    p.add_argument("--width", type=int, default=384)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--max-patch", type=int, default=600,
                   help="skip im2col methods whose patch side has more rows than this")
    p.add_argument("--torch", action="store_true", help="also time PyTorch's weight gradient")
    args = p.parse_args()
    n = args.batch
    print(machine_line())
    print(f"dL/dW per layer shape, batch {n} at {args.height}x{args.width}, ms "
          f"(median of {args.repeats}; * = choose_method's pick)")
    rng = np.random.default_rng(0)
    totals: collections.Counter = collections.Counter()
    for (k, ci, co, h, w), count in sorted(layer_shapes(args.height, args.width).items(),
                                           key=lambda kv: -np.prod(kv[0])):
        x = rng.random((n, h, w, ci), np.float32)
        g = rng.standard_normal((n, h, w, co)).astype(np.float32)
        wt = rng.standard_normal((k, k, ci, co)).astype(np.float32)
        pick = conv.choose_method(k, ci, co, n * h * w)
        t = _ms(jax.jit(conv._xla_conv), args.repeats, x, wt)
        row = [f"x{count} {k}x{k} {ci:3d}->{co:3d} {h}x{w}:", f"fwd {t:6.0f}"]
        for m in METHODS:
            side = ci if m == "im2col" else co if m == "im2col_grad" else 0
            if k * k * side > args.max_patch:
                row.append(f"{m} {'-':>6s}")
                continue
            t = _ms(jax.jit(conv.weight_grad, static_argnums=(2, 3)), args.repeats, x, g, k, m)
            totals[m] += count * t
            if m == pick:
                totals["picked"] += count * t
            row.append(f"{m}{'*' if m == pick else ''} {t:6.0f}")
        if args.torch:
            t = _torch_ms(x, g, k, args.repeats)
            totals["torch"] += count * t
            row.append(f"torch {t:6.0f}")
        print("  ".join(row), flush=True)
    print("totals over the network (ms): " + ", ".join(
        f"{m} {v:.0f}" for m, v in totals.items() if m in ("xla", "picked", "torch")))


if __name__ == "__main__":
    main()
