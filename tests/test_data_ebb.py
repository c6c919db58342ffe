"""EBB! builder: layout, splits, checks, unchanged bytes, re-runs, CLI errors, real samples."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bokeh_jax.cli import run_main
from bokeh_jax.data import catalog, pipeline, prepare
from bokeh_jax.errors import UserError

TRAIN_IDS = (0, 17, 4399)
VAL_IDS = (4400, 4401, 4693)


def _jpeg(seed: int, size=(40, 24)) -> bytes:
    rng = np.random.default_rng(seed)
    img = (rng.random((size[1], size[0], 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="jpeg", quality=90)
    return buf.getvalue()


def make_ebb_folder(root: Path, ids=TRAIN_IDS + VAL_IDS) -> Path:
    """A miniature EBB! in the real layout: Training/{original,bokeh}/N.jpg."""
    for side in ("original", "bokeh"):
        (root / "Training" / side).mkdir(parents=True, exist_ok=True)
    for i in ids:
        (root / "Training" / "original" / f"{i}.jpg").write_bytes(_jpeg(2 * i))
        (root / "Training" / "bokeh" / f"{i}.jpg").write_bytes(_jpeg(2 * i + 1))
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    src = make_ebb_folder(tmp_path_factory.mktemp("ebb_src"))
    out = tmp_path_factory.mktemp("tfds")
    ds = prepare.prepare_ebb(src, data_dir=out, progress=False, log=lambda *a: None)
    return src, out, ds


def test_splits_ids_and_unchanged_bytes(built):
    src, out, ds = built
    assert ds.name == "ebb" and ds.splits == {"train": 3, "val294": 3}
    builder = catalog.load_builder("ebb", out)
    for split, ids in (("train", TRAIN_IDS), ("val294", VAL_IDS)):
        raw = pipeline._open("ebb", split, out, extras=True)[0]
        assert [int(r["id"]) for r in raw] == list(ids)  # id order
        for r in raw:
            for side in ("original", "bokeh"):
                path = src / "Training" / side / f"{int(r['id'])}.jpg"
                assert r[side] == path.read_bytes()
    assert builder.info.features["original"].encoding_format == "jpeg"


def test_rerun_is_a_noop(built, tmp_path):
    _, out, _ = built
    lines = []
    # The folder does not even exist: a built dataset is not looked at again.
    ds = prepare.prepare_ebb(tmp_path / "gone", data_dir=out, log=lines.append)
    assert ds.splits == {"train": 3, "val294": 3}
    assert "already built" in lines[0]


def _bad_folder(root: Path) -> Path:
    make_ebb_folder(root, ids=(1, 2, 3, 4, 4500))
    t = root / "Training"
    (t / "bokeh" / "2.jpg").unlink()  # missing partner
    data = (t / "original" / "3.jpg").read_bytes()
    (t / "original" / "3.jpg").write_bytes(data[: len(data) // 2])  # truncated
    (t / "bokeh" / "4.jpg").write_bytes(_jpeg(99, size=(48, 24)))  # size mismatch
    return root


def test_bad_files_are_all_named_and_nothing_written(tmp_path):
    src, out = _bad_folder(tmp_path / "src"), tmp_path / "out"
    with pytest.raises(UserError) as e:
        prepare.prepare_ebb(src, data_dir=out, progress=False, log=lambda *a: None)
    msg = str(e.value)
    assert msg.startswith("3 bad file(s)") and "--skip-bad" in msg
    for name in ("original/2.jpg", "original/3.jpg", "bokeh/4.jpg"):
        assert name in msg
    assert not (out / "ebb").exists()


def test_skip_bad_builds_the_rest(tmp_path):
    src, out = _bad_folder(tmp_path / "src"), tmp_path / "out"
    lines = []
    ds = prepare.prepare_ebb(src, data_dir=out, skip_bad=True, progress=False, log=lines.append)
    assert ds.splits == {"train": 1, "val294": 1}
    assert [e["id"] for e in pipeline.eval_examples("ebb", "train", data_dir=out)] == [1]
    assert lines[0].startswith("skipping 3 bad file(s)")


@pytest.mark.parametrize("case", ["missing", "empty", "wrong"])
def test_cli_folder_errors_are_one_line(tmp_path, capsys, case):
    folder = tmp_path / "in"
    if case == "empty":
        (folder / "Training" / "original").mkdir(parents=True)
        (folder / "Training" / "bokeh").mkdir()
    elif case == "wrong":
        (folder / "photos").mkdir(parents=True)
    code = run_main(prepare.main, ["ebb", "--manual_dir", str(folder),
                                   "--data_dir", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0
    assert str(folder) in err and "Training/original/N.jpg" in err


def test_real_samples(shared_data, tmp_path):
    """The 6 real pairs: 2977-2979 in train, 4545-4547 in val294, pixels as OpenCV decodes."""
    cv2 = pytest.importorskip("cv2")
    src = shared_data / "ebb_samples"
    ds = prepare.prepare_ebb(src, data_dir=tmp_path, progress=False, log=lambda *a: None)
    assert ds.splits == {"train": 3, "val294": 3}
    for split, ids in (("train", [2977, 2978, 2979]), ("val294", [4545, 4546, 4547])):
        examples = pipeline.eval_examples("ebb", split, data_dir=tmp_path)
        assert len(examples) == 3
        ex = examples[0]
        assert [e["id"] for e in (examples[i] for i in range(3))] == ids
        for side in ("original", "bokeh"):
            path = src / "Training" / side / f"{ids[0]}.jpg"
            ref = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
            assert ex[side].shape == (1024, 1536, 3) and ex[side].dtype == np.float32
            np.testing.assert_array_equal(ex[side], ref.astype(np.float32) / 255.0)
