"""Several training processes, one per host, on JAX's own distributed runtime.

``jax.distributed.initialize`` connects the processes (explicit flags, or auto-detection
on SLURM, Open MPI and Cloud TPU); the trainer then ``pmap``-s over every device of every
process and each process feeds its local devices. This module holds the few places where
the processes must agree, so the trainer reads as a single-process program:

- :func:`connect`: joins the run, with a timeout that ends in one line, not a hang;
- :func:`is_main`: process 0 alone writes logs, reports, renders and exported checkpoints;
- :func:`main_first`: process 0 does a job (building a dataset) while the others wait for
  it, and its error, if any, stops every process with the same message;
- :func:`any_process`: one flag agreed by all (a stop request seen by one process makes
  every process save at the same step);
- :func:`sync`, :func:`finish`: barriers, and leaving the runtime while all are in step.

With one process every function is a plain local call: no collective, no runtime.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

from bokeh_jax.errors import UserError, one_line

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 300  # JAX's own default for the whole group to connect
# How long the other processes wait for process 0 to build a dataset. Generous: a full
# synthetic build takes minutes on a small machine, and if process 0 dies the runtime
# stops the others at once anyway (its coordinator goes with it).
MAIN_JOB_WAIT_S = 6 * 3600
_ERROR_PREFIX = "error:"


class DistributedError(UserError):
    """The processes could not start or agree (a missing process, a bad address)."""

    exit_code = 4


_state = {"jobs": 0}


def _client():
    """JAX's distributed client (its key-value store and barriers); None with one process.

    Orbax reaches it the same way (``orbax.checkpoint.multihost``); JAX has no public name
    for it yet.
    """
    from jax._src import distributed

    return distributed.global_state.client


def connected() -> bool:
    """Whether this process joined a multi-process run (:func:`connect` succeeded)."""
    import jax

    return jax.distributed.is_initialized()


def connect(coordinator_address: str | None = None, num_processes: int | None = None,
            process_id: int | None = None, *, timeout_s: int = DEFAULT_TIMEOUT_S) -> None:
    """Joins the run: ``jax.distributed.initialize`` with JAX's own argument names.

    Must run before anything touches a JAX device. Arguments left None are auto-detected
    (SLURM, Open MPI, Kubernetes/TPU); DistributedError when nothing can be detected.
    CPU processes exchange gradients with gloo (JAX's CPU collectives over TCP).

    If the group is not complete within ``timeout_s`` seconds (a process failed to start,
    a wrong address or count) the process prints one line and exits with status 4; JAX's
    own timeout would end in a fatal error with a C++ stack trace instead.
    """
    import jax

    if timeout_s < 1:
        raise UserError(f"--distributed_timeout={timeout_s}: give a number of seconds >= 1")
    if num_processes is not None and num_processes < 1:
        raise UserError(f"--num_processes={num_processes}: must be >= 1")
    if process_id is not None and num_processes is not None and not (
            0 <= process_id < num_processes):
        raise UserError(f"--process_id={process_id}: must be in 0..{num_processes - 1} "
                        f"(--num_processes={num_processes})")
    if coordinator_address is not None and not _looks_like_address(coordinator_address):
        raise UserError(f"--coordinator_address={coordinator_address!r}: give HOST:PORT, "
                        "e.g. 10.0.0.1:29500 (process 0's machine and a free port)")
    # Harmless on GPU and TPU (it only configures the CPU client); needed for any
    # cross-process collective between CPU devices.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    who = (f"process {process_id}" if process_id is not None else "this process")
    where = coordinator_address or "the auto-detected coordinator"
    done = threading.Event()

    def give_up() -> None:
        if not done.wait(timeout_s):
            print(f"{_ERROR_PREFIX} {who}: not every one of the "
                  f"{num_processes if num_processes is not None else ''} processes joined "
                  f"{where} within {timeout_s} s (--distributed_timeout); check that each was "
                  "started, with the same --coordinator_address and --num_processes and its "
                  "own --process_id, and read the other processes' output for their error",
                  file=sys.stderr, flush=True)
            os._exit(DistributedError.exit_code)

    threading.Thread(target=give_up, name="bokeh-jax-connect-timeout", daemon=True).start()
    try:
        # JAX's timeout is only the backstop: the watchdog above speaks first.
        jax.distributed.initialize(coordinator_address, num_processes, process_id,
                                   initialization_timeout=timeout_s + 60)
    except (ValueError, TypeError, RuntimeError) as e:
        detected = None in (coordinator_address, num_processes, process_id)
        hint = ("no cluster was detected (SLURM, Open MPI, Kubernetes/TPU): give "
                "--coordinator_address HOST:PORT --num_processes N --process_id I"
                if detected else "check --coordinator_address, --num_processes, --process_id")
        raise DistributedError(f"cannot start the multi-process run ({one_line(e)}); "
                               f"{hint}") from None
    finally:
        done.set()


def _looks_like_address(text: str) -> bool:
    host, sep, port = text.rpartition(":")
    return bool(sep and host and port.isdigit() and 0 < int(port) < 65536)


def process_index() -> int:
    import jax

    return jax.process_index()


def process_count() -> int:
    import jax

    return jax.process_count()


def is_main() -> bool:
    """True in process 0 (and in a single-process run): the one that writes files."""
    return process_index() == 0


def describe_devices() -> str:
    """"2 CPU devices" or "4 GPU devices (2 processes x 2)", for the run's first line."""
    import jax

    devices = jax.devices()
    text = f"{len(devices)} {devices[0].platform.upper()} device(s)"
    if jax.process_count() > 1:
        text += f" ({jax.process_count()} processes x {jax.local_device_count()})"
    return text


def main_first(job: Callable[[], T], *, others: Callable[[], T] | None = None,
               what: str) -> T:
    """Runs ``job`` on process 0 while the other processes wait; then ``others`` (default:
    ``job`` again) on them, so they start once process 0's result exists.

    A UserError in process 0's ``job`` is raised on every process (the others say it was
    process 0's), so the whole run stops with one line instead of hanging. ``what``
    names the job in the waiting processes' error if process 0 never reports.
    """
    client = _client() if connected() else None
    if client is None or process_count() == 1:
        return job()
    _state["jobs"] += 1
    key = f"bokeh_jax/main_first/{_state['jobs']}"  # every process counts its jobs alike
    if is_main():
        try:
            result = job()
        except UserError as e:
            client.key_value_set(key, f"{_ERROR_PREFIX}{e.exit_code}:{one_line(e)}")
            raise
        except BaseException:
            client.key_value_set(key, f"{_ERROR_PREFIX}1:failed while {what}; see its output")
            raise
        client.key_value_set(key, "ok")
        return result
    try:
        status = client.blocking_key_value_get(key, MAIN_JOB_WAIT_S * 1000)
    except Exception as e:  # noqa: BLE001 - JaxRuntimeError: DEADLINE_EXCEEDED
        raise DistributedError(f"process {process_index()}: process 0 did not finish {what} "
                               f"within {MAIN_JOB_WAIT_S} s ({one_line(e)[:200]})") from None
    if status.startswith(_ERROR_PREFIX):
        code, _, message = status[len(_ERROR_PREFIX):].partition(":")
        error = UserError(f"process 0: {message}")
        error.exit_code = int(code)  # the same status on every process
        raise error
    return (others or job)()


def any_process(flag: bool) -> bool:
    """True on every process when ``flag`` is True on any of them (a small all-gather over
    the devices, so it also orders the processes like a barrier)."""
    if not connected() or process_count() == 1:
        return bool(flag)
    import numpy as np
    from jax.experimental import multihost_utils

    return bool(np.any(multihost_utils.process_allgather(np.int32(bool(flag)))))


def sync(name: str) -> None:
    """A barrier: returns once every process called ``sync`` with the same name."""
    if connected() and process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def finish() -> None:
    """Leaves the runtime together (call with every process at the same point).

    After it, process 0 may go on alone (the evaluation at the end of a run) without the
    others waiting for it in JAX's exit barrier, which gives up after a few minutes.
    """
    import jax

    if connected():
        sync("bokeh_jax/finish")
        jax.distributed.shutdown()


def exit_now(code: int) -> None:
    """Ends this process at once with ``code`` (multi-process runs, after an error).

    A normal exit waits in JAX's exit barrier for processes that may be stuck waiting for
    this one; exiting at once lets the launcher (or JAX's heartbeat) stop them instead.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
