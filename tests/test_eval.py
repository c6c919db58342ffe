"""eval.py and bokeh_jax.evaluation.scoring: rows, outputs, compile counts, references, errors.

A tiny checkpoint (the real network with random weights, kernels 5/9, run at 32x48) scores a
folder of three pairs of two sizes (128x192 and 128x200, like EBB!'s 1536- and 1600-wide
photos). Every evaluation below reuses those sizes and a handful of settings, so the whole
module compiles the scorer only a few times.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import jax
import numpy as np
import pytest
from conftest import TINY_KERNELS as KERNELS
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from bokeh_jax.cli import run_main
from bokeh_jax.data import prepare
from bokeh_jax.data.pairs_dir import iter_pairs
from bokeh_jax.errors import UserError
from bokeh_jax.evaluation import cli as eval_cli
from bokeh_jax.evaluation import reports, sources
from bokeh_jax.evaluation import scoring as evaluation
from bokeh_jax.inference.model import BokehModel
from bokeh_jax.network.models import BokehNet
from bokeh_jax.render import cli as render_cli

REPO = Path(__file__).resolve().parents[1]
SIZES = {4398: (128, 192), 4399: (128, 200), 4400: (128, 192)}  # id -> (H, W)


@pytest.fixture(scope="module")
def ckpt(tiny_ckpt) -> Path:
    return tiny_ckpt


@pytest.fixture(scope="module")
def model(tiny_model) -> BokehModel:
    return tiny_model


def _photo(seed: int, hw: tuple[int, int]) -> np.ndarray:
    import skimage.data

    img = skimage.data.astronaut()
    y, x = 40 * seed, 30 * seed
    return np.ascontiguousarray(img[y:y + hw[0] * 2:2, x:x + hw[1] * 2:2])


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> Path:
    """EBB! layout; the target blurs the right part of the photo (a crude bokeh)."""
    root = tmp_path_factory.mktemp("pairs")
    for side in ("original", "bokeh"):
        (root / "Training" / side).mkdir(parents=True)
    for i, (pair_id, hw) in enumerate(SIZES.items()):
        sharp = _photo(i, hw)
        target = sharp.copy()
        cut = hw[1] // 3
        target[:, cut:] = cv2.GaussianBlur(sharp, (9, 9), 0)[:, cut:]
        Image.fromarray(sharp).save(root / "Training" / "original" / f"{pair_id}.jpg", quality=95)
        Image.fromarray(target).save(root / "Training" / "bokeh" / f"{pair_id}.jpg", quality=95)
    return root


def _u8(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture(scope="module")
def full_run(model, pairs, tmp_path_factory):
    """One evaluation with every output."""
    out = tmp_path_factory.mktemp("eval") / "out"
    summary = evaluation.evaluate(model, iter_pairs(pairs), baselines=True, num_visuals=2,
                                  out_dir=out, progress=False, dataset="pairs", split="all",
                                  checkpoint="tiny")
    return summary, out


def _csv(out: Path) -> list[dict]:
    with open(out / reports.CSV_FILE) as f:
        return list(csv.DictReader(f))


LOWERING = "/jax/core/compile/jaxpr_to_mlir_module_duration"  # one per program compiled


def test_one_compile_per_image_size(model, pairs):
    """Images of a size already seen compile nothing: the third image (the first one's size)
    adds no program, the second (a new size) does. A model variant no other test uses (the
    "direct" blur) keeps the programs of this run apart from the rest of the suite's."""
    variant = BokehModel(BokehNet(kernel_sizes=KERNELS, blur_method="direct",
                                  levels=model.module.levels), model.variables, model.metadata)
    examples = iter_pairs(pairs)
    assert examples[0]["original"].shape == examples[2]["original"].shape  # SIZES
    assert examples[0]["original"].shape != examples[1]["original"].shape
    lowered, marks = [], []

    def listener(event, duration, **kwargs):
        if event == LOWERING:
            lowered.append(event)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        evaluation.evaluate(variant, [examples[i] for i in range(3)], baselines=True,
                            progress=False, on_render=lambda *a: marks.append(len(lowered)))
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    first, second, third = marks
    # Rendering and scoring image 2 (a new size) compiled; image 3 (image 1's size) did not.
    assert third > second and len(lowered) == third, (marks, len(lowered))


def test_outputs_written_and_consistent(full_run):
    summary, out = full_run
    names = ["model", "identity", "blur_5", "blur_9", "depth_prior"]
    assert [r["name"] for r in summary["rows"]] == names
    assert sorted(p.name for p in out.iterdir()) == ["per_image.csv", "results.md",
                                                     "summary.json", "visuals"]
    assert sorted(p.name for p in (out / "visuals").iterdir()) == ["4398.png", "4399.png"]
    assert Image.open(out / "visuals" / "4399.png").format == "PNG"
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp folders
    umask = os.umask(0o022)
    os.umask(umask)
    assert (out / "visuals" / "4398.png").stat().st_mode & 0o777 == 0o666 & ~umask
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask
    assert json.loads((out / "summary.json").read_text()) == summary
    rows = _csv(out)
    assert [int(r["id"]) for r in rows] == list(SIZES)
    assert [(int(r["height"]), int(r["width"])) for r in rows] == list(SIZES.values())
    for row in summary["rows"]:
        assert row["n"] == 3
        for m in ("psnr", "ssim", "lpips"):
            assert np.isfinite(row[m])
            # The summary is the mean of the CSV column, to the last digit.
            assert row[m] == pytest.approx(np.mean([float(r[f"{row['name']}_{m}"])
                                                    for r in rows]), rel=1e-12)
    md = (out / "results.md").read_text()
    assert "| **ours (this checkpoint)** |" in md
    assert "| global Gaussian blur, kernel 9 |" in md
    assert md.count("*published (Val294):*") == len(reports.PUBLISHED)
    assert "not EBB! Val294: the published numbers are not comparable" in md


@pytest.mark.parametrize("policy", ["paper", "fullres"])
def test_eval_and_the_render_cli_give_the_same_pixels(model, ckpt, pairs, policy, tmp_path,
                                                       capsys):
    """The photo eval.py scores is the photo `python -m bokeh_jax.render` writes."""
    scored = {}
    evaluation.evaluate(model, iter_pairs(pairs), policy=policy, lpips=False, progress=False,
                        on_render=lambda i, ex, out: scored.setdefault(ex["id"], out.bokeh))
    out = tmp_path / "cli"
    assert run_main(render_cli.main, [str(pairs / "Training" / "original"), "-o", str(out),
                                      "--checkpoint", str(ckpt), "--policy", policy,
                                      "--format", "png"]) == 0
    capsys.readouterr()
    assert sorted(scored) == list(SIZES)
    for pair_id, bokeh in scored.items():
        written = _u8(out / f"{pair_id}.png").astype(np.int16)
        expected = np.rint(np.clip(bokeh, 0, 1) * 255).astype(np.int16)
        assert written.shape == expected.shape
        assert np.abs(written - expected).max() <= 1, pair_id


def test_baseline_rows_match_independent_references(full_run, pairs):
    """identity: scikit-image on the 8-bit files; blur_k: OpenCV's blur, then scikit-image."""
    rows = {int(r["id"]): r for r in _csv(full_run[1])}
    for pair_id in SIZES:
        x = _u8(pairs / "Training" / "original" / f"{pair_id}.jpg")
        y = _u8(pairs / "Training" / "bokeh" / f"{pair_id}.jpg")
        row = rows[pair_id]
        assert float(row["identity_psnr"]) == pytest.approx(
            peak_signal_noise_ratio(y, x, data_range=255), abs=1e-4)
        assert float(row["identity_ssim"]) == pytest.approx(
            structural_similarity(y, x, channel_axis=-1, data_range=255), abs=1e-4)
        for k in KERNELS:
            blurred = cv2.GaussianBlur(x.astype(np.float32) / 255, (k, k), 0)
            blurred = np.clip(np.rint(blurred * 255), 0, 255).astype(np.uint8)
            # Rounding ties may fall differently from OpenCV's float32 sums: 0.01 dB.
            assert float(row[f"blur_{k}_psnr"]) == pytest.approx(
                peak_signal_noise_ratio(y, blurred, data_range=255), abs=0.01)
    # The targets blur 2/3 of each photo with k=9: the k=9 blur beats the untouched input.
    summary = {r["name"]: r for r in full_run[0]["rows"]}
    assert summary["blur_9"]["psnr"] > summary["identity"]["psnr"]
    assert summary["depth_prior"]["psnr"] != summary["model"]["psnr"]


def test_validation_path_is_quiet_and_agrees(model, pairs, full_run, capsys):
    """What the trainer calls every M steps: no LPIPS, no baselines, no files, no output."""
    capsys.readouterr()
    summary = evaluation.evaluate(model, iter_pairs(pairs), lpips=False, baselines=False,
                                  out_dir=None, progress=False, max_images=1)
    assert capsys.readouterr() == ("", "")
    (row,) = summary["rows"]
    assert row["name"] == "model" and row["n"] == 1 and row["lpips"] is None
    first = _csv(full_run[1])[0]
    for m in ("psnr", "ssim"):
        # A separately compiled program gives the same model scores.
        assert row[m] == pytest.approx(float(first[f"model_{m}"]), abs=1e-4)


def test_failed_run_keeps_the_previous_outputs(model, pairs, full_run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(full_run[1], out)
    before = (out / "summary.json").read_text()
    good = iter_pairs(pairs)[0]
    bad = {"id": 7, "original": good["original"], "bokeh": good["bokeh"][:64]}
    with pytest.raises(UserError, match="example 7: bokeh is 192x64, original 192x128"):
        evaluation.evaluate(model, [good, bad], lpips=False, out_dir=out, progress=False)
    assert (out / "summary.json").read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    # A successful run replaces the earlier evaluation whole (the old grids go too).
    evaluation.evaluate(model, [good], lpips=False, out_dir=out, progress=False)
    assert not (out / "visuals").exists()
    assert json.loads((out / "summary.json").read_text())["num_images"] == 1


def test_no_depth_head_skips_depth_prior(model, pairs):
    no_depth = BokehModel(model.module, model.variables,
                          {**model.metadata, "has_depth_head": False})
    summary = evaluation.evaluate(no_depth, iter_pairs(pairs), baselines=True, progress=False,
                                  max_images=1)
    assert [r["name"] for r in summary["rows"]] == ["model", "identity", "blur_5", "blur_9"]
    assert any("no depth head" in n for n in summary["notes"])


def test_resolve_checkpoint_and_pairs_splits(ckpt, pairs, tmp_path):
    assert sources.resolve_checkpoint(ckpt) == (ckpt, "")
    phase = tmp_path / "run" / "phase2"
    shutil.copytree(ckpt, phase / "final")
    path, note = sources.resolve_checkpoint(phase)
    assert path == phase / "final" and "no best/" in note
    shutil.copytree(ckpt, phase / "best")
    path, note = sources.resolve_checkpoint(phase)
    assert path == phase / "best" and "training phase folder" in note
    for split, ids in (("all", [4398, 4399, 4400]), ("train", [4398, 4399]),
                       ("val294", [4400])):
        examples, _, got = sources.open_examples(split=split if split != "all" else None,
                                                    pairs_dir=pairs)
        assert got == split and [p[0] for p in examples.pairs] == ids


def test_eval_cli_end_to_end(ckpt, pairs, full_run, tmp_path):
    """The script in a subprocess, given a training phase folder; same numbers as in-process."""
    phase = tmp_path / "run" / "phase3"
    shutil.copytree(ckpt, phase / "best")
    out = tmp_path / "eval"
    proc = subprocess.run(
        [sys.executable, "eval.py", "--checkpoint", str(phase), "--pairs_dir", str(pairs),
         "--baselines", "--num-visuals", "1", "--out", str(out), "--quiet"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"evaluating {phase / 'best'}" in proc.stdout
    assert "depth_prior" in proc.stdout and "not comparable" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["checkpoint"] == str(phase / "best") and summary["split"] == "all"
    assert summary["dataset"] == f"pairs_dir:{pairs}"
    assert [p.name for p in (out / "visuals").iterdir()] == ["4398.png"]
    for got, want in zip(summary["rows"], full_run[0]["rows"], strict=True):
        assert got["name"] == want["name"]
        for m in ("psnr", "ssim", "lpips"):
            assert got[m] == pytest.approx(want[m], abs=1e-5)


@pytest.fixture(scope="module")
def tfds_dir(pairs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tfds")
    prepare.prepare_ebb(pairs, data_dir=out, progress=False, log=lambda *a: None)
    return out


def test_eval_cli_on_a_built_dataset(ckpt, tfds_dir, full_run, capsys):
    assert run_main(eval_cli.main, ["--checkpoint", str(ckpt), "--data_dir", str(tfds_dir),
                                    "--quiet", "--baselines"]) == 0
    stdout = capsys.readouterr().out
    assert "ebb / val294: 1 images" in stdout
    assert "only 1 of the 294 Val294 images" in stdout
    model_line = next(line for line in stdout.splitlines() if line.startswith("model "))
    want = next(r for r in _csv(full_run[1]) if r["id"] == "4400")["model_psnr"]
    assert model_line.split()[1] == f"{float(want):.3f}"


def _error(argv, capsys) -> str:
    assert run_main(eval_cli.main, argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err
    return err


def test_errors_are_one_line(ckpt, pairs, tfds_dir, tmp_path, capsys):
    (tmp_path / "not_ckpt").mkdir()
    (tmp_path / "work" / "phase1").mkdir(parents=True)
    (tmp_path / "empty" / "original").mkdir(parents=True)
    (tmp_path / "empty" / "bokeh").mkdir()
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    shutil.copytree(ckpt, tmp_path / "damaged")
    (tmp_path / "damaged" / "variables" / "_METADATA").unlink()
    shutil.copytree(pairs / "Training" / "original", tmp_path / "half" / "original")
    (tmp_path / "half" / "bokeh").mkdir()
    for pair_id in (4398, 4399):
        shutil.copy(pairs / "Training" / "bokeh" / f"{pair_id}.jpg", tmp_path / "half" / "bokeh")
    ck, pd = ["--checkpoint", str(ckpt)], ["--pairs-dir", str(pairs)]
    cases = {
        "no such checkpoint folder": ["--checkpoint", str(tmp_path / "missing")] + pd,
        "not a bokeh_jax checkpoint": ["--checkpoint", str(tmp_path / "not_ckpt")] + pd,
        "a training workdir": ["--checkpoint", str(tmp_path / "work")] + pd,
        "has no best/ or final/": ["--checkpoint", str(tmp_path / "work" / "phase1")] + pd,
        "dataset ebb is not built": ck + ["--data_dir", str(tmp_path / "nothing")],
        "python -m bokeh_jax.data.prepare ebb": ck + ["--data_dir", str(tmp_path / "nothing")],
        "unknown split 'test'": ck + ["--data_dir", str(tfds_dir), "--split", "test"],
        "unknown split 'val'": ck + pd + ["--split", "val"],
        "no image pairs found": ck + ["--pairs_dir", str(tmp_path / "empty")],
        "exists and is not a folder": ck + pd + ["--out", str(tmp_path / "a_file")],
        "holds no earlier evaluation": ck + pd + ["--out", str(tmp_path / "busy")],
        "--num-visuals needs --out": ck + pd + ["--num_visuals", "2"],
        "/proc: cannot write there": ck + pd + ["--out", "/proc/bokeh_jax_eval"],
        "--skip-unpaired applies to --pairs-dir": ck + ["--skip-unpaired"],
        "1 unpaired file(s)": ck + ["--pairs-dir", str(tmp_path / "half")],
        "variables: cannot read the weights (": ["--checkpoint", str(tmp_path / "damaged")] + pd,
    }
    for expected, argv in cases.items():
        assert expected in _error(argv, capsys), expected
    assert [p.name for p in (tmp_path / "busy").iterdir()] == ["notes.txt"]
    # --skip-unpaired scores the pairs that are complete.
    assert run_main(eval_cli.main, ck + ["--pairs-dir", str(tmp_path / "half"),
                                         "--skip-unpaired", "--no-lpips", "--quiet"]) == 0
    assert "/ all: 2 images" in capsys.readouterr().out


def test_real_ebb_samples_downscaled(shared_data, model):
    """The 6 real pairs at 1/8 size (192x128, a size compiled above), with baselines."""
    folder = shared_data / "ebb_samples"
    examples, _, _ = sources.open_examples(split="val294", pairs_dir=folder)
    assert [p[0] for p in examples.pairs] == [4545, 4546, 4547]
    small = []
    for pair_id, o_path, b_path in iter_pairs(folder).pairs:
        x, y = (np.asarray(Image.open(p).convert("RGB").resize((192, 128), Image.BILINEAR))
                for p in (o_path, b_path))
        small.append({"id": pair_id, "original": x, "bokeh": y})
    summary = evaluation.evaluate(model, small, baselines=True, progress=False)
    rows = {r["name"]: r for r in summary["rows"]}
    want = np.mean([peak_signal_noise_ratio(e["bokeh"], e["original"], data_range=255)
                    for e in small])
    assert rows["identity"]["psnr"] == pytest.approx(want, abs=1e-4)
    assert all(np.isfinite(r[m]) for r in rows.values() for m in ("psnr", "ssim", "lpips"))


def test_the_real_pairs_check_after_training(ckpt, pairs, full_run, tmp_path, capsys):
    """The demo's held-out check on real pairs: eval.py's scores with baselines under the
    checkpoint's policy, per pair, and a verdict line; skipped (said so) without pairs."""
    from bokeh_jax.train import finish

    summary = finish.evaluate_real_pairs(tmp_path, ckpt, pairs)
    stdout = capsys.readouterr().out
    assert summary["policy"] == "paper" and summary["num_images"] == len(SIZES)
    rows = {r["name"]: r for r in summary["rows"]}
    ref = {r["name"]: r for r in full_run[0]["rows"]}  # the same pairs scored directly
    for name in ("model", "identity", f"blur_{KERNELS[0]}"):
        assert rows[name]["psnr"] == pytest.approx(ref[name]["psnr"], abs=1e-6)
    assert len(_csv(tmp_path / "eval_real")) == len(SIZES)
    grids = [Image.open(p) for p in sorted((tmp_path / "eval_real" / "visuals").glob("*.png"))]
    assert len(grids) == len(SIZES)  # every pair has its grid, stacked in the contact sheet
    sheet = Image.open(tmp_path / "eval_real" / "contact_sheet.jpg")
    assert sheet.size == (max(g.size[0] for g in grids), sum(g.size[1] for g in grids))
    assert "model beats every baseline" in stdout or "model does NOT beat" in stdout
    assert finish.evaluate_real_pairs(tmp_path / "w2", ckpt, tmp_path / "none") is None
    assert "skipping the real-photo check" in capsys.readouterr().out
