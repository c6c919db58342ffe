"""After the last phase: the evaluation with baselines and renders of real sample photos."""

from __future__ import annotations

from pathlib import Path

import ml_collections
import numpy as np
from tqdm import tqdm

from bokeh_jax.evaluation.reports import format_table
from bokeh_jax.evaluation.scoring import evaluate
from bokeh_jax.inference.model import load_model
from bokeh_jax.io import samples, viz
from bokeh_jax.io.photos import read_image, write_image
from bokeh_jax.train import inputs


def evaluate_at_end(config: ml_collections.ConfigDict, workdir: Path, best: Path) -> dict:
    """eval.py's evaluation of ``best`` with baselines on the validation split, into
    ``WORKDIR/eval``; prints whether the model beats every baseline on PSNR and SSIM."""
    examples = inputs.val_examples(config, inputs.dataset(config))
    summary = evaluate(load_model(best), examples, policy=config.val_policy, lpips=True,
                       baselines=True, num_visuals=4, out_dir=workdir / "eval",
                       dataset=config.dataset, split=config.val_split, checkpoint=str(best))
    print(format_table(summary))
    rows = {r["name"]: r for r in summary["rows"]}
    model = rows.pop("model")
    beaten = [name for name, r in rows.items()
              if model["psnr"] > r["psnr"] and model["ssim"] > r["ssim"]]
    verdict = "beats every baseline" if len(beaten) == len(rows) else (
        "does NOT beat " + ", ".join(sorted(set(rows) - set(beaten))))
    print(f"model {verdict} on PSNR and SSIM ({config.val_split}, {model['n']} images); "
          f"results in {workdir / 'eval'}")
    return summary


def render_samples(best: Path, out_dir: Path, max_side: int = 1024) -> Path:
    """Renders the Middlebury photo and the shared EBB! samples (when present) with the
    trained model (paper policy), plus a contact sheet: input | render | weight maps."""
    model = load_model(best)
    photos = [("motorcycle", samples.motorcycle()[0])]
    photos += [(f"ebb_{p.stem}", p) for p in samples.ebb_originals()]
    rows = []
    for name, photo in tqdm(photos, desc="renders", unit="photo"):
        image = read_image(photo) if isinstance(photo, Path) else photo
        out = model.render(image, policy="paper", return_aux=True)
        bokeh = np.asarray(out.bokeh)
        write_image(out_dir / f"{name}.jpg", bokeh)
        rows.append([("input", viz.to_uint8(image)), ("render", viz.to_uint8(bokeh)),
                     ("weights (white = sharp)", viz.weights_to_rgb(np.asarray(out.weights)))])
    sheet = write_image(out_dir / "contact_sheet.jpg", viz.contact_sheet(rows, tile_height=240))
    print(f"renders of {len(photos)} sample photos in {out_dir} (contact sheet {sheet})")
    return sheet
