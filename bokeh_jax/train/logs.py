"""Training logs: a JSON-lines file, TensorBoard events (no TensorFlow), curve plots."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from bokeh_jax.files import write_text
from bokeh_jax.io.photos import write_image


class RunLog:
    """Writes every record to ``metrics.jsonl`` and TensorBoard event files in ``log_dir``.

    Records are {"phase", "step", "kind" ("train"/"val"), metric: value, ...}. TensorBoard
    files come from tensorboardX (pure Python protobuf), so no TensorFlow is needed.
    """

    def __init__(self, log_dir: str | Path, phase: int, resumed_at: int | None = None):
        """``resumed_at``: the step of the checkpoint a resumed run starts from; records
        written after it (by the run that stopped) are dropped, so the log of a resumed run
        equals the log of an uninterrupted one."""
        from tensorboardX import SummaryWriter

        self.dir = Path(log_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.phase = phase
        path = self.dir / "metrics.jsonl"
        if resumed_at is not None and path.is_file():
            kept = [r for r in read_records(path) if r.get("step", 0) <= resumed_at]
            write_text(path, "".join(json.dumps(r) + "\n" for r in kept))
        self._jsonl = open(path, "a", buffering=1)
        self._tb = SummaryWriter(str(self.dir / "tensorboard"), flush_secs=30)

    def write(self, kind: str, step: int, values: dict[str, float]) -> None:
        clean = {k: float(v) for k, v in values.items()}
        record = {"phase": self.phase, "step": int(step), "kind": kind, **clean}
        self._jsonl.write(json.dumps(record) + "\n")
        for k, v in clean.items():
            if math.isfinite(v):
                self._tb.add_scalar(f"{kind}/{k}", v, int(step))

    def images(self, step: int, images: dict[str, np.ndarray]) -> None:
        """uint8 (H,W,3) images, e.g. validation renders next to their targets."""
        for name, img in images.items():
            self._tb.add_image(f"val/{name}", np.asarray(img), int(step), dataformats="HWC")

    def close(self) -> None:
        self._tb.close()
        self._jsonl.close()


def read_records(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:  # a line cut short by a crash; skip it
            continue
    return out


def plot_curves(jsonl: str | Path, png: str | Path, title: str = "") -> Path | None:
    """Training loss and validation PSNR/SSIM against steps, written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_records(jsonl)
    # A resumed run re-logs steps after its last checkpoint: keep the latest of each step.
    train = {r["step"]: r for r in records if r["kind"] == "train"}
    val = {r["step"]: r for r in records if r["kind"] == "val"}
    if not train and not val:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    if train:
        steps = sorted(train)
        axes[0].plot(steps, [train[s]["loss"] for s in steps], lw=1)
        axes[0].set_title("training loss")
    for ax, key in zip(axes[1:], ("psnr", "ssim"), strict=True):
        steps = sorted(s for s in val if key in val[s])
        if steps:
            ax.plot(steps, [val[s][key] for s in steps], marker="o", ms=3)
        ax.set_title(f"validation {key.upper()}")
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    plt.close(fig)
    return write_image(png, rgba[..., :3].copy())
