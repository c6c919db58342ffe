"""After the last phase: the evaluation with baselines and renders of real sample photos."""

from __future__ import annotations

from pathlib import Path

import ml_collections
import numpy as np
from PIL import Image
from tqdm import tqdm

from bokeh_jax.evaluation.reports import VISUALS_DIR, format_table
from bokeh_jax.evaluation.scoring import evaluate
from bokeh_jax.inference.model import load_model
from bokeh_jax.io import samples, viz
from bokeh_jax.io.photos import read_image, write_image
from bokeh_jax.train import inputs


def _verdict(summary: dict, what: str) -> str:
    """"model beats every baseline ..." or which ones it does not beat (PSNR and SSIM)."""
    rows = {r["name"]: r for r in summary["rows"]}
    model = rows.pop("model")
    beaten = [name for name, r in rows.items()
              if model["psnr"] > r["psnr"] and model["ssim"] > r["ssim"]]
    verdict = "beats every baseline" if len(beaten) == len(rows) else (
        "does NOT beat " + ", ".join(sorted(set(rows) - set(beaten))))
    return f"model {verdict} on PSNR and SSIM ({what}, {model['n']} images)"


def evaluate_at_end(config: ml_collections.ConfigDict, workdir: Path, best: Path) -> dict:
    """eval.py's evaluation of ``best`` with baselines on the validation split, into
    ``WORKDIR/eval``; prints whether the model beats every baseline on PSNR and SSIM."""
    examples = inputs.val_examples(config, inputs.dataset(config))
    summary = evaluate(load_model(best), examples, policy=config.val_policy, lpips=True,
                       baselines=True, num_visuals=4, out_dir=workdir / "eval",
                       dataset=config.dataset, split=config.val_split, checkpoint=str(best))
    print(format_table(summary))
    print(f"{_verdict(summary, config.val_split)}; results in {workdir / 'eval'}")
    return summary


def evaluate_real_pairs(workdir: Path, best: Path, pairs_dir: Path | None = None) -> dict | None:
    """The held-out check on real photos: the EBB! pairs in ``pairs_dir`` (default: the
    shared samples beside the checkout, when present), scored with baselines under the
    model's own policy into ``WORKDIR/eval_real`` (per-image CSV, visual grids for every
    pair). Only scored, after training: they never train or pick a checkpoint."""
    from bokeh_jax.evaluation.sources import open_examples

    pairs_dir = Path(pairs_dir) if pairs_dir else samples.shared_data_dir() / "ebb_samples"
    if not (pairs_dir / "Training").is_dir() and not (pairs_dir / "original").is_dir():
        print(f"no real EBB! pairs at {pairs_dir}: skipping the real-photo check")
        return None
    examples, dataset, split = open_examples(pairs_dir=pairs_dir)
    model = load_model(best)
    out = workdir / "eval_real"
    summary = evaluate(model, examples, policy=model.policy, lpips=True, baselines=True,
                       num_visuals=len(examples), out_dir=out, dataset=dataset, split=split,
                       checkpoint=str(best))
    # One contact sheet of every pair's grid (input | ours | target | weights | depth).
    grids = [np.asarray(Image.open(p).convert("RGB"))
             for p in sorted((out / VISUALS_DIR).glob("*.png"))]
    width = max(g.shape[1] for g in grids)
    sheet = np.concatenate([np.pad(g, ((0, 0), (0, width - g.shape[1]), (0, 0)))
                            for g in grids])
    write_image(out / "contact_sheet.jpg", sheet)
    print(f"real photos ({pairs_dir}), policy {model.policy}:")
    print(format_table(summary))
    print(f"{_verdict(summary, 'real EBB! pairs')}; per-pair scores in {out / 'per_image.csv'}"
          f", contact sheet {out / 'contact_sheet.jpg'}")
    return summary


def render_samples(best: Path, out_dir: Path, max_side: int = 1024) -> Path:
    """Renders the Middlebury photo and the shared EBB! samples (when present) with the
    trained model (its policy), plus a contact sheet: input | render | weight maps."""
    model = load_model(best)
    photos = [("motorcycle", samples.motorcycle()[0])]
    photos += [(f"ebb_{p.stem}", p) for p in samples.ebb_originals()]
    rows = []
    for name, photo in tqdm(photos, desc="renders", unit="photo"):
        image = read_image(photo) if isinstance(photo, Path) else photo
        out = model.render(image, return_aux=True)
        bokeh = np.asarray(out.bokeh)
        write_image(out_dir / f"{name}.jpg", bokeh)
        rows.append([("input", viz.to_uint8(image)), ("render", viz.to_uint8(bokeh)),
                     ("weights (white = sharp)", viz.weights_to_rgb(np.asarray(out.weights)))])
    sheet = write_image(out_dir / "contact_sheet.jpg", viz.contact_sheet(rows, tile_height=240))
    print(f"renders of {len(photos)} sample photos in {out_dir} (contact sheet {sheet})")
    return sheet
