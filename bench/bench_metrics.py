"""Eval throughput of the metrics at 1024x1536, against reference implementations in-process.

    python bench/bench_metrics.py [--repeats 5] [--batch 1]

Times one call of each jitted metric (after a warm-up call that compiles) on a real EBB! pair
when ../shared/data is present (random images otherwise), and the same numbers computed by
scikit-image (PSNR, SSIM on uint8) and by the PyTorch LPIPS reference of tests/test_lpips.py
(float32), and prints the medians, the ratios, and images/s for PSNR + SSIM + LPIPS.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import median_time  # noqa: E402

from bokeh_jax.cli import enable_compilation_cache  # noqa: E402
from bokeh_jax.evaluation import metrics  # noqa: E402
from bokeh_jax.evaluation.lpips import load_lpips_params, packaged_weights  # noqa: E402

H, W = 1024, 1536


def _images(batch: int) -> tuple[np.ndarray, np.ndarray, str]:
    root = REPO.parent / "shared" / "data" / "ebb_samples" / "Training"
    if (root / "original" / "4545.jpg").is_file():
        from PIL import Image

        def load(p):
            img = Image.open(p).convert("RGB").resize((W, H), Image.BILINEAR)
            return np.asarray(img, np.float32) / 255
        x, y = load(root / "original" / "4545.jpg"), load(root / "bokeh" / "4545.jpg")
        source = "EBB! pair 4545"
    else:
        rng = np.random.default_rng(0)
        x, y = rng.random((H, W, 3), np.float32), rng.random((H, W, 3), np.float32)
        source = "random images"
    return np.stack([x] * batch), np.stack([y] * batch), source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args()
    enable_compilation_cache()
    x, y, source = _images(args.batch)
    n = args.batch
    jx, jy = jax.device_put(x), jax.device_put(y)
    params = load_lpips_params("alex")

    ours = {
        "psnr": lambda: metrics.psnr(jx, jy).block_until_ready(),
        "ssim": lambda: metrics.ssim(jx, jy).block_until_ready(),
        "lpips": lambda: metrics.lpips(jx, jy, params=params).block_until_ready(),
        "ssim_gaussian": lambda: metrics.ssim_gaussian(jx, jy).block_until_ready(),
    }
    refs = _references(x, y)
    print(f"{n} x {H}x{W} ({source}), {jax.devices()[0].platform}, median of {args.repeats}")
    print(f"{'metric':14s} {'ours s/img':>11s} {'ref s/img':>10s} {'ours/ref':>9s}  reference")
    totals = 0.0
    for name, fn in ours.items():
        t = median_time(fn, args.repeats) / n
        if name in ("psnr", "ssim", "lpips"):
            totals += t
        ref = refs.get(name)
        if ref is None:
            print(f"{name:14s} {t:11.3f} {'-':>10s} {'-':>9s}")
            continue
        ref_name, ref_fn = ref
        r = median_time(ref_fn, args.repeats) / n
        print(f"{name:14s} {t:11.3f} {r:10.3f} {t / r:9.2f}  {ref_name}")
    print(f"psnr + ssim + lpips: {totals:.3f} s/image = {1 / totals:.2f} images/s")


def _references(x: np.ndarray, y: np.ndarray) -> dict:
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    xu = np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)
    yu = np.round(np.clip(y, 0, 1) * 255).astype(np.uint8)
    refs = {
        "psnr": ("skimage peak_signal_noise_ratio (uint8)",
                 lambda: [peak_signal_noise_ratio(a, b, data_range=255)
                          for a, b in zip(xu, yu, strict=True)]),
        "ssim": ("skimage structural_similarity (uint8)",
                 lambda: [structural_similarity(a, b, channel_axis=-1, data_range=255)
                          for a, b in zip(xu, yu, strict=True)]),
    }
    try:
        import torch

        sys.path.insert(0, str(REPO / "tests"))
        from test_lpips import TorchLPIPS
    except ImportError:
        return refs
    model = TorchLPIPS(packaged_weights("alex"), "alex").float().eval()
    tx = torch.from_numpy(x).permute(0, 3, 1, 2) * 2 - 1
    ty = torch.from_numpy(y).permute(0, 3, 1, 2) * 2 - 1

    def torch_lpips():
        with torch.no_grad():
            return model(tx, ty)
    refs["lpips"] = (f"PyTorch reference, float32, {torch.get_num_threads()} threads",
                     torch_lpips)
    return refs


if __name__ == "__main__":
    main()
