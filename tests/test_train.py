"""Training: pmap == single device, the loss falls, resume equality, NaN stop, config errors.

Everything runs the network at 32x48 with kernels 5/9 and one hourglass level
(conftest.TINY_LEVELS) on a tiny synthetic dataset, so the compiled train step is small and
shared (persistent cache) across tests; starting from a MegaDepth .pth uses the whole one.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest
from conftest import TINY_LEVELS, host_leaves

from bokeh_jax.configs import common
from bokeh_jax.data import pipeline
from bokeh_jax.errors import UserError
from bokeh_jax.network import checkpoint as model_io
from bokeh_jax.train import inputs, trainer
from bokeh_jax.train.trainer import TrainingError, phase_config, train_and_evaluate

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from bokeh_jax.data.prepare import prepare_synthetic

    out = tmp_path_factory.mktemp("tfds")
    prepare_synthetic(data_dir=out, num_train=16, num_val=4, height=32, width=48, seed=0,
                      log=lambda *a: None)
    return out


def tiny_config(data_dir, **phase1):
    c = common.get_config()
    c.dataset = "synthetic_bokeh"
    c.data_dir = str(data_dir)
    c.synthetic.update(height=32, width=48, num_train=16, num_val=4, seed=0)
    c.val_split = "validation"
    c.num_workers = 0
    c.kernel_sizes = (5, 9)
    c.hourglass_levels = TINY_LEVELS  # the mechanics do not need the whole hourglass
    c.log_every = 5
    # The same phase settings in every test: the learning-rate schedule is compiled into the
    # step, so identical settings share one compiled train step (persistent cache).
    settings = dict(resolution=(32, 48), global_batch_size=4, num_steps=20, eval_every=10,
                    checkpoint_every=5, lr_start=1e-3, lr_end=1e-4)
    settings.update(phase1)
    c.phase1.update(settings)
    return c


def _params(folder: Path):
    variables, _ = model_io.load_variables(folder)
    return host_leaves(variables)


class Tampered:
    """Wraps the training loader: calls ``hook(n, batch)`` on the n-th batch (from 1)."""

    def __init__(self, loader, hook):
        self.loader, self.hook, self.n = loader, hook, 0

    def __iter__(self):
        return self

    def __next__(self):
        batch = next(self.loader)
        self.n += 1
        return self.hook(self.n, batch)

    def __getattr__(self, name):
        return getattr(self.loader, name)


def tamper(monkeypatch, hook):
    original = pipeline.make_train_loader
    monkeypatch.setattr(pipeline, "make_train_loader",
                        lambda *a, **k: Tampered(original(*a, **k), hook))
    return original


def _truncate_largest(folder: Path) -> None:
    biggest = max((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    with open(biggest, "r+b") as f:
        f.truncate(1000)


@pytest.mark.slow
def test_resume_after_interrupt_equals_uninterrupted_run(data_dir, tmp_path, monkeypatch,
                                                         capsys):
    config = tiny_config(data_dir)
    train_and_evaluate(config, tmp_path / "straight")

    # Same run, stopped by SIGTERM while step 7 runs: it saves after step 7 and exits.
    def sigterm_at_7(n, batch):
        if n == 7:
            os.kill(os.getpid(), signal.SIGTERM)
        return batch

    original = tamper(monkeypatch, sigterm_at_7)
    with pytest.raises(trainer.Interrupted, match="step 7.*same command to resume"):
        train_and_evaluate(config, tmp_path / "resumed")
    assert not (tmp_path / "resumed" / "phase1" / "final").exists()
    monkeypatch.setattr(pipeline, "make_train_loader", original)
    # Two copies of the interrupted run whose newest checkpoint (step 7) is damaged: a data
    # file cut short, the metadata deleted; a third with both checkpoints damaged.
    stopped = tmp_path / "resumed" / "phase1" / "checkpoints"
    assert sorted(int(p.name) for p in stopped.iterdir() if p.name.isdigit()) == [5, 7]
    for name in ("truncated", "no_metadata", "all_damaged"):
        shutil.copytree(tmp_path / "resumed", tmp_path / name)
    _truncate_largest(tmp_path / "truncated" / "phase1" / "checkpoints" / "7" / "state")
    (tmp_path / "no_metadata" / "phase1" / "checkpoints" / "7" / "state" / "_METADATA").unlink()
    for step in ("5", "7"):
        _truncate_largest(tmp_path / "all_damaged" / "phase1" / "checkpoints" / step / "state")
    train_and_evaluate(config, tmp_path / "resumed")
    train_and_evaluate(config, tmp_path / "truncated")
    # (The metadata case needs no full run: it resumes from step 5, then stops at once.)
    tamper(monkeypatch, lambda n, batch: os.kill(os.getpid(), signal.SIGTERM) or batch)
    with pytest.raises(trainer.Interrupted, match="step 6"):
        train_and_evaluate(config, tmp_path / "no_metadata")
    monkeypatch.setattr(pipeline, "make_train_loader", original)
    for name in ("truncated", "no_metadata"):
        assert (tmp_path / name / "phase1" / "damaged" / "7" / "state").is_dir()  # kept aside
    out, err = capsys.readouterr()
    assert err.count("the checkpoint at step 7 cannot be read (") == 2, err
    assert "Metadata file (named _METADATA) does not exist" in err
    assert out.count("resumed at step 5 from") == 2
    with pytest.raises(UserError, match="no checkpoint in .* can be read.*delete .*phase1"):
        train_and_evaluate(config, tmp_path / "all_damaged")

    def records(run):
        return [json.loads(line) for line in
                (tmp_path / run / "phase1" / "metrics.jsonl").read_text().splitlines()]

    for run in ("resumed", "truncated"):
        for a, b in zip(_params(tmp_path / "straight" / "phase1" / "final"),
                        _params(tmp_path / run / "phase1" / "final"), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
        # The log of a resumed run is the uninterrupted run's: no step twice, and the first
        # line after the resume averages the same steps.
        got, want = records(run), records("straight")
        assert [(r["kind"], r["step"]) for r in got] == [(r["kind"], r["step"]) for r in want]
        for g, w in zip(got, want, strict=True):
            assert g["loss" if g["kind"] == "train" else "psnr"] == pytest.approx(
                w["loss" if w["kind"] == "train" else "psnr"], rel=1e-4), (run, g, w)
    log = records("straight")
    assert [r["step"] for r in log if r["kind"] == "val"] == [10, 20]
    # The loss falls over the 20 steps (means over 5-step windows). The calibrated pairs'
    # targets carry an exposure gain no blend reproduces, so the loss has a floor and falls
    # by ~10-15% here, not more.
    losses = [r["loss"] for r in log if r["kind"] == "train"]
    assert len(losses) == 4 and losses[-1] < 0.95 * losses[0], losses
    assert min(losses[1:]) < 0.9 * losses[0], losses
    for name in ("best", "final"):
        meta = json.loads((tmp_path / "straight" / "phase1" / name / "bokeh_jax.json")
                          .read_text())
        assert meta["kind"] == "trained" and meta["kernel_sizes"] == [5, 9]
        assert meta["resolution"] == meta["blend_resolution"] == [32, 48]
        assert (meta["aperture"], meta["blades"], meta["rotation"]) == ("gaussian", 6, 0.0)
    assert (tmp_path / "straight" / "phase1" / "curves.png").is_file()
    events = list((tmp_path / "straight" / "phase1" / "tensorboard").glob("events.out.*"))
    assert events and b"input_render_target_weights" in events[0].read_bytes()
    # Running a finished phase again does nothing.
    assert train_and_evaluate(config, tmp_path / "straight").name == "best"


def test_the_train_step_is_traced_once_per_run_and_once_per_resume(data_dir, tmp_path,
                                                                  monkeypatch):
    """Steps 1, 2, 3 run one compiled program: a change in the state's dtypes, weak types,
    shardings or structure between steps would trace (and compile) the step again."""
    from bokeh_jax.train import placement

    traces = []
    real = placement.make_train_step

    def counting_step(*args, **kwargs):
        step = real(*args, **kwargs)

        def train_step(state, batch):  # Python runs this only when pmap traces it
            traces.append(1)
            return step(state, batch)

        return train_step

    monkeypatch.setattr(placement, "make_train_step", counting_step)

    def sigterm_at_3(n, batch):
        if n == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return batch

    original = tamper(monkeypatch, sigterm_at_3)
    config = tiny_config(data_dir)  # the other tests' phase: its program is in the cache
    placement.parallel_step.cache_clear()  # as in a new process
    with pytest.raises(trainer.Interrupted, match="at step 3"):
        train_and_evaluate(config, tmp_path)
    assert traces == [1], f"3 steps traced the train step {len(traces)} times"
    # A resumed run (the state comes back from orbax) also compiles once for its 3 steps,
    monkeypatch.setattr(pipeline, "make_train_loader", original)
    tamper(monkeypatch, sigterm_at_3)
    placement.parallel_step.cache_clear()
    with pytest.raises(trainer.Interrupted, match="at step 6"):
        train_and_evaluate(config, tmp_path)
    assert traces == [1, 1], f"a resume traced the train step {len(traces) - 1} times"
    # and in the same process a run with the same settings reuses the traced step.
    monkeypatch.setattr(pipeline, "make_train_loader", original)
    tamper(monkeypatch, sigterm_at_3)
    with pytest.raises(trainer.Interrupted, match="at step 9"):
        train_and_evaluate(config, tmp_path)
    assert traces == [1, 1]
    placement.parallel_step.cache_clear()  # the other tests get the real step back


def test_nan_loss_stops_with_step_and_keeps_last_good_checkpoint(data_dir, tmp_path,
                                                                 monkeypatch):
    def nan_at_8(n, batch):
        if n == 8:
            batch = dict(batch, bokeh=np.full_like(batch["bokeh"], np.nan))
        return batch

    tamper(monkeypatch, nan_at_8)
    with pytest.raises(TrainingError, match="loss became nan at step 8; stopped") as err:
        train_and_evaluate(tiny_config(data_dir), tmp_path)
    steps = sorted(int(p.name) for p in (tmp_path / "phase1" / "checkpoints").iterdir()
                   if p.name.isdigit())
    assert steps == [5]  # the last good checkpoint, nothing after the bad step
    assert "step 5" in str(err.value) and "lr_start" in str(err.value)


def test_a_failed_checkpoint_write_stops_the_run_and_keeps_the_earlier_ones(
        data_dir, tmp_path, monkeypatch):
    import orbax.checkpoint as ocp

    real_save = ocp.CheckpointManager.save

    def disk_full_at_10(self, step, *args, **kwargs):
        if step == 10:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(self, step, *args, **kwargs)

    monkeypatch.setattr(ocp.CheckpointManager, "save", disk_full_at_10)
    with pytest.raises(trainer.CheckpointError) as err:
        train_and_evaluate(tiny_config(data_dir), tmp_path)
    assert err.value.exit_code == 3
    assert ("writing the checkpoint at step 10 failed (No space left on device); stopped; "
            "the checkpoints before it are kept") in str(err.value)
    folder = tmp_path / "phase1" / "checkpoints"
    assert sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit()) == [5]
    assert not (tmp_path / "phase1" / "final").exists()


def test_phase_chaining_and_config_errors(data_dir, tmp_path):
    config = tiny_config(data_dir)
    config.phases = (2,)
    with pytest.raises(TrainingError, match="--config phase1 --workdir"):
        train_and_evaluate(config, tmp_path)
    config = tiny_config(data_dir)
    config.init_checkpoint = str(tmp_path / "missing")
    with pytest.raises(UserError, match="init_checkpoint.*no such file or folder"):
        train_and_evaluate(config, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_every_config_problem_is_reported_at_once_before_any_work(data_dir, tmp_path):
    config = tiny_config(data_dir, resolution=(30, 48), num_steps=-5, loss="l2",
                         global_batch_size=3)
    config.bn_mode = "whatever"
    config.kernel_sizes = (5, 8)
    config.adam_b2 = 1.5
    config.val_policy = "best"
    config.dataset = "imagenet"
    config.hourglass_levels = 0
    config.focus_loss_weight = -0.5
    with pytest.raises(UserError) as e:
        trainer.check_config(config, num_devices=2)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("the training config has 11 problems: ")
    for fragment in ("--config.phase1.resolution=(30, 48): height and width must be multiples "
                     "of 16", "--config.phase1.num_steps=-5: must be >= 1",
                     "--config.phase1.loss='l2': use one of l1, ssim",
                     "--config.phase1.global_batch_size=3: is not divisible by the 2 devices",
                     "--config.bn_mode='whatever': use one of train, frozen",
                     "--config.kernel_sizes=(5, 8): give odd kernel sizes",
                     "--config.adam_b2=1.5: must be >= 0 and < 1",
                     "--config.val_policy='best'", "--config.dataset='imagenet': unknown dataset",
                     "--config.hourglass_levels=0: the hourglass has 1 to 4 levels",
                     "--config.focus_loss_weight=-0.5: must be >= 0"):
        assert fragment in msg, fragment
    # Through the trainer (one device here, so the batch of 3 is fine): nothing is written,
    # no dataset is built.
    with pytest.raises(UserError, match="10 problems"):
        train_and_evaluate(config, tmp_path / "w")
    assert not (tmp_path / "w").exists()
    trainer.check_config(tiny_config(data_dir), num_devices=1)  # a sound config passes
    no_depth = tiny_config(data_dir)
    no_depth.dataset, no_depth.focus_loss_weight = "ebb", 0.1
    with pytest.raises(UserError, match=r"--config.focus_loss_weight=0.1: the focus loss needs "
                                        r"the pairs' depth, which only synthetic_bokeh has"):
        trainer.check_config(no_depth, num_devices=1)
    config = tiny_config(data_dir)
    config.aperture, config.blades = "star", 2
    with pytest.raises(UserError) as e:
        trainer.check_config(config, num_devices=1)
    assert "--config.aperture='star': use one of gaussian, disk, polygon" in str(e.value)
    assert "--config.blades=2: a polygonal aperture has 3 to 64 blades" in str(e.value)
    config = tiny_config(data_dir, blend_resolution=(16, 96))
    with pytest.raises(UserError, match=r"--config.phase1.blend_resolution=\(16, 96\): is "
                                        r"smaller than the network's resolution \(32, 48\)"):
        trainer.check_config(config, num_devices=1)
    config = tiny_config(data_dir, blend_resolution=(96, 144))  # the demo's, on 32x48 pairs
    with pytest.raises(UserError, match=r"--config.phase1.blend_resolution=\(96, 144\): is "
                                        r"larger than the synthetic pairs \(32x48\)"):
        trainer.check_config(config, num_devices=1)
    trainer.check_config(tiny_config(data_dir, blend_resolution=(32, 48)), num_devices=1)
    config = tiny_config(data_dir)
    config.dataset = "ebb"
    with pytest.raises(UserError, match="--config.dataset='ebb': is not built in .*prepare ebb"):
        trainer.check_config(config, num_devices=1)
    with pytest.raises(UserError, match="/proc/bokeh_jax_run: cannot write there"):
        train_and_evaluate(tiny_config(data_dir), "/proc/bokeh_jax_run")


@pytest.mark.parametrize("args, expected", [
    (["--config", "nope"], "choose one of ablation_1kernel"),
    (["--config", "demo", "--config.phase1.num_step=3"],
     "the config has no field 'num_step' (did you mean 'num_steps'?); every field"),
    (["--config", "demo", "--config.phase1.num_steps=abc"], "num_steps=abc"),
    (["--config", "demo", "--config.phases=1"], "--config.phases=1: give a tuple"),
    # (check_config's messages, e.g. --config.bn_mode=whatever, are tested in-process above.)
    (["--config", "demo", "--config.phase1.num_steps=-5"], "num_steps=-5: must be >= 1"),
])
def test_train_py_bad_flags_give_one_line(tmp_path, args, expected):
    proc = subprocess.run([sys.executable, "train.py", *args, "--workdir", str(tmp_path / "w")],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2 and not (tmp_path / "w").exists()
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines


PMAP_SCRIPT = textwrap.dedent("""
    import os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    import jax, jax.numpy as jnp, numpy as np
    from flax import jax_utils
    from bokeh_jax.configs import common
    from bokeh_jax.train import state as S, step as T
    from bokeh_jax.train.trainer import phase_config
    from bokeh_jax.cli import enable_compilation_cache
    enable_compilation_cache({cache!r})
    assert jax.local_device_count() == 2
    c = common.get_config(); c.kernel_sizes = (5, 9); c.hourglass_levels = 1
    c.phase1.update(resolution=(32, 48), global_batch_size=4, num_steps=20, lr_end=1e-4)
    pc = phase_config(c, 1)
    model, tx = S.make_model(pc), S.make_optimizer(pc)
    state = S.create_state(S.init_variables(model, 0), tx)
    rng = np.random.default_rng(0)
    batch = {{k: rng.random((4, 32, 48, 3), dtype=np.float32) for k in ("original", "bokeh")}}
    single = jax.jit(T.make_train_step(model, tx, loss="l1", bn_mode="frozen"))
    s1, m1 = single(state, batch)
    step = T.make_train_step(model, tx, loss="l1", bn_mode="frozen", axis_name="d")
    p = jax.pmap(step, axis_name="d")
    split = {{k: v.reshape(2, 2, 32, 48, 3) for k, v in batch.items()}}
    s2, m2 = p(jax_utils.replicate(state), split)
    # Compared on the host: a jnp op per leaf would compile ~3 programs per leaf shape.
    host = lambda tree: [np.asarray(x) for x in jax.tree.leaves(tree)]
    s2 = [x[0] for x in host(s2.params)]
    np.testing.assert_allclose(float(m2["loss"][0]), float(m1["loss"]), rtol=1e-5)
    worst = max(float(np.max(np.abs(a - b))) for a, b in zip(host(s1.params), s2))
    moved = max(float(np.max(np.abs(a - b))) for a, b in
                zip(host(s1.params), host(state.params)))
    print("worst", worst, "moved", moved)
    assert moved > 1e-4 and worst < 1e-6
    # A global batch the devices cannot share is refused before anything runs.
    from bokeh_jax.errors import UserError
    from bokeh_jax.train.trainer import train_phase
    c.phase1.global_batch_size = 3
    try:
        train_phase(phase_config(c, 1), __import__("pathlib").Path("unused"))
    except UserError as e:
        assert "not divisible by the 2 devices" in str(e), e
    else:
        raise AssertionError("batch 3 on 2 devices was accepted")
    print("OK")
""")


@pytest.mark.slow
def test_pmap_step_on_two_devices_equals_single_device_step():
    cache = os.environ.get("BOKEH_JAX_CACHE", str(REPO / ".cache" / "jax-tests"))
    proc = subprocess.run([sys.executable, "-c", PMAP_SCRIPT.format(cache=cache)],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stdout + proc.stderr[-3000:]


def test_phase1_starts_from_a_pth_or_a_converted_folder(data_dir, tmp_path, tiny_ckpt):
    """The .pth is converted on the fly (into the whole hourglass only); a converted folder
    must match the kernels, a previous phase the depth."""
    import torch
    import torch_megadepth as tm

    from bokeh_jax.network.convert import convert_state_dict, main, unwrap_state_dict
    from bokeh_jax.train import state as state_lib

    torch.manual_seed(0)
    sd = tm.release_state_dict(tm.randomize_bn(tm.megadepth()))
    pth = tmp_path / "megadepth.pth"
    torch.save(sd, pth)
    config = tiny_config(data_dir)
    config.head_init = "random"
    config.init_checkpoint = str(pth)
    with pytest.raises(UserError, match=r"--config.hourglass_levels=1: MegaDepth's weights "
                                        r"\(init_checkpoint\) fit the whole hourglass only"):
        trainer.check_config(config, num_devices=1)
    config.hourglass_levels = 4
    pc = phase_config(config, 1)
    variables, meta, origin = trainer.initial_variables(pc, tmp_path, 1,
                                                        state_lib.make_model(pc))
    want = convert_state_dict(unwrap_state_dict(sd))
    np.testing.assert_array_equal(variables["params"]["trunk"]["conv0"]["kernel"],
                                  want["params"]["trunk"]["conv0"]["kernel"])
    assert variables["params"]["weight_head"]["kernel"].shape == (3, 3, 64, 3)
    assert meta["head_init"] == "random" and str(pth) in origin

    converted = tmp_path / "converted"
    assert main([str(pth), str(converted), "--head-init", "random", "--kernels", "25,45,75"]) == 0
    config.init_checkpoint = str(converted)
    with pytest.raises(UserError, match="--kernels 5,9"):
        trainer.initial_variables(phase_config(config, 1), tmp_path, 1,
                                  state_lib.make_model(pc))
    # Phase 2 refuses a phase 1 of another depth (here the 1-level tiny checkpoint).
    (tmp_path / "w").mkdir()
    shutil.copytree(tiny_ckpt, tmp_path / "w" / "phase1" / "final")
    with pytest.raises(UserError, match=r"a network with hourglass_levels=1, but the config "
                                        r"trains 4; set --config.hourglass_levels=1"):
        trainer.initial_variables(phase_config(config, 2), tmp_path / "w", 2,
                                  state_lib.make_model(pc))


def test_blending_at_a_larger_size_trains_on_what_the_fullres_policy_renders(tiny_model):
    """blend_resolution: the train step's render and loss are those of the "fullres" test
    policy (render_photo: Pillow resizes on the host, the tiled full-size blend)."""
    from conftest import TINY_KERNELS, TINY_RESOLUTION, textured

    from bokeh_jax.inference.learned import render_photo
    from bokeh_jax.train import state as S
    from bokeh_jax.train import step as T

    config = common.get_config()
    config.kernel_sizes = TINY_KERNELS
    config.phase1.update(resolution=TINY_RESOLUTION, blend_resolution=(64, 96))
    pc = phase_config(config, 1)
    assert inputs.net_size(pc) == TINY_RESOLUTION and inputs.blend_resolution(pc) == (64, 96)
    original = textured(64, 96, seed=1).astype(np.float32) / 255
    target = textured(64, 96, seed=2).astype(np.float32) / 255
    tx = S.make_optimizer(pc)
    state = S.create_state(tiny_model.variables, tx)
    batch = {"original": original[None], "bokeh": target[None]}
    step = jax.jit(T.make_train_step(tiny_model.module, tx, loss="l1", bn_mode="frozen",
                                     net_hw=TINY_RESOLUTION))
    new_state, m = step(state, batch)
    ref = render_photo(tiny_model.module, tiny_model.variables, TINY_RESOLUTION, original,
                       policy="fullres")
    np.testing.assert_allclose(float(m["l1"]), np.mean(np.abs(ref.bokeh - target)), atol=2e-5)
    np.testing.assert_allclose(float(m["weight_sharp"]), ref.weights[..., 0].mean(), atol=2e-5)
    assert new_state.step == 1


def test_the_focus_loss_is_the_cross_entropy_of_the_sharp_weight(tiny_model):
    """focus_loss_weight: the step adds weight x BCE(w_0, labels) over the labelled pixels,
    w_0 being the sharp weight the fullres policy renders with (checked in numpy)."""
    from conftest import TINY_RESOLUTION, textured

    from bokeh_jax.inference.learned import render_photo
    from bokeh_jax.train import state as S
    from bokeh_jax.train import step as T

    config = common.get_config()
    config.phase1.update(resolution=TINY_RESOLUTION, blend_resolution=(64, 96))
    pc = phase_config(config, 1)
    original = textured(64, 96, seed=3).astype(np.float32) / 255
    target = textured(64, 96, seed=4).astype(np.float32) / 255
    label = np.full((64, 96), -1.0, np.float32)
    label[10:30, 20:50], label[40:, :] = 1.0, 0.0
    tx = S.make_optimizer(pc)
    state = S.create_state(tiny_model.variables, tx)
    batch = {"original": original[None], "bokeh": target[None], "focus": label[None]}
    step = jax.jit(T.make_train_step(tiny_model.module, tx, loss="l1", bn_mode="frozen",
                                     net_hw=TINY_RESOLUTION, focus_weight=0.25))
    _, m = step(state, batch)
    w0 = render_photo(tiny_model.module, tiny_model.variables, TINY_RESOLUTION, original,
                      policy="fullres").weights[..., 0].astype(np.float64)
    known = label >= 0
    bce = -np.where(label[known] == 1, np.log(w0[known]), np.log(1 - w0[known])).mean()
    np.testing.assert_allclose(float(m["focus_bce"]), bce, rtol=1e-4)
    np.testing.assert_allclose(float(m["loss"]), float(m["l1"]) + 0.25 * bce, rtol=1e-4)


@pytest.mark.parametrize("name", sorted(p.stem for p in Path(common.__file__).parent.glob("*.py")
                                        if p.stem not in ("__init__", "common")))
def test_every_packaged_config_is_sound(name):
    """Each config the package ships (demo, phases, ablations, synthetic_full) passes the
    checks a run makes before any work, on one device."""
    import importlib

    from bokeh_jax.train.config_check import check_config

    config = importlib.import_module(f"bokeh_jax.configs.{name}").get_config()
    if config.dataset == "ebb":  # no EBB! build here: that must be the one problem found
        with pytest.raises(UserError, match=r"has a problem: --config.dataset='ebb': is not "
                                            r"built in .*; build it with: "):
            check_config(config, 1)
        return
    check_config(config, 1)
    if config.dataset == "synthetic_bokeh":  # the synthetic recipes render for fullres
        assert config.val_policy == "fullres"


def test_random_init_draws_flax_lecun_normal_without_compiling():
    """Host-drawn kernels have the distribution of Flax's lecun_normal (same std, same
    2-sigma truncation); biases and BN statistics start as Flax starts them."""
    import jax.numpy as jnp

    from bokeh_jax.network.models import BokehNet
    from bokeh_jax.train import state as state_lib

    variables = state_lib.init_variables(BokehNet(kernel_sizes=(5, 9)), 0)
    conv = variables["params"]["trunk"]["channels4"]["a1"]["conv3"]["kernel"]  # 7x7 32->32
    flax_draw = np.asarray(jax.nn.initializers.lecun_normal()(jax.random.key(1), conv.shape,
                                                              jnp.float32))
    assert conv.dtype == np.float32
    np.testing.assert_allclose(conv.std(), flax_draw.std(), rtol=0.03)
    assert abs(conv.mean()) < 0.05 * conv.std()
    np.testing.assert_allclose(np.abs(conv).max(), np.abs(flax_draw).max(), rtol=0.02)
    bn = variables["batch_stats"]["trunk"]["bn0"]
    assert (bn["mean"] == 0).all() and (bn["var"] == 1).all()
    assert (variables["params"]["trunk"]["bn0"]["scale"] == 1).all()
    assert (variables["params"]["trunk"]["conv0"]["bias"] == 0).all()
    again = state_lib.init_variables(BokehNet(kernel_sizes=(5, 9)), 0)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(variables),
                                                     jax.tree.leaves(again), strict=True))
