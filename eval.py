"""Scores a bokeh_jax model with the paper's protocol (PSNR, SSIM, LPIPS at full size).

    python eval.py --checkpoint runs/ebb/phase3 --dataset ebb --split val294 --out runs/ebb/eval \\
        --baselines --num_visuals 8
    python eval.py --checkpoint megadepth_jax --pairs_dir ../shared/data/ebb_samples --baselines

--checkpoint is a checkpoint folder (converted or trained) or a training phase folder (its
best/ checkpoint is taken). --pairs_dir scores a folder of pairs in EBB!'s layout without a
dataset build. With --out: per_image.csv, summary.json, results.md and visuals/ are written
there. The library behind this is :mod:`bokeh_jax.evaluation`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bokeh_jax.cli import UserError, run_main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python eval.py", description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", required=True,
                   help="checkpoint folder, or a training phase folder (WORKDIR/phaseN)")
    p.add_argument("--dataset", default="ebb",
                   help="built dataset: ebb, synthetic_bokeh or synthetic_bokeh/<config>")
    p.add_argument("--split", default=None,
                   help="split (default: val294 for ebb, validation for synthetic_bokeh; "
                        "all, train or val294 with --pairs_dir)")
    p.add_argument("--data_dir", default=None, help="TFDS data dir of the built dataset")
    p.add_argument("--pairs_dir", default=None,
                   help="score a folder of pairs (original/N.jpg + bokeh/N.jpg) instead")
    p.add_argument("--policy", choices=("paper", "fullres"), default="paper",
                   help="paper: resize to the model's resolution and back; fullres: blend at "
                        "full size with upsampled weight maps")
    p.add_argument("--out", default=None, help="folder for the CSV, summary.json, results.md "
                                               "and visual grids")
    p.add_argument("--baselines", action="store_true",
                   help="also score identity, each global blur and depth-driven weights")
    p.add_argument("--num_visuals", type=int, default=0,
                   help="PNG grids for the first N images (needs --out)")
    p.add_argument("--max_images", type=int, default=None, help="score only the first N")
    p.add_argument("--no_lpips", action="store_true", help="skip LPIPS (faster)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.num_visuals < 0:
        raise UserError(f"--num_visuals {args.num_visuals}: must be 0 or more")
    if args.num_visuals and args.out is None:
        raise UserError("--num_visuals needs --out (the folder the grids go to)")

    from bokeh_jax import evaluation, load_model
    from bokeh_jax.cli import enable_compilation_cache

    enable_compilation_cache()
    if args.out is not None:
        evaluation.check_out_dir(args.out)  # before any long work
    path, note = evaluation.resolve_checkpoint(args.checkpoint)
    if note:
        print(note)
    # Every input is checked before the weights are read and anything compiles.
    examples, dataset, split = evaluation.open_examples(
        args.dataset, args.split, data_dir=args.data_dir, pairs_dir=args.pairs_dir)
    model = load_model(path)
    summary = evaluation.evaluate(
        model, examples, policy=args.policy, lpips=not args.no_lpips, baselines=args.baselines,
        num_visuals=args.num_visuals, out_dir=args.out, progress=not args.quiet,
        max_images=args.max_images, dataset=dataset, split=split, checkpoint=str(path))
    print(f"{dataset} / {split}: {summary['num_images']} images, policy {args.policy}, "
          f"{summary['images_per_second']:.3g} images/s")
    print(evaluation.format_table(summary))
    for line in summary["notes"]:
        print(f"note: {line}")
    if args.out is not None:
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
