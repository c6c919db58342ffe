"""Multi-process training on JAX's distributed runtime, as CPU processes on one machine.

2 processes x 1 CPU device (gloo collectives) train the same parameters as 1 process with
2 fake CPU devices on the same global batches; a run killed after a checkpoint resumes to
the same result; a process that never joins ends the run with one line, not a hang; the
launcher prefixes output and stops every process when one fails. Every run is the network
at 32x48 with kernels 5/9 and one hourglass level (tests/test_train.py's tiny config), 3 steps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import grain
import numpy as np
import pytest
from conftest import host_leaves

from bokeh_jax.data import pipeline
from bokeh_jax.network import checkpoint as model_io

REPO = Path(__file__).resolve().parents[1]
# tests/test_train.py's tiny config, as train.py flags; 3 steps, a checkpoint after each.
TINY = ["--config", "demo", "--config.phases=(1,)", "--config.synthetic.height=32",
        "--config.synthetic.width=48", "--config.synthetic.num_train=16",
        "--config.synthetic.num_val=4", "--config.kernel_sizes=(5, 9)",
        "--config.hourglass_levels=1",
        "--config.phase1.resolution=(32, 48)", "--config.phase1.blend_resolution=()",
        "--config.phase1.global_batch_size=4",
        "--config.phase1.num_steps=3", "--config.phase1.checkpoint_every=1",
        "--config.phase1.eval_every=10", "--config.phase1.lr_start=1e-3",
        "--config.phase1.lr_end=1e-4", "--config.val_images=1", "--config.log_every=1",
        "--config.eval_at_end=False", "--config.render_at_end=False"]
TIMEOUT = ["--distributed_timeout", "60"]


def _env(devices: int = 1) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    return env


def train_py(workdir: Path, data_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "train.py", *TINY, f"--config.data_dir={data_dir}",
            "--workdir", str(workdir), *extra]


def launch(n: int, command: list[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bokeh_jax.launch", "-n", str(n),
                             "--grace-period", "2", "--", *command],
                            cwd=REPO, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def _state_params(step_dir: Path) -> list[np.ndarray]:
    """The parameters of a train-state checkpoint (orbax), as a flat list."""
    import orbax.checkpoint as ocp

    with ocp.StandardCheckpointer() as ckpt:
        state = ckpt.restore(step_dir / "state")
    return host_leaves(state["params"])


KILL_AT_3 = """
import os, signal, sys
sys.argv[0] = "train.py"
from bokeh_jax.data import pipeline
make = pipeline.make_train_loader

class KillAt3:
    # Process 1 dies (SIGKILL: no cleanup at all) taking batch 3, after checkpoint 2.
    def __init__(self, loader):
        self.loader, self.n = loader, 0
    def __iter__(self):
        return self
    def __next__(self):
        self.n += 1
        if self.n == 3 and sys.argv[sys.argv.index("--process_id") + 1] == "1":
            os.kill(os.getpid(), signal.SIGKILL)
        return next(self.loader)
    def __getattr__(self, name):
        return getattr(self.loader, name)

pipeline.make_train_loader = lambda *a, **k: KillAt3(make(*a, **k))
from bokeh_jax.cli import run_main
from bokeh_jax.train.cli import main
sys.exit(run_main(lambda argv: main(argv, prog="train.py"), sys.argv[1:]))
"""


@pytest.mark.slow
def test_two_processes_train_as_one_with_two_devices_and_resume_after_a_kill(tmp_path):
    """2 processes x 1 device, killed after checkpoint 2 and launched again, against one
    process with 2 devices, uninterrupted: the same parameters after step 2 (the killed
    run's checkpoint) and after step 3 (the resumed run's result)."""
    data, two, one = tmp_path / "tfds", tmp_path / "two", tmp_path / "one"
    command = train_py(two, data, *TIMEOUT)
    # The reference runs alongside, on its own build of the same pairs (the generator is
    # deterministic by seed): the runs overlap their start-up and their waits.
    logs = [open(tmp_path / f"single.{k}", "w+") for k in ("out", "err")]
    single = subprocess.Popen(train_py(one, tmp_path / "tfds_one"), cwd=REPO,
                              env=_env(devices=2), stdout=logs[0], stderr=logs[1], text=True)
    try:
        proc = launch(2, [sys.executable, "-c", KILL_AT_3, *command[2:]])
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 128 + 9, out[-2000:] + err[-3000:]
        assert "launch: process 1 was killed by SIGKILL; stopping the other 1 process(es)" in err
        assert "batch 4 on 2 CPU device(s) (2 processes x 1)" in out
        # Process 0 alone built the dataset (process 1 waited for it) and printed the run.
        lines = out.splitlines()
        assert any(line.startswith("[0] building synthetic_bokeh/") for line in lines), out[-2000:]
        assert not any(line.startswith("[1] ") and ("building" in line or "phase 1" in line)
                       for line in lines), out[-2000:]
        checkpoints = two / "phase1" / "checkpoints"
        assert sorted(p.name for p in checkpoints.iterdir() if p.name.isdigit()) == ["1", "2"]
        assert not (two / "phase1" / "final").exists()

        proc = launch(2, command)
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, out[-2000:] + err[-3000:]
        assert "resumed at step 2 from" in out
        single.wait(timeout=600)
        single_out, single_err = ((tmp_path / f"single.{k}").read_text() for k in ("out", "err"))
        assert single.returncode == 0, single_out[-3000:] + single_err[-3000:]
        assert "batch 4 on 2 CPU device(s);" in single_out
    finally:
        if single.poll() is None:  # a failed assertion above: stop the reference too
            single.kill()
            single.wait()
        for f in logs:
            f.close()

    # (Checkpoint 2 of the killed run is kept: keep_checkpoints=2 pruned step 1 only.)
    step2_two = _state_params(checkpoints / "2")
    step2_one = _state_params(one / "phase1" / "checkpoints" / "2")
    for a, b in zip(step2_two, step2_one, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    final_two, final_one = (host_leaves(model_io.load_variables(run / "phase1" / "final")[0]
                                        ["params"]) for run in (two, one))
    for a, b in zip(final_two, final_one, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    # Step 3 moved the weights well beyond the tolerance: the comparison can fail.
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(final_one, step2_one,
                                                             strict=True)) > 1e-4
    # Process 0 alone wrote the logs: every step once, the same values as the single run.
    records = [json.loads(line) for line in
               (two / "phase1" / "metrics.jsonl").read_text().splitlines()]
    assert [(r["kind"], r["step"]) for r in records] == [
        ("train", 1), ("train", 2), ("train", 3), ("val", 3)]
    want = [json.loads(line) for line in
            (one / "phase1" / "metrics.jsonl").read_text().splitlines()]
    for got, ref in zip(records, want, strict=True):
        key = "loss" if got["kind"] == "train" else "psnr"
        assert got[key] == pytest.approx(ref[key], rel=1e-4)
    assert sorted(p.name for p in checkpoints.iterdir() if p.name.isdigit()) == ["2", "3"]


def test_a_process_that_never_joins_ends_the_run_with_one_line(tmp_path):
    """Process 0 of 2 alone: it gives up after --distributed_timeout with one line."""
    from bokeh_jax.launch import free_port

    address = f"127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    proc = subprocess.run(
        train_py(tmp_path / "w", tmp_path / "tfds", "--coordinator_address", address,
                 "--num_processes", "2", "--process_id", "0", "--distributed_timeout", "3"),
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert lines == [lines[0]] and (f"not every one of the 2 processes joined {address} "
                                    "within 3 s (--distributed_timeout)") in lines[0], proc.stderr
    assert "Check failure stack trace" not in proc.stderr
    assert time.monotonic() - t0 < 60
    assert not (tmp_path / "w").exists()


def test_bad_distributed_flags_give_one_line(tmp_path):
    from bokeh_jax.errors import UserError
    from bokeh_jax.train import multihost

    proc = subprocess.run(train_py(tmp_path / "w", tmp_path / "tfds", "--num_processes", "2"),
                          cwd=REPO, env=_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: --coordinator_address, --process_id missing: a multi-process run needs"), lines
    # Checked before JAX is touched (in this process it is already running single-process).
    for kwargs, expected in [
            (dict(coordinator_address="nohost", num_processes=2, process_id=0),
             "--coordinator_address='nohost': give HOST:PORT"),
            (dict(coordinator_address="127.0.0.1:9", num_processes=2, process_id=2),
             "--process_id=2: must be in 0..1"),
            (dict(num_processes=0), "--num_processes=0: must be >= 1"),
            (dict(timeout_s=0), "--distributed_timeout=0: give a number of seconds >= 1")]:
        with pytest.raises(UserError, match=expected.replace(".", r"\.")):
            multihost.connect(**kwargs)


CHILD = """
import sys, time
me = sys.argv[sys.argv.index("--process_id") + 1]
print(f"hello from {me} of", sys.argv[sys.argv.index("--num_processes") + 1], flush=True)
print("a warning", file=sys.stderr, flush=True)
if me == "1":
    sys.exit(3)
time.sleep(120)
"""


def test_launcher_prefixes_output_and_stops_everyone_when_one_process_fails():
    t0 = time.monotonic()
    proc = launch(2, [sys.executable, "-c", CHILD])
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3
    assert time.monotonic() - t0 < 30  # process 0 (sleeping 120 s) was stopped
    assert "[0] hello from 0 of 2" in out.splitlines()
    assert "[1] hello from 1 of 2" in out.splitlines()
    assert "[0] a warning" in err.splitlines() and "[1] a warning" in err.splitlines()
    assert "launch: process 1 exited with status 3; stopping the other 1 process(es)" in err


def test_each_process_reads_its_block_of_every_global_batch(tmp_path):
    """Shard i of n gets block i of each global batch: concatenated, the shards are the
    unsharded batches (over epochs too); a batch the devices cannot share is refused."""
    from bokeh_jax.data.prepare import prepare_synthetic
    from bokeh_jax.errors import UserError

    ds = prepare_synthetic(data_dir=tmp_path, num_train=10, num_val=2, height=32, width=48,
                           seed=0, log=lambda *a: None, progress=False)
    kw = dict(global_batch_size=4, resolution=(32, 48), seed=3)
    whole = pipeline.make_train_loader(ds, "train", num_devices=2, **kw)
    shards = [pipeline.make_train_loader(ds, "train", num_devices=1,
                                         shard_options=grain.sharding.ShardOptions(i, 2), **kw)
              for i in range(2)]
    for _ in range(5):  # 2 batches per epoch: crosses two epoch boundaries
        want = next(whole)
        got = [next(s) for s in shards]
        for k in ("id", "original", "bokeh"):
            np.testing.assert_array_equal(np.concatenate([g[k] for g in got]), want[k])
    with pytest.raises(UserError, match=r"global batch size 6 is not divisible by the 4 "
                                        r"devices \(2 processes x 2\): use a multiple of 4"):
        pipeline.make_train_loader(ds, "train", num_devices=2, global_batch_size=6,
                                   resolution=(32, 48), seed=0,
                                   shard_options=grain.sharding.ShardOptions(0, 2))


def test_launcher_never_splits_a_line_between_processes():
    """A child's line that arrives in two reads is written whole: another process's line
    printed in between comes before or after it, never inside it."""
    import io
    import threading

    from bokeh_jax import launch

    class Sink(io.BytesIO):
        def flush(self):
            pass

    sink, lock = Sink(), threading.Lock()
    (ra, wa), (rb, wb) = os.pipe(), os.pipe()
    pa = launch._Prefixer(os.fdopen(ra, "rb"), sink, b"[0] ", lock)
    pb = launch._Prefixer(os.fdopen(rb, "rb"), sink, b"[1] ", lock)
    os.write(wa, b"hello from 0 of")
    time.sleep(0.2)
    os.write(wb, b"hello from 1 of 2\n")
    time.sleep(0.2)
    os.write(wa, b" 2\nno end")
    os.close(wa)
    os.close(wb)
    pa.thread.join(5)
    pb.thread.join(5)
    assert sink.getvalue().decode().splitlines() == [
        "[1] hello from 1 of 2", "[0] hello from 0 of 2", "[0] no end"]
