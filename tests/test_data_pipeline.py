"""grain pipeline: shapes, resizing, paired flips, epochs, resume, workers, errors."""

from __future__ import annotations

import io

import grain
import numpy as np
import pytest
from PIL import Image

from bokeh_jax.data import pipeline, prepare
from bokeh_jax.errors import UserError

SIZE = (24, 36)  # native size of the synthetic fixture


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """22 train pairs at 24x36: 5 batches of 4 per epoch, remainder 2."""
    return prepare.prepare_synthetic(data_dir=tmp_path_factory.mktemp("tfds"), num_train=22,
                                     num_val=2, height=SIZE[0], width=SIZE[1], seed=1,
                                     workers=1, log=lambda *a: None)


@pytest.fixture(scope="module")
def ebb_jpegs(tmp_path_factory):
    """EBB!-layout JPEGs at 96x64 (W x H) with smooth content, built as `ebb`."""
    src = tmp_path_factory.mktemp("ebb_src")
    rng = np.random.default_rng(0)
    for side in ("original", "bokeh"):
        (src / "Training" / side).mkdir(parents=True)
    for i in (1, 2, 3, 4, 4400, 4401):
        for side in ("original", "bokeh"):
            small = rng.random((8, 12, 3)) * 255
            img = Image.fromarray(small.astype(np.uint8)).resize((96, 64), Image.BICUBIC)
            buf = io.BytesIO()
            img.save(buf, format="jpeg", quality=95)
            (src / "Training" / side / f"{i}.jpg").write_bytes(buf.getvalue())
    out = tmp_path_factory.mktemp("tfds_ebb")
    prepare.prepare_ebb(src, data_dir=out, progress=False, log=lambda *a: None)
    return src, out


def _loader(ds, **kw):
    args = {"global_batch_size": 4, "resolution": SIZE, "num_devices": 2, "seed": 7}
    args.update(kw)
    return pipeline.make_train_loader(ds, "train", **args)


def _flip_of(img: np.ndarray, ref: np.ndarray) -> tuple[bool, bool]:
    """Which (horizontal, vertical) flip turns ``ref`` into ``img`` (exactly)."""
    for h in (False, True):
        for v in (False, True):
            r = ref[:, ::-1] if h else ref
            r = r[::-1] if v else r
            if np.array_equal(img, r):
                return h, v
    raise AssertionError("not a flip of the reference")


def test_batches_shapes_and_paired_flips(synth):
    ref = {}
    for ex in pipeline.eval_examples(synth, "train"):
        ref[ex["id"]] = ex
    with _loader(synth) as loader:
        assert loader.steps_per_epoch == 5
        flips = set()
        for _ in range(5):  # one epoch
            b = next(loader)
            assert b["original"].shape == b["bokeh"].shape == (2, 2, *SIZE, 3)
            assert b["original"].dtype == np.float32 and b["id"].shape == (2, 2)
            assert 0.0 <= b["original"].min() and b["original"].max() <= 1.0
            for d in range(2):
                for j in range(2):
                    ex = ref[int(b["id"][d, j])]
                    f = _flip_of(b["original"][d, j], ex["original"])
                    assert _flip_of(b["bokeh"][d, j], ex["bokeh"]) == f  # same flip
                    flips.add(f)
    assert len(flips) >= 3  # flips do happen, in both directions


def test_focus_labels_follow_the_depth_and_the_flips(synth):
    ref = {ex["id"]: ex for ex in pipeline.eval_examples(synth, "train")}
    with _loader(synth, focus_labels=True) as loader:
        b = next(loader)
    assert b["focus"].shape == (2, 2, *SIZE) and b["focus"].dtype == np.float32
    for d in range(2):
        for j in range(2):
            ex = ref[int(b["id"][d, j])]
            h, v = _flip_of(b["original"][d, j], ex["original"])
            # By hand, from the thin lens: 1 within 2% of the focus in z_f/z, 0 beyond 50%.
            defocus = np.abs(ex["focus_depth"] / ex["depth"] - 1)
            want = np.where(defocus <= 0.02, 1.0, np.where(defocus >= 0.5, 0.0, -1.0))
            want = want[:, ::-1] if h else want
            want = want[::-1] if v else want
            np.testing.assert_array_equal(b["focus"][d, j], want)
            assert (want == 1).any() and (want == 0).any()  # a subject and a background


def test_epochs_reshuffle_and_drop_their_own_remainder(synth):
    with _loader(synth, num_epochs=2, flips=False) as loader:
        ids = [b["id"].ravel().tolist() for b in loader]
    assert len(ids) == 10
    first = [i for batch in ids[:5] for i in batch]
    second = [i for batch in ids[5:] for i in batch]
    assert len(set(first)) == len(set(second)) == 20  # no pair twice within an epoch
    assert first != second


def test_resume_gives_the_same_batches(synth, tmp_path):
    with _loader(synth) as a:
        for _ in range(4):
            next(a)
        state = a.get_state()
        # Through grain's orbax handler too (what a CheckpointManager would call).
        grain.checkpoint.CheckpointHandler().save(tmp_path, item=a)
        expected = [next(a) for _ in range(3)]  # crosses into the second epoch
    for restore in ("set_state", "handler"):
        with _loader(synth) as b:
            next(b)  # a fresh loader that already moved on
            if restore == "set_state":
                b.set_state(state)
            else:
                grain.checkpoint.CheckpointHandler().restore(tmp_path, item=b)
            got = [next(b) for _ in range(3)]
        for x, y in zip(expected, got, strict=True):
            for k in x:
                np.testing.assert_array_equal(x[k], y[k])


def test_worker_processes_give_the_same_batches(synth):
    with _loader(synth, num_workers=0) as a:
        expected = [next(a) for _ in range(3)]
    with _loader(synth, num_workers=2) as b:
        got = [next(b) for _ in range(3)]
        state = b.get_state()
    assert state == {"next_batch": 3}
    for x, y in zip(expected, got, strict=True):
        for k in x:
            np.testing.assert_array_equal(x[k], y[k])


def test_jpeg_resize_matches_an_independent_resize(ebb_jpegs):
    """Decoded at reduced scale and resized by Pillow vs OpenCV full decode + INTER_AREA."""
    cv2 = pytest.importorskip("cv2")
    src, out = ebb_jpegs
    with pipeline.make_train_loader("ebb", "train", data_dir=out, global_batch_size=4,
                                    resolution=(16, 24), num_devices=1, seed=0,
                                    flips=False) as loader:
        b = next(loader)
    assert b["original"].shape == (1, 4, 16, 24, 3)
    for j, pair_id in enumerate(b["id"][0]):
        for side in ("original", "bokeh"):
            raw = cv2.imread(str(src / "Training" / side / f"{pair_id}.jpg"))
            ref = cv2.resize(cv2.cvtColor(raw, cv2.COLOR_BGR2RGB), (24, 16),
                             interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
            assert np.abs(b[side][0, j] - ref).mean() < 0.02


def test_eval_examples_full_size_in_id_order(ebb_jpegs):
    _, out = ebb_jpegs
    val = pipeline.eval_examples("ebb", "val294", data_dir=out)
    assert len(val) == 2
    items = list(val)
    assert [e["id"] for e in items] == [4400, 4401]
    assert items[0]["original"].shape == (64, 96, 3) and "depth" not in items[0]
    with pytest.raises(IndexError):
        val[2]


def test_focus_labels_need_depth(ebb_jpegs):
    with pytest.raises(UserError, match="has no depth.*focus_loss_weight.*synthetic_bokeh"):
        pipeline.make_train_loader("ebb", "train", data_dir=ebb_jpegs[1], global_batch_size=2,
                                   resolution=(16, 24), num_devices=1, seed=0,
                                   focus_labels=True)


def test_errors_name_the_fix(synth, tmp_path):
    with pytest.raises(UserError, match="not divisible by the 4 devices"):
        _loader(synth, global_batch_size=6, num_devices=4)
    with pytest.raises(UserError, match="unknown split 'val294'.*available: train, validation"):
        pipeline.eval_examples(synth, "val294")
    with pytest.raises(UserError, match="fewer than one global batch"):
        _loader(synth, global_batch_size=24, num_devices=1)
    with pytest.raises(UserError) as e:
        pipeline.eval_examples("synthetic_bokeh/64x96_train10_val2_seed3", "train",
                               data_dir=tmp_path)
    assert ("python -m bokeh_jax.data.prepare synthetic_bokeh --height=64 --width=96 "
            "--num-train=10 --num-val=2 --seed=3 --data-dir") in str(e.value)
    with pytest.raises(UserError, match="prepare ebb --manual-dir"):
        _loader("ebb", data_dir=tmp_path)
    with pytest.raises(UserError, match="unknown dataset 'imagenet'"):
        _loader("imagenet", data_dir=tmp_path)
