"""A development set of real photos: the PyNET photos with depth-rendered bokeh targets.

    python experiments/real_dev_pairs.py [--shared ../shared/data] [--out runs/real_dev]
    bokeh-jax eval --checkpoint runs/demo/phase3/best --pairs-dir runs/real_dev --baselines

The six real EBB! pairs are the held-out check of issue 15: nothing may be trained or
chosen on them. Choosing between recipes on the synthetic validation split alone misses
what the gap is about: how a model behaves on a *real* photo (real content, shrunk 16x to
the network's size). This set supplies that without touching the six pairs: the 12 EBB!
test photos in ``SHARED/pynet_samples`` (no targets of their own) get a target rendered
from their depth maps by the lens renderer (:func:`bokeh_jax.inference.refocus.refocus`:
occlusion-aware layers, a disk aperture, linear light), with EBB!'s measured statistics
(``docs/synthetic_data.md``):

- focus on the near region (Otsu's threshold on the depth map: the subject, as EBB!'s
  camera focuses on the foreground), at the median disparity of that region;
- the background's circle of confusion (at the depth map's 5th percentile) of radius
  ``2 * sigma``: a disk of radius R spreads like a Gaussian of sigma R/2, and sigma follows
  EBB!'s scene-to-scene spread, log-normal with median 11 px and log-sd 0.58, taken at the
  12 evenly spaced quantiles (a seeded shuffle assigns them to the photos), clipped to
  the renderer's 3-64 px radius;
- the bokeh photo is a separate exposure: a gain of 1.09 over linear-light blurring's own
  brightening is not added (the synthetic generator measured that blurring in linear
  light already gives EBB!'s x1.09).

The depth maps are estimates (half resolution, 8 bit), so the targets are what a
depth-driven lens makes of them, not EBB!'s Canon; what the set measures is whether a
model keeps a real photo's subject sharp and blurs its background by a plausible amount.
Writes ``OUT/original/N.png`` (the photo, lossless) and ``OUT/bokeh/N.png``, the layout
``eval.py --pairs-dir`` reads, and ``OUT/targets.json`` (focus and radius per photo).
The real data is read at run time and never copied into the project.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SIGMA_MEDIAN, SIGMA_LOG_SD = 11.0, 0.58  # EBB!'s per-pair background sigma (6 pairs)
RADIUS_RANGE = (3.0, 64.0)


def background_radii(n: int, seed: int = 0) -> np.ndarray:
    """n disk radii at the evenly spaced quantiles of EBB!'s sigma distribution, shuffled."""
    from scipy.stats import norm

    q = (np.arange(n) + 0.5) / n
    sigma = SIGMA_MEDIAN * np.exp(SIGMA_LOG_SD * norm.ppf(q))
    return np.clip(2 * sigma, *RADIUS_RANGE)[np.random.default_rng(seed).permutation(n)]


def lens_settings(disparity: np.ndarray, radius: float) -> dict:
    """Focus on the near region; the far background (5th percentile) gets ``radius``."""
    from bokeh_jax.data import photo_stats

    near = photo_stats.near_mask(disparity)
    focus = float(np.median(disparity[near]))
    far = float(np.percentile(disparity, 5))
    max_radius = float(RADIUS_RANGE[1])
    strength = radius / max(focus - far, 1e-3) / max_radius
    return dict(focus=focus, strength=strength, max_radius=max_radius)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    p.add_argument("--out", default=str(REPO / "runs" / "real_dev"))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    src = Path(args.shared) / "pynet_samples"
    if not (src / "images").is_dir():
        print(f"error: {src}/images not found; pass --shared with the shared data folder",
              file=sys.stderr)
        return 2

    from PIL import Image
    from tqdm import tqdm

    from bokeh_jax.files import write_file, write_text
    from bokeh_jax.inference import refocus
    from bokeh_jax.inference.resample import resize
    from bokeh_jax.io import viz

    ids = sorted(int(f.stem) for f in (src / "images").glob("*.jpg"))
    radii = background_radii(len(ids), args.seed)
    out = Path(args.out)
    for sub in ("original", "bokeh"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    record = {}
    for pid, radius in tqdm(list(zip(ids, radii, strict=True)), desc="rendering targets"):
        with Image.open(src / "images" / f"{pid}.jpg") as img:
            rgb = np.asarray(img.convert("RGB"), np.float32) / 255
        with Image.open(src / "depth_maps" / f"{pid}.png") as img:
            d = np.asarray(img.convert("L"), np.float32) / 255
        disparity = np.clip(resize(d[..., None], rgb.shape[:2])[..., 0], 0, 1)
        lens = lens_settings(disparity, float(radius))
        bokeh = refocus.refocus(rgb, disparity, **lens, **refocus.LENS_DEFAULTS, display=True)
        for sub, img in (("original", viz.to_uint8(rgb)), ("bokeh", bokeh)):
            write_file(out / sub / f"{pid}.png",
                       lambda f, img=img: Image.fromarray(img).save(f, format="PNG"))
        record[pid] = lens | {"background_radius": float(radius)}
    write_text(out / "targets.json", json.dumps(record, indent=1))
    print(f"wrote {len(ids)} pairs to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
