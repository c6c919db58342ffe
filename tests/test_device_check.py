"""bench/device_check.py: its stored OpenCV references, and a whole run in small mode on CPU.

On a GPU session the script runs the same code at the real shapes; here it must run end to
end, pass its own checks and write a complete JSON and Markdown report.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import device_check  # noqa: E402


def test_stored_references_are_opencv_s_blurs():
    """The references a machine without cv2 falls back to equal cv2's results here."""
    cv2 = pytest.importorskip("cv2")
    with np.load(device_check.REFERENCES) as data:
        stored = {k: data[k] for k in data.files}
    image = device_check.reference_image()
    np.testing.assert_array_equal(stored.pop("image"), image)
    live = device_check.reference_blurs(image)
    assert sorted(stored) == sorted(live)
    for name, want in live.items():
        np.testing.assert_array_equal(stored[name], want, err_msg=name)
    # Independent of the helper: one Gaussian straight from cv2.
    np.testing.assert_array_equal(stored["gaussian_25"], cv2.GaussianBlur(image, (25, 25), 0))


@pytest.mark.slow
def test_small_run_on_cpu_passes_and_reports_every_section(tmp_path, capsys):
    code = device_check.main(["--out", str(tmp_path), "--repeats", "2"])
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "device_check.json").read_text())
    assert code == 0, out
    assert report["small"] and not report["errors"]
    assert set(report["checks"]) == {"blur_vs_opencv", "network_device_vs_cpu",
                                     "pmap_train_step"}
    assert all(c["passed"] for c in report["checks"].values())
    assert report["checks"]["pmap_train_step"]["state_signature_unchanged"]
    timings = report["timings"]
    for section in ("inference", "training", "eval"):
        for dtype in ("float32", "bfloat16"):
            assert all(v > 0 for v in timings[section][dtype].values()), (section, dtype)
    blur = timings["blur"]
    assert set(blur["gaussian_ms"]) == {"banded", "direct", "fft", "conv"}
    assert blur["fastest_gaussian"] in blur["gaussian_ms"]
    table = (tmp_path / "device_check.md").read_text()
    for row in ("HD inference end to end", "training, images/s", "evaluation, images/s",
                "| banded |", "goal <= 3 ms"):
        assert row in table, row
    assert "all checks passed" in out


def test_references_are_used_when_cv2_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 -> ImportError
    image, refs, source = device_check.load_references()
    assert source.startswith("stored") and set(refs) >= {"gaussian_25", "disk_9"}
    assert image.shape == device_check.REF_SHAPE
