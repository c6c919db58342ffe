"""The train-state checkpoints of a phase (orbax): saved and verified, restored or set aside.

``WORKDIR/phaseN/checkpoints/<step>/`` holds the state (params, BN statistics, optimizer,
step), the input pipeline's position and the run's progress. A save is read back before the
run goes on, so a full disk or a failed write stops the run at that step with the earlier
checkpoints kept. On resume the newest checkpoint that reads is used: one that does not
(a truncated data file, a missing metadata file) is reported in one line and moved to
``WORKDIR/phaseN/damaged/<step>`` (kept for the user, never deleted).

In a multi-process run every process calls these functions at the same step: orbax writes
each checkpoint once (process 0 writes the replicated state and the JSON items, into a
temporary folder renamed when complete) and every process restores the same one, so all
resume from the same step. The folder must be one that every process sees (a shared
file system). Process 0 alone reads checkpoints back and moves damaged ones aside.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import jax

from bokeh_jax.errors import UserError, one_line
from bokeh_jax.network.checkpoint import quiet_closed_loop_noise
from bokeh_jax.train import multihost


class CheckpointError(UserError):
    """A checkpoint could not be written; the earlier ones are kept."""

    exit_code = 3


def manager(path: Path, keep: int):
    import orbax.checkpoint as ocp

    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                           enable_async_checkpointing=False)
    return ocp.CheckpointManager(Path(path).absolute(), options=options)


def _reason(error: BaseException, limit: int = 300) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = one_line(error) or type(error).__name__
    return text if len(text) <= limit else text[:limit] + "..."


def save(mngr, step: int, state, loader, progress: dict, *, phase: int) -> None:
    """Saves the (replicated) state, the data position and the progress at ``step``; reads
    the checkpoint's metadata back. CheckpointError (the run stops) when either fails."""
    import orbax.checkpoint as ocp

    host_state = jax.device_get(jax.tree.map(lambda x: x[0], state))
    where = Path(mngr.directory)
    fix = (f"the checkpoints before it are kept in {where}; free some space or fix the folder, "
           "then run the same command to resume")
    try:
        mngr.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(host_state),
            data=ocp.args.JsonSave(loader.get_state()),  # the input pipeline's position
            progress=ocp.args.JsonSave(progress)), force=True)
        mngr.wait_until_finished()
    except Exception as e:  # noqa: BLE001 - any failed write: disk full, permissions, I/O
        raise CheckpointError(f"phase {phase}: writing the checkpoint at step {step} failed "
                              f"({_reason(e)}); stopped; {fix}") from None
    unreadable = multihost.is_main() and not _metadata_reads(where / str(step))
    if multihost.any_process(unreadable or mngr.latest_step() != step):
        raise CheckpointError(f"phase {phase}: the checkpoint at step {step} did not read back "
                              f"after writing; stopped; {fix}")


# What orbax writes last for each item of a step: reading them back catches a step whose
# write failed or was cut short without an exception.
_METADATA_FILES = ("_CHECKPOINT_METADATA", "state/_METADATA", "data/metadata",
                   "progress/metadata")


def _metadata_reads(step_dir: Path) -> bool:
    try:
        for name in _METADATA_FILES:
            json.loads((step_dir / name).read_text())
    except (OSError, ValueError):
        return False
    return True


def _restore(mngr, step: int, state, loader):
    import orbax.checkpoint as ocp

    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), state)
    restored = mngr.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), data=ocp.args.JsonRestore(),
        progress=ocp.args.JsonRestore()))
    loader.set_state(restored["data"])
    return restored["state"], restored["progress"]


def move_aside(folder: Path, damaged_dir: Path) -> Path:
    """Moves ``folder`` into ``damaged_dir`` under a name not taken yet; returns the new path."""
    damaged_dir.mkdir(parents=True, exist_ok=True)
    target, i = damaged_dir / folder.name, 1
    while target.exists():
        target, i = damaged_dir / f"{folder.name}.{i}", i + 1
    shutil.move(str(folder), target)
    return target


def restore_newest(mngr, state, loader, *, phase: int, phase_dir: Path, keep: int):
    """(manager, step, state, progress) of the newest checkpoint that reads, or step None
    when the phase has none. Damaged ones are moved aside with a line on stderr; UserError
    when checkpoints exist and none reads."""
    moved = []
    while (step := mngr.latest_step()) is not None:
        error = None
        try:
            restored, progress = _restore(mngr, step, state, loader)
        except Exception as e:  # noqa: BLE001 - whatever a damaged folder raises
            quiet_closed_loop_noise()
            error = e
        if not multihost.any_process(error is not None):  # all resume from this step
            return mngr, step, restored, progress
        if multihost.is_main():
            target = move_aside(Path(mngr.directory) / str(step), phase_dir / "damaged")
            print(f"phase {phase}: the checkpoint at step {step} cannot be read "
                  f"({_reason(error) if error else 'on another process'}); moved it to "
                  f"{target}; trying the one before it", file=sys.stderr, flush=True)
        moved.append(step)
        multihost.sync(f"bokeh_jax/moved_aside/{phase}/{step}/{len(moved)}")
        mngr.close()
        mngr = manager(mngr.directory, keep)
    if moved:
        raise UserError(f"phase {phase}: no checkpoint in {mngr.directory} can be read (moved "
                        f"to {phase_dir / 'damaged'}); to start the phase over, delete "
                        f"{phase_dir} and run the same command")
    return mngr, None, state, None
