"""Pairs read straight from a folder: order, pixels, and the errors for bad folders."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bokeh_jax.data.pairs_dir import iter_pairs
from bokeh_jax.errors import UserError


def _write(path, seed, size=(30, 20), fmt="png"):
    rng = np.random.default_rng(seed)
    img = (rng.random((size[1], size[0], 3)) * 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path, format=fmt)
    return img


def test_pairs_sorted_by_id_with_exact_pixels(tmp_path):
    imgs = {i: (_write(tmp_path / "original" / f"{i}.png", i),
                _write(tmp_path / "bokeh" / f"{i}.png", 100 + i)) for i in (10, 9, 100)}
    (tmp_path / "original" / "notes.txt").write_text("ignored")
    pairs = iter_pairs(tmp_path)
    assert len(pairs) == 3
    items = list(pairs)
    assert [e["id"] for e in items] == [9, 10, 100]
    for e in items:
        assert e["original"].dtype == np.float32 and e["original"].shape == (20, 30, 3)
        np.testing.assert_array_equal(e["original"], imgs[e["id"]][0] / np.float32(255))
        np.testing.assert_array_equal(e["bokeh"], imgs[e["id"]][1] / np.float32(255))


def test_ebb_layout_and_unpaired_files(tmp_path):
    base = tmp_path / "Training"
    for i in (1, 2):
        _write(base / "original" / f"{i}.jpg", i, fmt="jpeg")
    _write(base / "bokeh" / "1.jpg", 5, fmt="jpeg")
    _write(base / "bokeh" / "3.jpg", 6, fmt="jpeg")
    with pytest.raises(UserError) as e:
        iter_pairs(tmp_path)
    msg = str(e.value)
    assert msg.startswith("2 unpaired file(s)") and "\n" not in msg and ":;" not in msg
    assert "original/2.jpg" in msg and "bokeh/3.jpg" in msg and "--skip-unpaired" in msg
    assert [p["id"] for p in iter_pairs(tmp_path, skip_unpaired=True)] == [1]


def test_folder_errors(tmp_path):
    with pytest.raises(UserError, match="no such folder"):
        iter_pairs(tmp_path / "missing")
    with pytest.raises(UserError, match="no original/ and bokeh/ folders"):
        iter_pairs(tmp_path)
    (tmp_path / "Training" / "original").mkdir(parents=True)
    with pytest.raises(UserError, match="Training: has original/ but no bokeh/ folder"):
        iter_pairs(tmp_path)
    (tmp_path / "Training" / "original").rmdir()
    (tmp_path / "original").mkdir()
    (tmp_path / "bokeh").mkdir()
    with pytest.raises(UserError, match="no image pairs found"):
        iter_pairs(tmp_path)


def test_broken_files_fail_when_read(tmp_path):
    _write(tmp_path / "original" / "1.png", 1)
    _write(tmp_path / "bokeh" / "1.png", 2, size=(30, 22))
    _write(tmp_path / "original" / "2.jpg", 3, fmt="jpeg")
    data = (tmp_path / "original" / "2.jpg").read_bytes()
    (tmp_path / "original" / "2.jpg").write_bytes(data[: len(data) // 2])
    _write(tmp_path / "bokeh" / "2.jpg", 4, fmt="jpeg")
    pairs = iter_pairs(tmp_path)
    with pytest.raises(UserError, match=r"bokeh/1.png: size 30x22 differs"):
        pairs[0]
    with pytest.raises(UserError, match=r"original/2.jpg: unreadable or truncated"):
        pairs[1]
