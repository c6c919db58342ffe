"""The click-to-focus page's work per event, on a 1024x1536 photo (docs/app.md).

    python bench/bench_app.py [--repeats 5] [--preview-size 640]

What one event of ``bokeh-jax app`` costs on the server, without the browser and the
network: a drag step of the strength slider (the preview render at the preview size plus
the PNG the page shows) and a click or slider release (the full-size render, its PNG, and
the download written with the CLI's writer). The photo is PyNET sample 1 with its depth map
when ../shared/data has it, else a synthetic 1024x1536 photo with a two-plane map. Each
event changes focus, strength or gamma; the run counts JAX's trace events after the
warm-up (must be 0: no recompilation). Goal: a preview well under a second; reported as
times and as the ratio preview / full.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
from PIL import Image

from bokeh_jax.app import engine
from bokeh_jax.io import samples


def _args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5, help="timed events of each kind")
    p.add_argument("--preview-size", type=int, default=engine.PREVIEW_SIZE)
    return p.parse_args(argv)


def _photo(tmp: Path) -> tuple[Path, Path, str]:
    for name, photo, depth in samples.pynet_pairs():
        if Image.open(photo).size == (1536, 1024):
            return photo, depth, f"PyNET sample {name}"
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:1024, 0:1536] / 1536
    rgb = np.stack([x, y, 1 - x], -1) * 120 + 60 + rng.normal(0, 40, (1024, 1536, 3))
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(tmp / "photo.jpg", quality=95)
    d = np.full((1024, 1536), 30, np.uint8)
    d[200:800, 300:900] = 220
    Image.fromarray(d).save(tmp / "depth.png")
    return tmp / "photo.jpg", tmp / "depth.png", "synthetic"


def main(argv=None) -> int:
    args = _args(argv)
    dev = jax.devices()[0]
    with tempfile.TemporaryDirectory() as tmp:
        photo, depth, what = _photo(Path(tmp))
        t0 = time.perf_counter()
        scene = engine.load_scene(photo, depth, preview_size=args.preview_size, root=tmp)
        load = time.perf_counter() - t0
        lens = engine.Lens()
        t0 = time.perf_counter()
        engine.render(scene, lens, preview=True)
        first_preview = time.perf_counter() - t0
        t0 = time.perf_counter()
        engine.render(scene, lens)
        first_full = time.perf_counter() - t0

        traces = []

        def listener(event, duration, **kwargs):
            if event.endswith("jaxpr_trace_duration"):
                traces.append(event)

        jax.monitoring.register_event_duration_secs_listener(listener)
        previews, fulls = [], []
        h, w = scene.hw
        for i in range(args.repeats):
            scene.focus_xy = (int(w * (0.2 + 0.6 * i / max(1, args.repeats - 1))), h // 2)
            lens = engine.Lens(strength=0.6 + 0.2 * i, gamma=1.8 + 0.2 * (i % 3))
            t0 = time.perf_counter()
            engine.save_view(scene, engine.render(scene, lens, preview=True).bokeh)
            previews.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            out = engine.render(scene, lens)
            engine.save_view(scene, out.bokeh)
            engine.save_result(scene, out.bokeh)
            fulls.append(time.perf_counter() - t0)
        jax.monitoring.unregister_event_duration_listener(listener)
        engine.discard(scene)
    p, f = statistics.median(previews), statistics.median(fulls)
    sh, sw = scene.small_rgb.shape[:2]
    print(f"device: {dev.platform.upper()} ({dev.device_kind}); photo: {what}, {w}x{h}, "
          f"preview {sw}x{sh}; defaults: {engine.Lens().renderer}, {engine.Lens().aperture}, "
          f"gamma {engine.Lens().gamma}")
    print(f"load (read photo + map, preview copies): {load:.2f} s")
    print(f"first preview (compile included): {first_preview:.2f} s; first full: "
          f"{first_full:.2f} s")
    print(f"drag step (preview + PNG), median of {args.repeats}: {p:.3f} s  "
          f"[goal: well under 1 s: {'ok' if p < 0.5 else 'MISSED'}]")
    print(f"click / release (full render + PNG + download), median: {f:.3f} s")
    print(f"ratio preview / full: {p / f:.2f}")
    print(f"JAX traces after warm-up (focus, strength, gamma changed): {len(traces)} "
          f"[goal 0: {'ok' if not traces else 'MISSED'}]")
    return 0 if p < 1.0 and not traces else 1


if __name__ == "__main__":
    sys.exit(main())
