"""Evaluation with the paper's protocol: every example rendered by the one inference path, scored.

:func:`evaluate` renders every example at its full size with
:func:`bokeh_jax.inference.learned.render_photo` (what ``python -m bokeh_jax.render`` runs)
and scores it against the target: PSNR and SSIM on 8-bit RGB as scikit-image computes them,
LPIPS with AlexNet and the v0.1 linear layers (docs/method.md, "Measuring"). With
``baselines`` it also scores, on the same images:

- ``identity``: the input itself (how far apart the two photos of a pair already are);
- ``blur_<k>``: the input under one global Gaussian blur, for each of the model's kernels
  (Eq. 1 with all the weight on the copy blurred with k);
- ``depth_prior``: Eq. 1 with weights from the model's own depth head instead of its learned
  weight head, with the model's kernels and aperture, rendered by :func:`bokeh_jax.refocus`
  (``renderer="blend"``: what the render CLI's ``--depth auto --kernels ...`` runs), focused
  on the nearest region, strength 1.

The scorer is jitted and compiled once per distinct image size (EBB! has 1536- and 1600-wide
photos: two compiles); the network compiles once per working size. Images are not padded to
a common size: padding would change SSIM's border windows and LPIPS's features, so the
scores would no longer be the paper's.

Outputs in ``out_dir`` (:mod:`~bokeh_jax.evaluation.reports`): ``per_image.csv``,
``summary.json``, ``results.md`` and ``visuals/<id>.png``, written into a temporary sibling
folder that replaces ``out_dir`` only once complete.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from bokeh_jax import ops
from bokeh_jax.errors import UserError
from bokeh_jax.evaluation import metrics, reports
from bokeh_jax.evaluation.lpips import load_lpips_params, lpips_distance
from bokeh_jax.evaluation.reports import DEPTH_PRIOR, IDENTITY, METRICS, MODEL
from bokeh_jax.evaluation.sources import check_out_dir
from bokeh_jax.files import staged_folder
from bokeh_jax.inference import depth
from bokeh_jax.inference.learned import Rendered, check_policy, render_photo
from bokeh_jax.inference.refocus import refocus
from bokeh_jax.names import PAPER

# LPIPS (AlexNet) needs 31 px a side, SSIM's window 7.
_MIN_SIDE = {True: metrics.LPIPS_MIN_SIDE, False: metrics.SSIM_WINDOW}


def row_names(kernel_sizes: Iterable[int], baselines: bool, depth_prior: bool) -> list[str]:
    names = [MODEL]
    if baselines:
        names += [IDENTITY] + [f"blur_{k}" for k in kernel_sizes]
        names += [DEPTH_PRIOR] if depth_prior else []
    return names


@partial(jax.jit, static_argnames=("kernel_sizes", "method"))
def _score(candidates: jax.Array, image: jax.Array, target: jax.Array, lpips_params, *,
           kernel_sizes: tuple[int, ...] | None, method: str | None) -> dict[str, jax.Array]:
    """(R,H,W,3) candidates vs one (H,W,3) target -> {metric: (R',)}.

    With ``kernel_sizes`` the identity and global-blur baselines of ``image`` are appended
    to the candidates (R' = R + 1 + K), else R' = R.
    """
    if kernel_sizes is not None:
        # Global blur k: Eq. 1 with all the weight on copy k, i.e. the blurred copy itself.
        stack = ops.blur_stack(image, kernel_sizes, method=method)
        candidates = jnp.concatenate([candidates, image[None], stack])
    t = jnp.broadcast_to(target, candidates.shape)
    out = {"psnr": metrics.psnr(candidates, t), "ssim": metrics.ssim(candidates, t)}
    if lpips_params is not None:
        # One pair at a time: the same numbers as one batch of 2R images, with a fraction of
        # the memory, and ~15% faster on a 2-core CPU (measured at 1024x1536, R = 5).
        out["lpips"] = jax.lax.map(
            lambda c: lpips_distance(c[None], target[None], params=lpips_params)[0], candidates)
    return out


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
        images.append(np.asarray(x / np.float32(255) if x.dtype == np.uint8 else x, np.float32))
    (h, w), (th, tw) = images[0].shape[:2], images[1].shape[:2]
    if (th, tw) != (h, w):
        raise UserError(f"example {ex_id}: bokeh is {tw}x{th}, original {w}x{h}; fix the pair")
    if min(h, w) < _MIN_SIDE[lpips]:
        raise UserError(f"example {ex_id}: {w}x{h} is too small to score (needs "
                        f"{_MIN_SIDE[lpips]} px a side{' for LPIPS' * lpips}); use larger images")
    return ex_id, *images


def evaluate(model, examples, *, policy: str = PAPER, lpips: bool = True,
             baselines: bool = False, num_visuals: int = 0, out_dir=None, progress: bool = True,
             max_images: int | None = None, dataset: str = "", split: str = "",
             checkpoint: str = "",
             on_render: Callable[[int, dict, Rendered], None] | None = None) -> dict:
    """Scores ``model`` on ``examples`` with the paper's protocol; optionally writes reports.

    Args:
      model: a loaded (or in-memory) :class:`~bokeh_jax.inference.model.BokehModel`.
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
      on_render: called as ``on_render(index, example, rendered)`` after each render (e.g.
        training logs the first few to TensorBoard without rendering them again).
    Returns:
      The summary (what summary.json holds): {"checkpoint", "dataset", "split", "policy",
      "rows": [{"name", "psnr", "ssim", "lpips", "n"}, ...] (means over the images; lpips is
      None when not computed), "num_images", "notes", ...}.
    """
    from tqdm import tqdm

    try:
        check_policy(policy)
    except ValueError as e:
        raise UserError(str(e)) from None
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

    with contextlib.ExitStack() as stack:
        staging = stack.enter_context(staged_folder(out_dir)) if out_dir is not None else None
        bar = stack.enter_context(tqdm(total=total, desc="eval", unit="img",
                                       disable=not progress, dynamic_ncols=True))
        records = []
        start = time.perf_counter()
        for index, example in enumerate(examples):
            if max_images is not None and index >= max_images:
                break
            ex_id, image, target = _pair(example, index, lpips)
            h, w = image.shape[:2]
            visual = index < num_visuals
            out = render_photo(model.module, model.variables, model.resolution, image,
                               policy=policy, with_weights=visual or on_render is not None,
                               with_depth=use_depth)
            if on_render is not None:
                on_render(index, example, out)
            candidates = [out.bokeh]
            depth_bokeh = None
            if use_depth:
                focus = depth.nearest_region_focus(out.disparity)
                depth_bokeh = refocus(image, out.disparity, focus=focus, strength=1.0,
                                      renderer="blend", aperture=model.module.aperture,
                                      blades=model.module.blades,
                                      rotation=model.module.rotation, kernel_sizes=kernels)
                candidates.append(depth_bokeh)
            scores = _score(jnp.asarray(np.stack(candidates)), jnp.asarray(image),
                            jnp.asarray(target), lpips_params,
                            kernel_sizes=kernels if baselines else None,
                            method=model.module.blur_method)
            per_row = {m: np.asarray(v, np.float64) for m, v in scores.items()}
            if use_depth:  # the depth_prior row was scored second; it is listed last
                per_row = {m: np.concatenate([v[:1], v[2:], v[1:2]]) for m, v in per_row.items()}
            record = {"id": ex_id, "height": h, "width": w}
            for r, name in enumerate(names):
                for m in METRICS:
                    if m in per_row:
                        record[f"{name}_{m}"] = float(per_row[m][r])
            records.append(record)
            if visual:
                depth_out = None if depth_bokeh is None else (out.disparity, depth_bokeh)
                reports.write_visual(Path(staging) / reports.VISUALS_DIR, record, image, target,
                                     out, kernels, depth_out, baselines)
            bar.update(1)
            bar.set_postfix(psnr=f"{np.mean([r['model_psnr'] for r in records]):.2f}")
        seconds = time.perf_counter() - start
        if not records:
            raise UserError(f"nothing to evaluate: {dataset or 'the examples'} "
                            f"{split or ''} holds no images".replace("  ", " "))
        summary = reports.summarise(records, names, lpips=lpips, checkpoint=checkpoint,
                                    dataset=dataset, split=split, policy=policy, model=model,
                                    notes=notes, seconds=seconds)
        if staging is not None:
            reports.write_reports(staging, records, summary)
    return summary
