"""``train_and_evaluate(config, workdir)``: the paper's phases, one after another.

A workdir holds one run; each phase has its own folder::

    WORKDIR/phaseN/checkpoints/   orbax CheckpointManager: the latest train states (params,
                                  BN statistics, optimizer, step) with the data iterator
    WORKDIR/phaseN/best/          bokeh_jax checkpoint with the best validation PSNR
                                  (phases 1-2) or SSIM (phase 3); what eval.py takes
    WORKDIR/phaseN/final/         bokeh_jax checkpoint at the end of the phase; the next
                                  phase starts from it
    WORKDIR/phaseN/metrics.jsonl, tensorboard/, curves.png, config.json

Restarting the same command resumes from the latest checkpoint (state, step and data
position), so an interrupted run ends with the same parameters as an uninterrupted one.
Data parallelism: the pure step of :mod:`bokeh_jax.train.step` is ``jax.pmap``-ed over all
devices here, and nowhere else. A multi-process run (:mod:`bokeh_jax.train.multihost`,
docs/multihost.md) runs this same code in every process: each feeds its local devices its
share of every global batch, the ``pmap`` spans the devices of all processes, and process
0 alone validates and writes logs, TensorBoard, exported checkpoints and reports.
"""

from __future__ import annotations

import math
import signal
import sys
import time
from pathlib import Path

import jax
import ml_collections
import numpy as np
from tqdm import tqdm

from bokeh_jax.data.pipeline import check_batch_size
from bokeh_jax.errors import UserError
from bokeh_jax.evaluation.scoring import evaluate
from bokeh_jax.files import check_can_write, write_text
from bokeh_jax.inference.model import BokehModel
from bokeh_jax.io import viz
from bokeh_jax.network import checkpoint, convert, heads
from bokeh_jax.train import checkpoints, finish, inputs, multihost, placement
from bokeh_jax.train import state as state_lib
from bokeh_jax.train.checkpoints import CheckpointError
from bokeh_jax.train.config_check import check_config
from bokeh_jax.train.logs import RunLog, plot_curves

AXIS = "devices"
VAL_IMAGES_LOGGED = 2  # validation renders written to TensorBoard at each evaluation


class TrainingError(UserError):
    """Training cannot go on (diverged, missing previous phase...); one line, the fix."""

    exit_code = 3


def phase_config(config: ml_collections.ConfigDict, n: int) -> ml_collections.ConfigDict:
    """One flat config for phase ``n``: the shared fields plus ``config.phase<n>``.

    ``config`` is checked first (:func:`~bokeh_jax.train.config_check.check_config`).
    """
    flat = ml_collections.ConfigDict(config.to_dict())
    for key in [k for k in flat if k.startswith("phase")]:
        del flat[key]
    for key, value in config[f"phase{n}"].items():  # the fields of configs.common.phase
        flat[key] = value
    flat.phase = n
    return flat


def _variables_from(path: str, config: ml_collections.ConfigDict) -> tuple[dict, dict]:
    """Phase 1's start: a converted checkpoint folder, or a .pth converted on the fly."""
    p = Path(path)
    kernels = tuple(config.kernel_sizes)
    if p.is_file():
        state = convert.load_torch_checkpoint(p)
        if convert.detect_head(state) != 1:
            raise UserError(f"{p}: init_checkpoint must be the MegaDepth checkpoint (1-channel "
                            "last layer); convert a bokeh model with python -m bokeh_jax.convert")
        variables, extra = heads.complete_heads(convert.convert_state_dict(state),
                                                    kernels, config.head_init, seed=config.seed)
        return variables, {"head_init": config.head_init, "has_depth_head": True,
                           "source": {"file": p.name, "sha256": convert.sha256(p)}, **extra}
    variables, meta = checkpoint.load_variables(p)
    if tuple(meta["kernel_sizes"]) != kernels or meta["head_kernel"] != config.head_kernel:
        raise UserError(f"{p}: converted for kernels {tuple(meta['kernel_sizes'])}, but the "
                        f"config trains {kernels}; convert again with --kernels "
                        f"{','.join(map(str, kernels))} or pass the .pth file")
    _check_levels(p, meta, config)
    return variables, _carried(meta)


def _check_levels(path: Path, meta: dict, config: ml_collections.ConfigDict) -> None:
    levels = checkpoint.hourglass_levels(meta)
    if levels != config.hourglass_levels:
        raise UserError(f"{path}: a network with hourglass_levels={levels}, but the config "
                        f"trains {config.hourglass_levels}; set "
                        f"--config.hourglass_levels={levels}")


def _carried(meta: dict) -> dict:
    """The checkpoint metadata a training phase passes on to the checkpoints it writes."""
    return {k: meta[k] for k in ("head_init", "has_depth_head", "source", "depth_prior")
            if k in meta}


def initial_variables(config: ml_collections.ConfigDict, workdir: Path, n: int,
                      model) -> tuple[dict, dict, str]:
    """(variables, metadata to carry on, a sentence for the log) for phase ``n``."""
    if n > 1:
        prev = workdir / f"phase{n - 1}" / "final"
        if not (prev / checkpoint.METADATA_FILE).is_file():
            raise TrainingError(
                f"phase {n} starts from phase {n - 1}'s final weights, but {prev} does not "
                f"exist; run `python train.py --config phase{n - 1} --workdir {workdir}` first")
        variables, meta = checkpoint.load_variables(prev)
        _check_levels(prev, meta, config)
        return variables, _carried(meta), f"from {prev}"
    if config.init_checkpoint:
        variables, meta = _variables_from(config.init_checkpoint, config)
        return variables, meta, f"from {config.init_checkpoint}"
    variables = state_lib.init_variables(model, config.seed)
    return (variables, {"head_init": "random", "has_depth_head": True},
            "from RANDOM weights: no MegaDepth checkpoint given (--config.init_checkpoint)")


class _StopRequest:
    """SIGINT/SIGTERM set a flag; the loop saves a checkpoint and exits cleanly."""

    def __init__(self):
        self.signal = None
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.signal is not None:  # second Ctrl-C: give up at once
            raise KeyboardInterrupt
        self.signal = signum

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class Interrupted(UserError):
    exit_code = 130


class _NoLog:
    """What processes other than 0 log: nothing (process 0 writes the run's logs)."""

    def write(self, *args) -> None:
        pass

    def images(self, *args) -> None:
        pass

    def close(self) -> None:
        pass


def _export(path: Path, variables: dict, config, carried: dict, extra: dict) -> None:
    meta = {"kind": "trained", "kernel_sizes": list(config.kernel_sizes),
            "head_kernel": config.head_kernel, "hourglass_levels": config.hourglass_levels,
            "aperture": config.aperture,
            "blades": config.blades, "rotation": config.rotation,
            "resolution": list(config.resolution), "policy": config.val_policy,
            "blend_resolution": list(inputs.blend_resolution(config)),
            "phase": config.phase, "dataset": config.dataset, **carried, **extra}
    try:
        checkpoint.save_checkpoint(path, variables, meta, force=True)
    except OSError as e:  # staged: the previous folder at ``path`` is left as it was
        raise CheckpointError(f"phase {config.phase}: writing {path} failed "
                              f"({e.strerror or e}); stopped; free some space or fix the "
                              "folder, then run the same command to resume") from None


def _validate(model, variables, config, examples, log: RunLog, step: int) -> dict:
    """Validation PSNR/SSIM (eval.py's protocol); the first renders go to TensorBoard."""

    def log_render(index: int, example: dict, out) -> None:
        if index < VAL_IMAGES_LOGGED:
            strip = np.concatenate([viz.to_uint8(example["original"]), viz.to_uint8(out.bokeh),
                                    viz.to_uint8(example["bokeh"]),
                                    viz.weights_to_rgb(out.weights)], axis=1)
            log.images(step, {f"input_render_target_weights/{index}": strip})

    bokeh_model = BokehModel(model, variables, {"resolution": list(config.resolution)})
    summary = evaluate(bokeh_model, examples, policy=config.val_policy, lpips=False,
                       baselines=False, progress=False, max_images=config.val_images or None,
                       on_render=log_render)
    row = summary["rows"][0]
    return {"psnr": row["psnr"], "ssim": row["ssim"]}


def train_phase(config: ml_collections.ConfigDict, workdir: Path) -> Path:
    """Trains one phase (``config`` from :func:`phase_config`); returns its best/ folder."""
    n = config.phase
    phase_dir = workdir / f"phase{n}"
    final_dir = phase_dir / "final"
    model = state_lib.make_model(config)
    tx = state_lib.make_optimizer(config)
    devices = jax.local_devices()  # this process's; the pmap spans every process's
    check_batch_size(config.global_batch_size, jax.device_count(),
                     f"--config.phase{n}.global_batch_size",
                     multihost.describe_devices() if jax.process_count() > 1 else None)
    main = multihost.is_main()
    say = print if main else (lambda *a, **k: None)
    mngr = checkpoints.manager(phase_dir / "checkpoints", config.keep_checkpoints)
    if (final_dir / checkpoint.METADATA_FILE).is_file() and mngr.latest_step() == config.num_steps:
        say(f"phase {n}: already complete ({final_dir}); skipping")
        return phase_dir / "best"
    if main:
        phase_dir.mkdir(parents=True, exist_ok=True)
        write_text(phase_dir / "config.json", config.to_json_best_effort(indent=2) + "\n")

    data = inputs.dataset(config)
    loader = inputs.train_loader(config, data, len(devices))
    val_examples = inputs.val_examples(config, data) if main else None

    variables, carried, origin = initial_variables(config, workdir, n, model)
    state = state_lib.create_state(variables, tx)
    mngr, step0, state, progress = checkpoints.restore_newest(
        mngr, state, loader, phase=n, phase_dir=phase_dir, keep=config.keep_checkpoints)
    if step0 is None:
        progress = {"best": None, "best_step": None, "seed": config.seed}
    else:
        origin = f"resumed at step {step0} from {mngr.directory}"
    start = int(state.step)
    net_hw = inputs.net_size(config)
    blended = "" if net_hw is None else "x".join(map(str, inputs.blend_resolution(config)))
    say(f"phase {n}: {config.num_steps} steps at {config.resolution[0]}x"
        f"{config.resolution[1]}{f' (blended at {blended})' if blended else ''}, loss "
        f"{config.loss}, batch {config.global_batch_size} on "
        f"{multihost.describe_devices()}; {origin}")

    p_step = placement.parallel_step(model, state_lib.optimizer_settings(config), config.loss,
                                     config.bn_mode, AXIS, net_hw,
                                     float(config.get("focus_loss_weight", 0.0)))
    # pmap's own output sharding: step 2 reuses step 1's program (placement's docstring).
    state = placement.replicate(state, devices, AXIS)
    metric = "ssim" if config.loss == "ssim" else "psnr"
    log = RunLog(phase_dir, n, resumed_at=step0) if main else _NoLog()

    def unreplicated_variables():
        host = jax.device_get(jax.tree.map(lambda x: x[0], (state.params, state.batch_stats)))
        return {"params": host[0], "batch_stats": host[1]}

    def save():
        progress.update(window=window, window_steps=window_steps)  # a log line's partial mean
        checkpoints.save(mngr, step, state, loader, progress, phase=n)

    step = start
    bar = tqdm(total=config.num_steps, initial=start, desc=f"phase {n}", unit="step",
               dynamic_ncols=True, file=sys.stdout, disable=not main)
    val = {}
    window, window_steps = dict(progress.get("window", {})), int(progress.get("window_steps", 0))
    lr_schedule = state_lib.learning_rate(config)
    try:
        with _StopRequest() as stop:
            while step < config.num_steps:
                t_start = time.perf_counter()
                batch = next(loader)
                state, m = p_step(state, {k: v for k, v in batch.items() if k != "id"})
                m = jax.device_get(jax.tree.map(lambda x: x[0], m))  # one transfer per step
                loss = float(m["loss"])
                if not math.isfinite(loss):
                    kept = mngr.latest_step()
                    raise TrainingError(
                        f"phase {n}: loss became {loss} at step {step + 1}; stopped. The last "
                        f"good checkpoint ({'step ' + str(kept) if kept is not None else 'none'}"
                        f") is kept in {mngr.directory}; lower --config.phase{n}.lr_start or "
                        "set --config.grad_clip_norm")
                step += 1
                # Images per second of the step itself (the first one includes compilation).
                rate = None if step == start + 1 else (
                    config.global_batch_size / max(time.perf_counter() - t_start, 1e-9))
                for k, v in m.items():  # averaged over the steps between two log lines
                    window[k] = window.get(k, 0.0) + float(v)
                window_steps += 1
                if step % config.log_every == 0 or step == config.num_steps:
                    means = {k: v / window_steps for k, v in window.items()}
                    lr = float(lr_schedule(step - 1))
                    log.write("train", step, means | {"lr": lr, "images_per_s": rate or 0.0})
                    window, window_steps = {}, 0
                if main and (step % config.eval_every == 0 or step == config.num_steps):
                    host_variables = unreplicated_variables()
                    val = _validate(model, host_variables, config, val_examples, log, step)
                    log.write("val", step, val)
                    if progress["best"] is None or val[metric] > progress["best"]:
                        progress.update(best=val[metric], best_step=step)
                        _export(phase_dir / "best", host_variables, config, carried,
                                {"step": step, "val": val})
                post = {"loss": f"{loss:.4f}"}
                if val:
                    post[f"val_{metric}"] = f"{val[metric]:.4f}"
                if rate:
                    post["img/s"] = f"{rate:.1f}"
                bar.set_postfix(post, refresh=False)
                bar.update(1)
                # Every process stops at the same step, whichever got the signal.
                stopping = multihost.any_process(stop.signal is not None)
                if step % config.checkpoint_every == 0 or step == config.num_steps:
                    save()
                if stopping:
                    if step % config.checkpoint_every and step != config.num_steps:
                        save()
                    raise Interrupted(
                        f"phase {n}: stopped by signal {stop.signal or 'on another process'} "
                        f"at step {step}; "
                        f"checkpoint saved in {mngr.directory}; run the same command to resume")
    finally:
        bar.close()
        log.close()
    if main:
        _export(final_dir, unreplicated_variables(), config, carried,
                {"step": step, "val": val})
        plot_curves(phase_dir / "metrics.jsonl", phase_dir / "curves.png",
                    title=f"phase {n} ({config.loss})")
        print(f"phase {n}: done; best {metric} {progress['best']:.4f} at step "
              f"{progress['best_step']} -> {phase_dir / 'best'}")
    multihost.sync(f"bokeh_jax/phase{n}/done")  # the next phase reads final/
    return phase_dir / "best"


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path) -> Path:
    """Runs every phase of ``config.phases`` in ``workdir``; returns the last best/ folder."""
    workdir = Path(workdir)
    if config.get("multihost") and not multihost.connected():
        multihost.connect()  # auto-detected (the command line connects with its flags)
    # Every field, before any dataset build, compilation or write.
    check_config(config, jax.device_count())
    multihost.main_first(lambda: check_can_write(workdir), others=lambda: None,
                         what="checking the workdir")
    phases = [phase_config(config, n) for n in config.phases]
    best = None
    for pc in phases:
        best = train_phase(pc, workdir)
    multihost.finish()  # training is over: the rest is process 0's alone
    if not multihost.is_main():
        return best
    if config.eval_at_end:
        finish.evaluate_at_end(phases[-1], workdir, best)
        finish.evaluate_real_pairs(workdir, best)
    if config.render_at_end:
        finish.render_samples(best, workdir / "renders")
    return best


__all__ = ["CheckpointError", "TrainingError", "phase_config", "train_and_evaluate",
           "train_phase"]
