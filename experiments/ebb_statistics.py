"""EBB!'s statistics beside our synthetic set's: what ``synthetic_bokeh`` is calibrated to.

    python experiments/ebb_statistics.py [--shared ../shared/data] [--out runs/ebb_stats]
        [--synthetic 64] [--size 96x144] [--network 64x96]

Measures (``bokeh_jax.data.photo_stats``) on the real pairs in ``SHARED/ebb_samples``, the
photos and depth maps in ``SHARED/pynet_samples``, and the first N validation pairs of the
synthetic generator at the given size (rendered here, not read from a build):

- exposure: per-channel mean ratio bokeh / original;
- blur: the per-tile Gaussian sigma from original to bokeh (quartiles over the blurred
  tiles), the sharp fraction of the frame, the sharp subject's size and position;
- detail: gradient-energy share at scales below 1.5 px, RMS removed by a sigma-2 / sigma-8
  blur, on the originals at the resolution they are scored at;
- the baseline profile: PSNR / SSIM of identity and each global blur of the paper's
  kernels, the check of ``docs/synthetic_data.md``;
- what the network sees: the same detail statistics on the originals resized to the
  network's size (``--network``), as inference resizes a photo (the PyNET photos and the
  synthetic originals; the held-out EBB! pairs are left out of it).

Writes ``OUT/stats.json`` and ``OUT/stats.md`` and prints the table. The real data is read
at run time and never copied.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _load(path: Path) -> np.ndarray:
    from PIL import Image, ImageOps

    with Image.open(path) as img:
        return np.asarray(ImageOps.exif_transpose(img).convert("RGB"), np.float32) / 255.0


def baseline_profile(pairs) -> list[dict]:
    """PSNR/SSIM of identity and the global blurs 25/45/75, per pair (the eval's baselines)."""
    import jax.numpy as jnp

    from bokeh_jax import ops
    from bokeh_jax.evaluation import metrics
    from bokeh_jax.names import PAPER_KERNELS

    rows = []
    for original, bokeh in pairs:
        x = jnp.asarray(original)
        cands = jnp.concatenate([x[None], ops.blur_stack(x, PAPER_KERNELS)])
        t = jnp.broadcast_to(jnp.asarray(bokeh), cands.shape)
        psnr, ssim = np.asarray(metrics.psnr(cands, t)), np.asarray(metrics.ssim(cands, t))
        names = ["identity"] + [f"blur_{k}" for k in PAPER_KERNELS]
        rows.append({n: (float(p), float(s)) for n, p, s in zip(names, psnr, ssim, strict=True)})
    return rows


def pair_stats(original: np.ndarray, bokeh: np.ndarray, tile: int, scale: float) -> dict:
    """Exposure, blur and subject statistics of one pair; sigmas reported at ``scale`` x."""
    from bokeh_jax.data import photo_stats as ps

    sigma, ok = ps.blur_map(original, bokeh, tile=tile)
    sigma = sigma * scale  # in pixels of a 1536-wide frame
    blurred = sigma[ok & (sigma >= ps.BLURRED_MIN)]
    sharp = ok & (sigma <= ps.SHARP_MAX)
    q = np.percentile(blurred, [25, 50, 75]) if blurred.size else [np.nan] * 3
    return {"gain": ps.exposure_gain(original, bokeh).tolist(),
            "blur_sigma_q": [float(v) for v in q],
            "sharp_fraction": float(sharp.sum() / max(ok.sum(), 1)),
            "blurred_fraction": float((ok & (sigma >= ps.BLURRED_MIN)).sum() / max(ok.sum(), 1)),
            "subject": ps.region_stats(sharp),
            "detail": ps.detail_stats(original)}


def ebb(shared: Path) -> dict:
    root = shared / "ebb_samples" / "Training"
    names = sorted(p.stem for p in (root / "original").glob("*.jpg"))
    pairs = [(_load(root / "original" / f"{n}.jpg"), _load(root / "bokeh" / f"{n}.jpg"))
             for n in names]
    stats = {n: pair_stats(o, b, tile=64, scale=1536 / o.shape[1])
             for n, (o, b) in zip(names, pairs, strict=True)}
    return {"pairs": stats, "profile": dict(zip(names, baseline_profile(pairs), strict=True))}


def pynet(shared: Path, net: tuple[int, int]) -> dict:
    from bokeh_jax.data import photo_stats as ps

    root = shared / "pynet_samples"
    out = {}
    for path in sorted((root / "images").glob("*.jpg"), key=lambda p: int(p.stem)):
        img = _load(path)
        depth = _load(root / "depth_maps" / f"{path.stem}.png")[..., 0]
        out[path.stem] = {"near": ps.region_stats(ps.near_mask(depth)),
                          "detail": ps.detail_stats(img), "view": network_view(img, net)}
    return out


def synthetic(count: int, size: tuple[int, int], net: tuple[int, int], seed: int = 0) -> dict:
    from bokeh_jax.data import photo_stats as ps
    from bokeh_jax.data import synthetic as syn

    pairs, depths = [], []
    for i in range(count):
        ex = syn.make_example(seed, "validation", i, *size)
        pairs.append((ex["original"] / np.float32(255), ex["bokeh"] / np.float32(255)))
        depths.append(ex["depth"])
    # Tiles of the same share of the frame as EBB!'s 64 px of 1536; sigmas stay in this
    # image's pixels (the synthetic set's blur is meant to match EBB!'s in pixels).
    tile = max(4, round(64 * size[1] / 1536))
    stats = {str(i): pair_stats(o, b, tile=tile, scale=1.0) for i, (o, b) in enumerate(pairs)}
    for i, d in enumerate(depths):
        stats[str(i)]["near"] = ps.region_stats(ps.near_mask(1.0 / d))
        stats[str(i)]["view"] = network_view(pairs[i][0], net)
    return {"pairs": stats, "profile": dict(zip(stats, baseline_profile(pairs), strict=True))}


def network_view(image: np.ndarray, net: tuple[int, int]) -> dict:
    """Detail statistics of a photo resized to the network's (H, W), turned to the photo's
    orientation: the input the network gets at inference (or in training)."""
    from bokeh_jax.data import photo_stats as ps
    from bokeh_jax.inference.resample import resize, working_size

    return ps.detail_stats(resize(image, working_size(image.shape[:2], net)))


def _median(values) -> float:
    return float(np.nanmedian(np.asarray(values, np.float64)))


def summarize(part: dict) -> dict:
    """Medians over the pairs of a source (and the mean baseline profile)."""
    pairs = list(part["pairs"].values())
    s = {"n": len(pairs),
         "gain": [_median([p["gain"][c] for p in pairs]) for c in range(3)],
         # Robust spread (interquartile range / 1.35, a standard deviation for a normal
         # law): a ratio of means is unstable on the odd very dark image.
         "gain_luma_spread": float(np.subtract(*np.percentile(
             [np.mean(p["gain"]) for p in pairs], [75, 25])) / 1.35),
         "blur_sigma_median": _median([p["blur_sigma_q"][1] for p in pairs]),
         "blur_sigma_q25": _median([p["blur_sigma_q"][0] for p in pairs]),
         "blur_sigma_q75": _median([p["blur_sigma_q"][2] for p in pairs]),
         # How much the blur varies from scene to scene (the quartiles above are within a
         # scene): the spread of log(median sigma) over the pairs.
         "blur_scene_log_sd": float(np.nanstd(np.log([p["blur_sigma_q"][1] for p in pairs]),
                                              ddof=1)),
         "sharp_fraction": _median([p["sharp_fraction"] for p in pairs]),
         "blurred_fraction": _median([p["blurred_fraction"] for p in pairs])}
    for k in ("main_area", "cx", "cy", "height", "width", "bottom"):
        s[f"subject_{k}"] = _median([p["subject"][k] for p in pairs])
    for k in pairs[0]["detail"]:
        s[f"detail_{k}"] = _median([p["detail"][k] for p in pairs])
    prof = list(part["profile"].values())
    s["profile"] = {n: [float(np.mean([r[n][0] for r in prof])),
                        float(np.mean([r[n][1] for r in prof]))] for n in prof[0]}
    return s


def table(summaries: dict[str, dict]) -> str:
    keys = [k for k in next(iter(summaries.values())) if k != "profile"]
    head = "| statistic | " + " | ".join(summaries) + " |"
    lines = [head, "|---" * (len(summaries) + 1) + "|"]

    def cell(v):
        if isinstance(v, list):
            return "/".join(f"{x:.3f}" for x in v)
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    for k in keys:
        lines.append(f"| {k} | " + " | ".join(cell(s.get(k, float("nan")))
                                               for s in summaries.values()) + " |")
    for name in next(s["profile"] for s in summaries.values() if "profile" in s):
        lines.append(f"| PSNR / SSIM {name} | " + " | ".join(
            "{:.2f} / {:.4f}".format(*s["profile"][name]) if "profile" in s else "-"
            for s in summaries.values()) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    p.add_argument("--out", default="runs/ebb_stats")
    p.add_argument("--synthetic", type=int, default=64, help="synthetic pairs to measure")
    p.add_argument("--size", default="96x144", help="synthetic image size HxW")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--network", default="64x96",
                   help="the network's HxW for the network-input statistics (the demo's)")
    args = p.parse_args(argv)
    shared = Path(args.shared)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    net = tuple(int(v) for v in args.network.lower().split("x"))
    results, summaries = {}, {}
    if (shared / "ebb_samples").is_dir():
        results["ebb"] = ebb(shared)
        summaries["EBB! pairs (6, 1536x1024)"] = summarize(results["ebb"])
    else:
        print(f"no EBB! pairs at {shared / 'ebb_samples'}: measuring the synthetic set only")
    if args.synthetic:
        results["synthetic"] = synthetic(args.synthetic, size, net, args.seed)
        summaries[f"synthetic ({args.synthetic}, {size[0]}x{size[1]})"] = summarize(
            results["synthetic"])
    if (shared / "pynet_samples").is_dir():
        results["pynet"] = pynet(shared, net)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = table(summaries)
    if "pynet" in results:
        near = list(results["pynet"].values())
        text += ("\nPyNET-Bokeh photos (12, near region of the depth map, medians): " + ", ".join(
            f"{k} {_median([n['near'][k] for n in near]):.3f}"
            for k in ("area", "main_area", "cx", "cy", "height", "width", "bottom"))
            + "; detail " + ", ".join(f"{k} {_median([n['detail'][k] for n in near]):.4g}"
                                      for k in near[0]["detail"]) + "\n")
    views = {}  # medians of the per-photo network views
    for name, rows in ((f"PyNET photos ({len(results.get('pynet', {}))})",
                        results.get("pynet", {}).values()),
                       (f"synthetic originals ({args.synthetic}, {size[0]}x{size[1]})",
                        results.get("synthetic", {}).get("pairs", {}).values())):
        rows = [r["view"] for r in rows]
        if rows:
            views[name] = {k: _median([r[k] for r in rows]) for k in rows[0]}
    text += f"\nWhat the network sees, resized to {net[0]}x{net[1]} (medians):\n" + "".join(
        f"- {name}: " + ", ".join(f"{k} {v:.4g}" for k, v in view.items()) + "\n"
        for name, view in views.items())
    (out / "stats.json").write_text(json.dumps(results, indent=1, default=float))
    (out / "stats.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
