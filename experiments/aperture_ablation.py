"""The aperture ablation (the paper's future work): Gaussian vs disk vs polygon copies.

    python experiments/aperture_ablation.py [--workdir runs/ablation] [--pairs-dir DIR]

Trains the demo-sized configs ``demo`` (Gaussian), ``ablation_disk_demo`` and
``ablation_polygon_demo``: the same data, steps and seed, only the blurred copies' kernel
differs. Each is scored on the synthetic validation split (whose ground truth is rendered
with disk circles of confusion; the training run's own end-of-run evaluation) and on the
real EBB! pairs in ``--pairs-dir`` (default ``../shared/data/ebb_samples``; skipped when
absent). Writes ``WORKDIR/results.md`` and prints it. Runs already trained are reused
(training resumes or finds itself done), so an interrupted run can be restarted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARMS = (("gaussian", "demo"), ("disk", "ablation_disk_demo"),
        ("polygon", "ablation_polygon_demo"))


def _run(cmd: list[str]) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=REPO)


def _model_row(summary_file: Path) -> dict:
    rows = json.loads(summary_file.read_text())["rows"]
    return next(r for r in rows if r["name"] == "model")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", default="runs/ablation")
    p.add_argument("--pairs-dir", default=str(REPO.parent / "shared" / "data" / "ebb_samples"))
    args = p.parse_args(argv)
    work = Path(args.workdir)
    pairs = Path(args.pairs_dir)
    table = ["| aperture | synthetic val PSNR | SSIM | LPIPS | EBB! pairs PSNR | SSIM | LPIPS |",
             "|---|---|---|---|---|---|---|"]
    for arm, config in ARMS:
        run = work / arm
        _run([sys.executable, "train.py", "--config", config, "--workdir", str(run),
              "--config.render_at_end=False"])
        synth = _model_row(run / "eval" / "summary.json")
        cells = [f"{synth['psnr']:.2f}", f"{synth['ssim']:.4f}", f"{synth['lpips']:.4f}"]
        if pairs.is_dir():
            _run([sys.executable, "eval.py", "--checkpoint", str(run / "phase3"),
                  "--pairs-dir", str(pairs), "--split", "all", "--out", str(run / "eval_ebb"),
                  "--quiet"])
            real = _model_row(run / "eval_ebb" / "summary.json")
            cells += [f"{real['psnr']:.2f}", f"{real['ssim']:.4f}", f"{real['lpips']:.4f}"]
        else:
            cells += ["-", "-", "-"]
        table.append(f"| {arm} | " + " | ".join(cells) + " |")
    text = "\n".join(table) + "\n"
    (work / "results.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
