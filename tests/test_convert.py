"""Checkpoint conversion: accepted layouts, strictness, safety, the CLI and load_model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import jax
import numpy as np
import pytest
import torch
import torch_megadepth as tm

from bokeh_jax import load_model
from bokeh_jax.cli import run_main
from bokeh_jax.network.convert import ConversionError, convert_state_dict, main, unwrap_state_dict
from bokeh_jax.network.heads import depth_prior_head

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ref_model():
    torch.manual_seed(1)
    return tm.randomize_bn(tm.megadepth(), seed=1).eval()


@pytest.fixture(scope="module")
def release_pth(ref_model, tmp_path_factory):
    """The release layout: `module.` prefix, no num_batches_tracked, old serialisation."""
    path = tmp_path_factory.mktemp("src") / "best_generalization_net_G.pth"
    sd = tm.release_state_dict(ref_model)
    assert len(sd) == 624
    torch.save(sd, path, _use_new_zipfile_serialization=False)
    return path


@pytest.fixture(scope="module")
def converted_dir(release_pth, tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt") / "megadepth"
    assert run_main(main, [str(release_pth), str(out), "--head-init", "random"]) == 0
    return out


def _flat(tree):
    return {jax.tree_util.keystr(k): np.asarray(v)
            for k, v in jax.tree_util.tree_leaves_with_path(tree)}


def test_all_layouts_convert_identically(ref_model):
    base = _flat(convert_state_dict(unwrap_state_dict(tm.release_state_dict(ref_model))))
    variants = {
        "with counters (779)": tm.release_state_dict(ref_model, num_batches_tracked=True),
        "no prefix": tm.release_state_dict(ref_model, prefix=""),
        "under state_dict": {"state_dict": tm.release_state_dict(ref_model), "epoch": 3},
        "under model": {"model": tm.release_state_dict(ref_model, prefix="")},
    }
    assert len(variants["with counters (779)"]) == 779
    for name, obj in variants.items():
        got = _flat(convert_state_dict(unwrap_state_dict(obj)))
        assert got.keys() == base.keys(), name
        for k in base:
            np.testing.assert_array_equal(got[k], base[k], err_msg=f"{name}: {k}")


def test_strict_errors_name_every_offending_key(ref_model):
    sd = tm.release_state_dict(ref_model)
    sd["module.extra.weight"] = torch.zeros(3)
    del sd["module.3.0.0.1.0.1.running_mean"]
    del sd["module.4.bias"]
    sd["module.3.0.1.0.3.3.weight"] = torch.zeros(16, 64, 9, 9)
    with pytest.raises(ConversionError) as err:
        convert_state_dict(unwrap_state_dict(sd))
    msg = str(err.value)
    for key in ("extra.weight", "3.0.0.1.0.1.running_mean", "4.bias",
                "3.0.1.0.3.3.weight (16, 64, 9, 9) (expected (16, 64, 11, 11))"):
        assert key in msg
    assert "1 unknown" in msg and "2 missing" in msg and "1 wrong shape" in msg


def test_conversion_values_follow_the_layout(ref_model):
    """Spot checks by hand: OIHW -> HWIO, and the fused 1x1 convs of one inception module."""
    v = convert_state_dict(unwrap_state_dict(tm.release_state_dict(ref_model)))
    sd = ref_model.state_dict()
    np.testing.assert_array_equal(v["params"]["trunk"]["conv0"]["kernel"][2, 5, 1, 7],
                                  sd["0.weight"][7, 1, 2, 5].numpy())
    inc = v["params"]["trunk"]["channels4"]["a1"]
    # Branch 2's 1x1 conv (32 outputs) sits after branch 0 (32) and branch 1 (32).
    np.testing.assert_array_equal(inc["reduce"]["kernel"][:, 64 + 3],
                                  sd["3.0.0.1.2.0.weight"][3, :, 0, 0].numpy())
    stats = v["batch_stats"]["trunk"]["channels4"]["b0"]
    np.testing.assert_array_equal(stats["bn3"]["var"], sd["3.0.1.0.3.4.running_var"].numpy())


def test_cli_writes_checkpoint_and_metadata(converted_dir, release_pth):
    meta = json.loads((converted_dir / "bokeh_jax.json").read_text())
    assert meta["format"] == "bokeh_jax.checkpoint" and meta["format_version"] == 1
    assert meta["kernel_sizes"] == [25, 45, 75] and meta["head_init"] == "random"
    import hashlib
    assert meta["source"]["sha256"] == hashlib.sha256(release_pth.read_bytes()).hexdigest()
    assert (converted_dir / "variables").is_dir()
    assert not [p for p in converted_dir.parent.iterdir() if ".tmp-" in p.name]
    # Created with the user's umask like any output (mkdtemp alone would make it 0700).
    umask = os.umask(0o022)
    os.umask(umask)
    for p in (converted_dir, converted_dir / "variables", converted_dir / "bokeh_jax.json"):
        assert p.stat().st_mode & 0o777 == (0o777 if p.is_dir() else 0o666) & ~umask, p


def test_loaded_model_predicts_reference_depth(converted_dir, ref_model):
    model = load_model(converted_dir)
    x = np.random.default_rng(2).random((1, 64, 96, 3), dtype=np.float32)
    with torch.no_grad():
        ref = ref_model(torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(np.asarray(model.predict_depth(x)), ref, atol=1e-4)
    w = np.asarray(model.weights(x))
    assert w.shape == (1, 64, 96, 4)
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="multiples of 16"):
        model.predict_depth(x[:, :60])


def test_refuses_non_empty_output_unless_force(release_pth, converted_dir, capsys):
    before = (converted_dir / "bokeh_jax.json").read_text()
    assert run_main(main, [str(release_pth), str(converted_dir)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (converted_dir / "bokeh_jax.json").read_text() == before
    assert run_main(main, [str(release_pth), str(converted_dir), "--force",
                           "--head-init", "random", "--kernels", "5,9"]) == 0
    assert json.loads((converted_dir / "bokeh_jax.json").read_text())["kernel_sizes"] == [5, 9]
    run_main(main, [str(release_pth), str(converted_dir), "--force", "--head-init", "random"])


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _bad_files(tmp: Path, good: Path) -> dict[str, Path]:
    files = {"text": tmp / "notes.pth", "truncated": tmp / "truncated.pth",
             "code": tmp / "evil.pth", "empty": tmp / "empty.pth"}
    files["text"].write_text("this is not a checkpoint\n")
    data = (good.parent / "zip.pth")
    torch.save({"a": torch.zeros(2)}, data)
    files["truncated"].write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    evil = _Evil()
    evil.marker = tmp / "PWNED"
    torch.save({"weight": evil}, files["code"])
    files["empty"].write_bytes(b"")
    return files


def test_bad_files_fail_with_one_line_and_run_no_code(tmp_path, release_pth, capsys):
    files = _bad_files(tmp_path, release_pth)
    assert zipfile.is_zipfile(files["code"])
    for name, path in files.items():
        assert run_main(main, [str(path), str(tmp_path / f"out_{name}")]) == 2, name
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and path.name in lines[0]
        assert not (tmp_path / f"out_{name}").exists()
    # The real command, end to end: exit code 2, one line, no traceback, no code run.
    proc = subprocess.run([sys.executable, "-m", "bokeh_jax.convert", str(files["code"]),
                           str(tmp_path / "out")], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "PWNED").exists()


def test_missing_file_and_wrong_state_dict(tmp_path, capsys):
    assert run_main(main, [str(tmp_path / "nope.pth"), str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert run_main(main, [str(tmp_path), str(tmp_path / "o")]) == 2
    assert "is a folder, not a .pth file" in capsys.readouterr().err
    other = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, other)
    assert run_main(main, [str(other), str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "4.weight" in err and not (tmp_path / "o").exists()


def test_bokeh_model_source_becomes_weight_head(tmp_path):
    torch.manual_seed(3)
    bokeh = tm.randomize_bn(tm.megadepth(out_channels=3), seed=3).eval()
    src = tmp_path / "bokeh.pth"
    torch.save({"state_dict": tm.release_state_dict(bokeh)}, src)
    assert run_main(main, [str(src), str(tmp_path / "bad")]) == 2  # 3 channels vs 25,45,75
    out = tmp_path / "ok"
    assert run_main(main, [str(src), str(out), "--kernels", "25,45"]) == 0
    model = load_model(out)
    assert model.kernel_sizes == (25, 45) and not model.has_depth_head
    x = np.random.default_rng(4).random((1, 32, 48, 3), dtype=np.float32)
    with torch.no_grad():
        logits = bokeh(torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    np.testing.assert_allclose(np.asarray(model.weights(x)),
                               torch.softmax(logits, -1).numpy(), atol=1e-4)
    with pytest.raises(ValueError, match="no depth head"):
        model.predict_depth(x)


def test_depth_prior_head_is_monotone_on_a_depth_ramp():
    """Synthetic features whose depth head output is a ramp: weights shift near -> far."""
    rng = np.random.default_rng(5)
    dk, db = rng.normal(size=(3, 3, 64, 1)).astype(np.float32), np.float32([0.3])
    head = depth_prior_head(dk, db, 3, lo=-1.0, hi=2.0)
    # Features constant over a 3x3 patch: a conv reduces to the centre sum of its taps.
    u = rng.normal(size=64)
    a = dk[..., 0].sum((0, 1)) @ u
    ramp = np.linspace(-3.0, 4.0, 200)
    f = ramp[:, None] / a * u  # depth = ramp + bias
    depth = f @ dk[..., 0].sum((0, 1)) + db[0]
    logits = f @ head["kernel"].sum((0, 1)) + head["bias"]
    w = np.exp(logits - logits.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    np.testing.assert_allclose(depth, ramp + 0.3, atol=1e-4)
    expected_index = w @ np.arange(4)
    assert np.all(np.diff(expected_index) > 0)
    assert np.all(np.diff(w[:, 0]) <= 1e-7) and np.all(np.diff(w[:, 3]) >= -1e-7)
    assert w[0, 0] > 0.99 and w[-1, 3] > 0.99
    # Channel i wins around the centre of its interval of [lo, hi] (centres -1, 0, 1, 2).
    for i, centre in enumerate((-1.0, 0.0, 1.0, 2.0)):
        assert np.argmax(w[np.argmin(np.abs(depth - centre))]) == i


def test_depth_prior_on_converted_reference(release_pth, tmp_path):
    out = tmp_path / "prior"
    assert run_main(main, [str(release_pth), str(out)]) == 0
    model = load_model(out)
    meta = model.metadata
    assert meta["head_init"] == "depth-prior"
    lo, hi = meta["depth_prior"]["log_depth_lo"], meta["depth_prior"]["log_depth_hi"]
    assert lo < hi
    x = np.random.default_rng(6).random((1, 64, 96, 3), dtype=np.float32)
    d = np.asarray(model.predict_depth(x)).ravel()
    w = np.asarray(model.weights(x)).reshape(-1, 4)
    order = np.argsort(d)
    e = (w @ np.arange(4))[order]
    assert np.all(np.diff(e) >= -1e-4), "expected blur index must grow with log-depth"
    assert e[-1] - e[0] > 0.1


def test_unwritable_output_is_refused_before_converting(release_pth, capsys):
    """/proc takes no new files, even for root: refused before the checkpoint is read."""
    assert run_main(main, [str(release_pth), "/proc/bokeh_jax_o13"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "/proc: cannot write there" in err
