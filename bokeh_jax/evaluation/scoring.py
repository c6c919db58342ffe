"""Evaluation with the paper's protocol: scores, baselines, and the reports ``eval.py`` writes.

:func:`evaluate` renders every example at its full size with a model's test policy and scores
it against the target: PSNR and SSIM on 8-bit RGB as scikit-image computes them, LPIPS with
AlexNet and the v0.1 linear layers (method.md, "Measuring"). With ``baselines`` it also scores,
on the same images:

- ``identity``: the input itself (how far apart the two photos of a pair already are);
- ``blur_<k>``: the input under one global Gaussian blur, for each of the model's kernels
  (Eq. 1 with all the weight on the copy blurred with k);
- ``depth_prior``: Eq. 1 with weights from the model's own depth head instead of its learned
  weight head (``ops.weights_from_depth``, focused on the nearest region, strength 1).

Each image is rendered and scored by one jitted function, compiled once per distinct image
size (EBB! has 1536- and 1600-wide photos: two compiles). Images are not padded to a common
size: padding would change SSIM's border windows and LPIPS's features, so the scores would no
longer be the paper's. The depth-prior row adds a second jitted call per image, after a host
step (the percentile normalisation of ``depth_render.to_disparity``).

Outputs in ``out_dir``: ``per_image.csv``, ``summary.json``, ``results.md`` and
``visuals/<id>.png``. Everything is written into a temporary sibling folder, which replaces
``out_dir`` only once complete.
"""

from __future__ import annotations

import collections
import csv
import json
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from bokeh_jax import __version__, depth_render, metrics, model_io, ops, viz
from bokeh_jax.cli import UserError
from bokeh_jax.image_io import write_image
from bokeh_jax.lpips import load_lpips_params, lpips_distance
from bokeh_jax.model_io import BokehModel

MODEL, IDENTITY, DEPTH_PRIOR = "model", "identity", "depth_prior"
METRICS = ("psnr", "ssim", "lpips")
ALL_SPLIT = "all"  # a pairs folder taken whole
VAL294 = "val294"
DEFAULT_SPLITS = {"ebb": VAL294, "synthetic_bokeh": "validation"}
CSV_FILE, SUMMARY_FILE, RESULTS_FILE, VISUALS_DIR = (
    "per_image.csv", "summary.json", "results.md", "visuals")
_MIN_SIDE = {True: 31, False: 7}  # LPIPS (AlexNet) needs 31 px a side, SSIM's window 7

# method.md, "Published numbers": the Val294 rows (PSNR, SSIM, LPIPS). The AIM 2019 test-set
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

# How many times each jitted scorer was traced (each trace is one compile): tests check that
# this grows with the number of distinct image sizes, not with the number of images.
TRACES: collections.Counter = collections.Counter()


# ---------------------------------------------------------------------------------------------
# Finding what to evaluate


def resolve_checkpoint(path: str | os.PathLike) -> tuple[Path, str]:
    """The checkpoint folder ``--checkpoint`` names, and a note when it was not ``path`` itself.

    Accepts a bokeh_jax checkpoint folder (converted or trained), or a phase folder of a
    training workdir (``WORKDIR/phaseN/``), whose ``best/`` checkpoint is taken (``final/``
    when there is no ``best/``). Raises UserError naming the fix otherwise.
    """
    path = Path(path).expanduser()
    if (path / model_io.METADATA_FILE).is_file():
        model_io.read_metadata(path)  # checks the format; the weights are read later
        return path, ""
    for sub, why in (("best", "best validation score"), ("final", "no best/ was saved")):
        if (path / sub / model_io.METADATA_FILE).is_file():
            model_io.read_metadata(path / sub)
            return path / sub, f"{path} is a training phase folder: evaluating {path / sub} ({why})"
    if path.is_dir() and any(path.glob("phase*/")):
        raise UserError(f"{path}: a training workdir, not a checkpoint; pass one of its phase "
                        f"folders, e.g. --checkpoint {path / 'phase3'}")
    if path.is_dir() and re.fullmatch(r"phase\d+", path.name):
        raise UserError(f"{path}: this training phase has no best/ or final/ checkpoint yet; "
                        "let the phase save one (or pass a checkpoint folder)")
    model_io.read_metadata(path)  # raises the right UserError (missing / not bokeh_jax)
    return path, ""


def open_examples(dataset: str = "ebb", split: str | None = None, *,
                  data_dir: str | os.PathLike | None = None,
                  pairs_dir: str | os.PathLike | None = None):
    """(examples, dataset label, split) for ``eval.py``.

    A built TFDS dataset (``bokeh_jax.data.pipeline.eval_examples``; default split val294 for
    EBB!, validation for synthetic_bokeh), or with ``pairs_dir`` a folder of pairs read
    directly, taken whole (split "all") or restricted to EBB!'s train / val294 ids.
    """
    if pairs_dir is not None:
        from bokeh_jax.data.pairs_dir import PairsDir, iter_pairs

        pairs = iter_pairs(pairs_dir)
        split = split or ALL_SPLIT
        if split != ALL_SPLIT:
            from bokeh_jax.data import ebb

            if split not in ebb.SPLITS:
                raise UserError(f"unknown split {split!r} for --pairs_dir; use {ALL_SPLIT}, "
                                f"{' or '.join(ebb.SPLITS)} (EBB! id ranges)")
            kept = [p for p in pairs.pairs if ebb.split_of(p[0]) == split]
            if not kept:
                raise UserError(f"{pairs_dir}: no pair has an id in EBB!'s {split} range; "
                                f"pass --split {ALL_SPLIT}")
            pairs = PairsDir(kept)
        return pairs, f"pairs_dir:{Path(pairs_dir).expanduser()}", split
    from bokeh_jax.data import catalog, pipeline

    name = catalog.canonical_name(dataset)
    split = split or DEFAULT_SPLITS[name.partition("/")[0]]
    return pipeline.eval_examples(dataset, split, data_dir=data_dir), name, split


def check_out_dir(out_dir: str | os.PathLike) -> Path:
    """Refuses an output path that is a file, or a non-empty folder not written by us."""
    out_dir = Path(out_dir).expanduser().absolute()
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir}: exists and is not a folder; choose a folder for --out")
    if (out_dir.is_dir() and any(out_dir.iterdir())
            and not (out_dir / SUMMARY_FILE).is_file()):
        raise UserError(f"{out_dir}: folder is not empty and holds no earlier evaluation "
                        f"({SUMMARY_FILE}); choose another --out or empty it")
    return out_dir


# ---------------------------------------------------------------------------------------------
# The jitted scorers


def row_names(kernel_sizes: Iterable[int], baselines: bool, depth_prior: bool) -> list[str]:
    names = [MODEL]
    if baselines:
        names += [IDENTITY] + [f"blur_{k}" for k in kernel_sizes]
        names += [DEPTH_PRIOR] if depth_prior else []
    return names


def _scores(candidates: jax.Array, target: jax.Array, lpips_params) -> dict[str, jax.Array]:
    """(R,H,W,3) candidates vs one (H,W,3) target -> {metric: (R,)}."""
    t = jnp.broadcast_to(target, candidates.shape)
    out = {"psnr": metrics.psnr(candidates, t), "ssim": metrics.ssim(candidates, t)}
    if lpips_params is not None:
        # One pair at a time: the same numbers as one batch of 2R images, with a fraction of
        # the memory, and ~15% faster on a 2-core CPU (measured at 1024x1536, R = 5).
        out["lpips"] = jax.lax.map(
            lambda c: lpips_distance(c[None], target[None], params=lpips_params)[0], candidates)
    return out


@partial(jax.jit, static_argnames=("module", "work_hw", "policy", "baselines", "keep"))
def _score_model(module, variables, lpips_params, image, target, *, work_hw, policy,
                 baselines, keep):
    """Renders one image with the model and scores it, with the identity and blur baselines.

    Returns the scores, and with ``keep`` the render (weights, log-depth) and the blur stack
    too; without, XLA drops what only they need (the full-size resizes of the maps).
    """
    TRACES["model"] += 1
    out = model_io.render_image(module, variables, image, work_hw=work_hw, policy=policy)
    candidates = [out.bokeh]
    stack = None
    if baselines:
        kernels = tuple(module.kernel_sizes)
        stack = ops.blur_stack(image, kernels, method=module.blur_method)
        candidates.append(image)
        # Global blur k: Eq. 1 with all the weight on copy k, i.e. the blurred copy itself.
        candidates.extend(stack[i] for i in range(len(kernels)))
    scores = _scores(jnp.stack(candidates), target, lpips_params)
    return (scores, out, stack) if keep else (scores, None, None)


@partial(jax.jit, static_argnames=("kernel_sizes",))
def _score_depth_prior(lpips_params, image, target, stack, disparity, focus, *, kernel_sizes):
    """Eq. 1 with depth-driven weights at full resolution, scored."""
    TRACES["depth_prior"] += 1
    weights = ops.weights_from_depth(disparity, focus, 1.0, kernel_sizes)
    bokeh = jnp.clip(ops.blend(image, stack, weights), 0.0, 1.0)
    return _scores(bokeh[None], target, lpips_params), bokeh


def _depth_prior(lpips_params, image, target, out, stack, kernels):
    """(scores, disparity, bokeh) of the depth_prior row for one image."""
    # Disparity = 1/depth from the depth head, normalised to [0,1] (the renderer's
    # `--depth auto` conversion); the focus is the nearest region's.
    disparity = depth_render.disparity_from_log_depth(np.asarray(out.log_depth))
    focus = depth_render.nearest_region_focus(disparity)
    scores, bokeh = _score_depth_prior(lpips_params, image, target, stack,
                                       jnp.asarray(disparity), jnp.float32(focus),
                                       kernel_sizes=kernels)
    return scores, disparity, bokeh


def _pair(example: dict, index: int, lpips: bool) -> tuple:
    """(id, original, bokeh) of an example, checked: same (H,W,3) shape, large enough."""
    ex_id = example.get("id", index)
    if isinstance(ex_id, (bytes, np.bytes_)):
        ex_id = ex_id.decode()
    ex_id = int(ex_id) if isinstance(ex_id, (int, np.integer)) else str(ex_id)
    images = []
    for key in ("original", "bokeh"):
        x = np.asarray(example[key])
        if x.ndim != 3 or x.shape[-1] != 3:
            raise UserError(f"example {ex_id}: {key} has shape {x.shape}, expected (H, W, 3)")
        images.append(jnp.asarray(x / np.float32(255) if x.dtype == np.uint8 else x,
                                  jnp.float32))
    (h, w), (th, tw) = images[0].shape[:2], images[1].shape[:2]
    if (th, tw) != (h, w):
        raise UserError(f"example {ex_id}: bokeh is {tw}x{th}, original {w}x{h}; fix the pair")
    if min(h, w) < _MIN_SIDE[lpips]:
        raise UserError(f"example {ex_id}: {w}x{h} is too small to score (needs "
                        f"{_MIN_SIDE[lpips]} px a side{' for LPIPS' * lpips}); use larger images")
    return ex_id, *images


# ---------------------------------------------------------------------------------------------
# The evaluation


def evaluate(model: BokehModel, examples, *, policy: str = "paper", lpips: bool = True,
             baselines: bool = False, num_visuals: int = 0, out_dir=None, progress: bool = True,
             max_images: int | None = None, dataset: str = "", split: str = "",
             checkpoint: str = "") -> dict:
    """Scores ``model`` on ``examples`` with the paper's protocol; optionally writes reports.

    Args:
      model: a loaded (or in-memory) :class:`BokehModel`.
      examples: an iterable (sized for an ETA) of {"id", "original", "bokeh"} with (H,W,3)
        float32 images in [0,1] (or uint8), e.g. ``pipeline.eval_examples`` or
        ``pairs_dir.iter_pairs``. Images are scored at their own size.
      policy: "paper" (resize to the model's resolution, run, resize back) or "fullres".
      lpips: also compute LPIPS (AlexNet); off for fast validation during training.
      baselines: add the identity, blur_<k> and depth_prior rows (see module docstring).
      num_visuals: PNG grids for the first images (needs ``out_dir``).
      out_dir: folder for per_image.csv, summary.json, results.md, visuals/ (None: none).
      progress: a tqdm bar with ETA on stderr.
      max_images: score only the first ones.
      dataset, split, checkpoint: labels recorded in the summary.
    Returns:
      The summary (what summary.json holds): {"checkpoint", "dataset", "split", "policy",
      "rows": [{"name", "psnr", "ssim", "lpips", "n"}, ...] (means over the images; lpips is
      None when not computed), "num_images", "notes", ...}.
    """
    from tqdm import tqdm

    if policy not in model_io.POLICIES:
        raise UserError(f"unknown policy {policy!r}; use one of {', '.join(model_io.POLICIES)}")
    if num_visuals and out_dir is None:
        raise UserError("visual grids need an output folder; pass --out (out_dir)")
    if max_images is not None and max_images < 1:
        raise UserError(f"max_images={max_images}: must be at least 1")
    out_dir = check_out_dir(out_dir) if out_dir is not None else None
    lpips_params = load_lpips_params("alex") if lpips else None
    kernels = model.kernel_sizes
    use_depth = baselines and model.has_depth_head
    notes = []
    if baselines and not model.has_depth_head:
        notes.append("depth_prior row skipped: this checkpoint has no depth head (its last "
                     "layer came from a bokeh model, not MegaDepth)")
    names = row_names(kernels, baselines, use_depth)
    total = len(examples) if hasattr(examples, "__len__") else None
    if total is not None and max_images is not None:
        total = min(total, max_images)

    staging = None
    if out_dir is not None:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        records = []
        start = time.perf_counter()
        with tqdm(total=total, desc="eval", unit="img", disable=not progress,
                  dynamic_ncols=True) as bar:
            for index, example in enumerate(examples):
                if max_images is not None and index >= max_images:
                    break
                ex_id, image, target = _pair(example, index, lpips)
                h, w = image.shape[:2]
                hw = model_io.working_size((h, w), model.resolution)
                scores, out, stack = _score_model(
                    model.module, model.variables, lpips_params, image, target, work_hw=hw,
                    policy=policy, baselines=baselines, keep=baselines or num_visuals > 0)
                per_row = {m: np.asarray(v, np.float64) for m, v in scores.items()}
                depth_out = None
                if use_depth:
                    d_scores, *depth_out = _depth_prior(lpips_params, image, target, out, stack,
                                                        kernels)
                    per_row = {m: np.concatenate([v, np.asarray(d_scores[m], np.float64)])
                               for m, v in per_row.items()}
                record = {"id": ex_id, "height": h, "width": w}
                for r, name in enumerate(names):
                    for m in METRICS:
                        if m in per_row:
                            record[f"{name}_{m}"] = float(per_row[m][r])
                records.append(record)
                if index < num_visuals:
                    _write_visual(staging / VISUALS_DIR, record, image, target, out, kernels,
                                  depth_out, baselines)
                bar.update(1)
                bar.set_postfix(psnr=f"{np.mean([r['model_psnr'] for r in records]):.2f}")
        seconds = time.perf_counter() - start
        if not records:
            raise UserError(f"nothing to evaluate: {dataset or 'the examples'} "
                            f"{split or ''} holds no images".replace("  ", " "))
        summary = summarise(records, names, lpips=lpips, checkpoint=checkpoint,
                            dataset=dataset, split=split, policy=policy, model=model,
                            notes=notes, seconds=seconds)
        if staging is not None:
            write_reports(staging, records, summary)
            _replace_folder(staging, out_dir)
            staging = None
        return summary
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _replace_folder(src: Path, dst: Path) -> None:
    """Moves the finished folder ``src`` to ``dst``, replacing an earlier evaluation there."""
    # Temporary folders and files are created owner-only; the results are for everyone the
    # umask allows, like any file the user writes.
    umask = os.umask(0)
    os.umask(umask)
    for p in [src, *src.rglob("*")]:
        p.chmod((0o777 if p.is_dir() else 0o666) & ~umask)
    if dst.exists():
        trash = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        dst.rename(trash)
        src.rename(dst)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        src.rename(dst)


# ---------------------------------------------------------------------------------------------
# Summary and reports


def _mean(values: list[float]) -> float:
    return float(np.mean(np.asarray(values, np.float64)))


def summarise(records: list[dict], names: list[str], *, lpips: bool, checkpoint: str,
              dataset: str, split: str, policy: str, model: BokehModel, notes: list[str],
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
    if not (split == VAL294 and (dataset == "ebb" or dataset.startswith("pairs_dir:"))):
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


# Names of viz.WEIGHT_COLOURS, in order (sharp first, then the blur levels).
_COLOUR_NAMES = ("white", "blue", "green", "orange", "red", "purple")


def _weight_legend(kernel_sizes) -> str:
    labels = ["sharp", *(f"k{k}" for k in kernel_sizes)]
    return "weights: " + ", ".join(f"{label} {_COLOUR_NAMES[i % len(_COLOUR_NAMES)]}"
                                   for i, label in enumerate(labels))


def _write_visual(folder: Path, record: dict, image, target, out, kernels, depth_out,
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
