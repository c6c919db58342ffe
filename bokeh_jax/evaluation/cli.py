"""``bokeh-jax eval`` (and ``python eval.py``): score a checkpoint with the paper's protocol.

PSNR, SSIM and LPIPS at full size (docs/method.md, "Measuring"). ``--checkpoint`` is a
checkpoint folder (converted or trained) or a training phase folder (its best/ checkpoint
is taken). ``--pairs-dir`` scores a folder of pairs in EBB!'s layout without a dataset
build. With ``--out``: per_image.csv, summary.json, results.md and visuals/ are written
there.
"""

from __future__ import annotations

from collections.abc import Sequence

from bokeh_jax.cli import ArgumentParser, enable_compilation_cache
from bokeh_jax.errors import UserError
from bokeh_jax.names import COMPUTE_DTYPES, EBB, POLICIES

EXAMPLES = """examples:
  {prog} --checkpoint runs/ebb/phase3 --dataset ebb --split val294 --out runs/ebb/eval \\
      --baselines --num-visuals 8
  {prog} --checkpoint runs/demo/phase3 --pairs-dir ../shared/data/ebb_samples --baselines"""


def parser(prog: str) -> ArgumentParser:
    p = ArgumentParser(prog=prog, description=__doc__.split("\n\n")[1],
                       epilog=EXAMPLES.format(prog=prog))
    p.add_argument("--checkpoint", required=True,
                   help="checkpoint folder, or a training phase folder (WORKDIR/phaseN)")
    p.add_argument("--dataset", default=EBB,
                   help="built dataset: ebb, synthetic_bokeh or synthetic_bokeh/<config> "
                        "(default: %(default)s)")
    p.add_argument("--split", default=None,
                   help="split (default: val294 for ebb, validation for synthetic_bokeh; "
                        "all, train or val294 with --pairs-dir)")
    p.add_argument("--data-dir", default=None,
                   help="TFDS data dir of the built dataset (default: $TFDS_DATA_DIR or "
                        "~/tensorflow_datasets)")
    p.add_argument("--pairs-dir", default=None,
                   help="score a folder of pairs (original/N.jpg + bokeh/N.jpg) instead")
    p.add_argument("--skip-unpaired", action="store_true",
                   help="with --pairs-dir: leave out files that have no partner (listed) "
                        "instead of stopping")
    p.add_argument("--policy", choices=POLICIES, default=None,
                   help="paper: resize to the model's resolution and back; fullres: blend at "
                        "full size with upsampled weight maps (default: the one the checkpoint "
                        "was trained for, else paper)")
    p.add_argument("--out", default=None, help="folder for the CSV, summary.json, results.md "
                                               "and visual grids")
    p.add_argument("--baselines", action="store_true",
                   help="also score identity, each global blur and depth-driven weights")
    p.add_argument("--num-visuals", type=int, default=0,
                   help="PNG grids for the first N images (needs --out)")
    p.add_argument("--max-images", type=int, default=None, help="score only the first N")
    p.add_argument("--no-lpips", action="store_true", help="skip LPIPS (faster)")
    p.add_argument("--dtype", choices=COMPUTE_DTYPES, default="float32",
                   help="the network's activations (bfloat16 = mixed precision, faster on "
                        "GPUs; the blend and the metrics stay float32)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None, prog: str = "bokeh-jax eval") -> int:
    args = parser(prog).parse_args(argv)
    if args.num_visuals < 0:
        raise UserError(f"--num-visuals {args.num_visuals}: must be 0 or more")
    if args.skip_unpaired and args.pairs_dir is None:
        raise UserError("--skip-unpaired applies to --pairs-dir folders only")
    if args.num_visuals and args.out is None:
        raise UserError("--num-visuals needs --out (the folder the grids go to)")

    # jax, TFDS and the network load only once the flags are known to be good.
    from bokeh_jax.evaluation import sources
    from bokeh_jax.evaluation.reports import format_table
    from bokeh_jax.evaluation.scoring import evaluate
    from bokeh_jax.inference.model import load_model

    enable_compilation_cache()
    if args.out is not None:
        sources.check_out_dir(args.out)  # before any long work
    path, note = sources.resolve_checkpoint(args.checkpoint)
    if note:
        print(note)
    # Every input is checked before the weights are read and anything compiles.
    examples, dataset, split = sources.open_examples(
        args.dataset, args.split, data_dir=args.data_dir, pairs_dir=args.pairs_dir,
        skip_unpaired=args.skip_unpaired)
    model = load_model(path, dtype=args.dtype)
    policy = args.policy or model.policy
    summary = evaluate(
        model, examples, policy=policy, lpips=not args.no_lpips, baselines=args.baselines,
        num_visuals=args.num_visuals, out_dir=args.out, progress=not args.quiet,
        max_images=args.max_images, dataset=dataset, split=split, checkpoint=str(path))
    precision = ", bfloat16" if args.dtype == "bfloat16" else ""
    print(f"{dataset} / {split}: {summary['num_images']} images, policy {policy}"
          f"{precision}, "
          f"{summary['images_per_second']:.3g} images/s")
    print(format_table(summary))
    for line in summary["notes"]:
        print(f"note: {line}")
    if args.out is not None:
        print(f"wrote {args.out}")
    return 0
