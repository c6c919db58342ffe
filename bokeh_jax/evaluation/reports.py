"""Reports of an evaluation: the summary, the printed table, CSV/JSON/Markdown, visual grids."""

from __future__ import annotations

import collections
import csv
import json
import math
from pathlib import Path

import numpy as np

from bokeh_jax.io import viz
from bokeh_jax.io.photos import write_image
from bokeh_jax.names import EBB, VAL294, __version__

MODEL, IDENTITY, DEPTH_PRIOR = "model", "identity", "depth_prior"
METRICS = ("psnr", "ssim", "lpips")
CSV_FILE, SUMMARY_FILE, RESULTS_FILE, VISUALS_DIR = (
    "per_image.csv", "summary.json", "results.md", "visuals")

# docs/method.md, "Published numbers": the Val294 rows (PSNR, SSIM, LPIPS). The AIM 2019 test-set
# entries are left out: another image set, and a MOS instead of LPIPS.
PUBLISHED = (
    ("saliency baseline (SCRN mask + Gaussian blur)", 22.53, 0.8330, 0.3251),
    ("Dutta 2021, 1 kernel", 23.17, 0.8613, 0.2506),
    ("Dutta 2021, kernels 5/25/45", 23.22, 0.8572, 0.2607),
    ("Dutta 2021, phase 1", 23.91, 0.8533, 0.2716),
    ("Dutta 2021, phase 2", 23.56, 0.8557, 0.2574),
    ("Dutta 2021, phase 3 (final)", 23.45, 0.8675, 0.2463),
    ("BRViT (2022, 123M params)", 24.76, 0.8904, 0.1924),
)
VAL294_SIZE = 294


def _mean(values: list[float]) -> float:
    return float(np.mean(np.asarray(values, np.float64)))


def summarise(records: list[dict], names: list[str], *, lpips: bool, checkpoint: str,
              dataset: str, split: str, policy: str, model, notes: list[str],
              seconds: float) -> dict:
    """The summary dict (summary.json) from the per-image records."""
    rows = []
    for name in names:
        row = {"name": name}
        for m in METRICS:
            key = f"{name}_{m}"
            row[m] = _mean([r[key] for r in records]) if key in records[0] else None
        row["n"] = len(records)
        rows.append(row)
    sizes = collections.Counter(f"{r['width']}x{r['height']}" for r in records)
    n = len(records)
    if not (split == VAL294 and (dataset == EBB or dataset.startswith("pairs_dir:"))):
        notes = notes + [f"evaluated on {dataset or 'these examples'} / {split or '-'}, not "
                         "EBB! Val294: the published numbers are not comparable"]
    elif n != VAL294_SIZE:
        notes = notes + [f"only {n} of the {VAL294_SIZE} Val294 images: the published numbers "
                         "are not directly comparable"]
    return {
        "checkpoint": str(checkpoint), "dataset": dataset, "split": split, "policy": policy,
        "rows": rows,
        "num_images": n,
        "image_sizes": dict(sorted(sizes.items())),
        "kernel_sizes": list(model.kernel_sizes),
        "resolution": list(model.resolution),
        "metrics": {"psnr": "8-bit RGB, data range 255",
                    "ssim": "scikit-image defaults on 8-bit RGB (7x7 uniform window)",
                    "lpips": "AlexNet, v0.1 linear layers" if lpips else None},
        "notes": notes,
        "seconds": round(seconds, 3),
        "images_per_second": round(n / seconds, 4) if seconds > 0 else None,
        "bokeh_jax_version": __version__,
    }


ROW_LABELS = {
    MODEL: "ours (this checkpoint)",
    IDENTITY: "identity (the input unchanged)",
    DEPTH_PRIOR: "depth-driven weights from the depth head (no learned head)",
}


def row_label(name: str) -> str:
    if name.startswith("blur_"):
        return f"global Gaussian blur, kernel {name[5:]}"
    return ROW_LABELS.get(name, name)


def _fmt(value, digits: int) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if math.isfinite(value) else str(value)


def format_table(summary: dict) -> str:
    """The rows as a plain-text table (what ``eval.py`` prints)."""
    lines = [f"{'method':<12} {'PSNR':>8} {'SSIM':>8} {'LPIPS':>8} {'n':>6}"]
    for row in summary["rows"]:
        lines.append(f"{row['name']:<12} {_fmt(row['psnr'], 3):>8} {_fmt(row['ssim'], 4):>8} "
                     f"{_fmt(row['lpips'], 4):>8} {row['n']:>6}")
    return "\n".join(lines)


def results_markdown(summary: dict) -> str:
    """results.md: our rows and the published ones, laid out like the paper's table."""
    lines = [
        f"# Evaluation of `{summary['checkpoint']}`", "",
        f"Dataset `{summary['dataset']}`, split `{summary['split']}`, "
        f"{summary['num_images']} images at full size; policy `{summary['policy']}` (network "
        f"at {'x'.join(map(str, summary['resolution']))}); kernels "
        f"{', '.join(map(str, summary['kernel_sizes']))}.",
        "PSNR and SSIM on 8-bit RGB (SSIM: scikit-image's defaults), LPIPS AlexNet v0.1 "
        "(lower is better); means over the images.", "",
        "| method | PSNR | SSIM | LPIPS |", "|---|---|---|---|",
    ]
    for row in summary["rows"]:
        label = row_label(row["name"])
        label = f"**{label}**" if row["name"] == MODEL else label
        lines.append(f"| {label} | {_fmt(row['psnr'], 2)} | {_fmt(row['ssim'], 4)} | "
                     f"{_fmt(row['lpips'], 4)} |")
    for name, p, s, lp in PUBLISHED:
        lines.append(f"| *published (Val294):* {name} | {p:.2f} | {s:.4f} | {lp:.4f} |")
    lines += ["", "Published rows: as reported by Dutta (2021) and BRViT (2022) on EBB! "
              "Val294 (training images 4400-4693), not measured here."]
    lines += [f"Note: {note}." for note in summary["notes"]]
    return "\n".join(lines) + "\n"


def _json_safe(value):
    # JSON has no inf/nan (PSNR of identical images is +inf): write null instead.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def write_reports(folder: Path, records: list[dict], summary: dict) -> None:
    """per_image.csv, summary.json and results.md into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / CSV_FILE, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(records[0]))
        writer.writeheader()
        # repr-exact floats, so the CSV's means are the summary's to the last digit.
        writer.writerows({k: repr(v) if isinstance(v, float) else v for k, v in r.items()}
                         for r in records)
    (folder / SUMMARY_FILE).write_text(
        json.dumps(_json_safe(summary), indent=2, allow_nan=False) + "\n")
    (folder / RESULTS_FILE).write_text(results_markdown(summary))


def _weight_legend(kernel_sizes) -> str:
    labels = ["sharp", *(f"k{k}" for k in kernel_sizes)]
    return "weights: " + ", ".join(f"{label} {viz.weight_colour_name(i)}"
                                   for i, label in enumerate(labels))


def write_visual(folder: Path, record: dict, image, target, out, kernels, depth_out,
                 baselines: bool) -> None:
    """visuals/<id>.png: input | ours | target | weight maps | depth, scores in the caption."""
    tiles = [("input", viz.to_uint8(image)), ("ours", viz.to_uint8(out.bokeh)),
             ("target", viz.to_uint8(target)),
             (_weight_legend(kernels), viz.weights_to_rgb(out.weights))]
    if depth_out is not None:
        tiles.append(("depth head (bright = near)", viz.colorize(depth_out[0], 0.0, 1.0)))
        tiles.append(("depth-driven baseline", viz.to_uint8(depth_out[1])))

    def scores(name: str) -> str:
        parts = [f"PSNR {record[f'{name}_psnr']:.2f}", f"SSIM {record[f'{name}_ssim']:.4f}"]
        if f"{name}_lpips" in record:
            parts.append(f"LPIPS {record[f'{name}_lpips']:.4f}")
        return " ".join(parts)

    caption = f"{record['id']} ({record['width']}x{record['height']})  ours: {scores(MODEL)}"
    if baselines:
        caption += f"  |  identity: {scores(IDENTITY)}"
    sheet = viz.contact_sheet([tiles], tile_height=320, captions=[caption])
    write_image(folder / f"{record['id']}.png", sheet)
