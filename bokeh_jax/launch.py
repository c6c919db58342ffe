"""``bokeh-jax launch`` (``python -m bokeh_jax.launch``): N training processes on this machine.

    python -m bokeh_jax.launch -n 2 -- python train.py --config demo --workdir runs/demo

Starts the command N times, appending JAX's multi-process flags to each copy
(``--coordinator_address 127.0.0.1:PORT --num_processes N --process_id I``, on a free
port), and prints every line of their output prefixed with the process id (``[1] ...``).
If one process exits with an error, the others are stopped at once (a process waiting
for a dead peer would otherwise wait for JAX's heartbeat timeout) and the launcher exits
with that process's status. Ctrl-C (or SIGTERM) is passed on to every process, which
save a checkpoint at the same step and stop; a second Ctrl-C kills them.

This is how multi-process training is tested on one machine (CPU processes talk over
gloo). On several machines, start one process per machine with the same flags by hand or
through SLURM (docs/multihost.md); on one machine with several GPUs a single process
already uses all of them.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

from bokeh_jax.cli import ArgumentParser, run_main
from bokeh_jax.errors import UserError

POLL_S = 0.1
_LINE_ENDS = re.compile(rb"([\r\n])")
EXAMPLES = """examples:
  {prog} -n 2 -- python train.py --config demo --workdir runs/demo2
  {prog} -n 2 --port 29500 -- bokeh-jax train --config phase1 --workdir runs/ebb"""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def process_command(command: Sequence[str], *, port: int, num_processes: int,
                    process_id: int) -> list[str]:
    """The command of process ``process_id``: ``command`` plus JAX's distributed flags."""
    return [*command, "--coordinator_address", f"127.0.0.1:{port}",
            "--num_processes", str(num_processes), "--process_id", str(process_id)]


class _Prefixer:
    """Copies a child's stream to ours, ``[i] `` at the start of every line.

    A carriage return starts a line too (progress bars redraw in place), so a redrawn
    line keeps its prefix.
    """

    def __init__(self, source, sink, prefix: bytes, lock: threading.Lock):
        self.source, self.sink, self.prefix, self.lock = source, sink, prefix, lock
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        # Only whole lines (ending in \n or \r) are written, each under the shared lock:
        # a read can end mid-line, and writing the part would let another process's line
        # land inside this one.
        pending = b""
        fd = self.source.fileno()
        while chunk := os.read(fd, 65536):
            pending += chunk
            cut = max(pending.rfind(b"\n"), pending.rfind(b"\r")) + 1
            if cut:
                self._write(pending[:cut])
                pending = pending[cut:]
        if pending:  # the last line, without its end
            self._write(pending)
        self.source.close()

    def _write(self, text: bytes) -> None:
        """Writes complete lines of ``text`` (the last may lack its end), each prefixed."""
        out = bytearray()
        at_start = True
        for piece in _LINE_ENDS.split(text):  # text and line ends, alternating
            if not piece:
                continue
            if piece in (b"\n", b"\r"):
                at_start = True
            elif at_start:
                out += self.prefix
                at_start = False
            out += piece
        with self.lock:
            self.sink.write(bytes(out))
            self.sink.flush()


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def _exit_status(code: int) -> int:
    return 128 - code if code < 0 else code


class _Group:
    """The N child processes: started together, stopped together."""

    def __init__(self, commands: list[list[str]], env: dict[str, str]):
        self.procs: list[subprocess.Popen] = []
        self.streams: list[_Prefixer] = []
        self.exits: list[tuple[int, int]] = []  # (process, status) in the order they ended
        lock = threading.Lock()
        for i, cmd in enumerate(commands):
            try:
                # Their own session: a Ctrl-C reaches them through us, once; and killing a
                # group also ends the worker processes they started.
                proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, start_new_session=True)
            except OSError as e:
                self.kill()
                raise UserError(f"cannot start {cmd[0]!r} ({e.strerror or e}); check the "
                                "command after --") from None
            self.procs.append(proc)
            threading.Thread(target=self._wait, args=(i, proc), daemon=True).start()
            prefix = f"[{i}] ".encode()
            self.streams += [_Prefixer(proc.stdout, sys.stdout.buffer, prefix, lock),
                             _Prefixer(proc.stderr, sys.stderr.buffer, prefix, lock)]

    def _wait(self, i: int, proc: subprocess.Popen) -> None:
        self.exits.append((i, proc.wait()))

    def first_failure(self) -> tuple[int, int] | None:
        """(process, status) of the first process that ended with an error: the cause, when
        the others failed because it was gone."""
        return next(((i, code) for i, code in list(self.exits) if code != 0), None)

    def running(self) -> list[int]:
        # From the waiter threads: Popen.poll() answers "running" while another thread
        # is inside Popen.wait().
        ended = {i for i, _ in list(self.exits)}
        return [i for i in range(len(self.procs)) if i not in ended]

    def signal(self, sig: int) -> None:
        """``sig`` to each running process itself (the trainer handles SIGINT and SIGTERM)."""
        for i in self.running():
            try:
                self.procs[i].send_signal(sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        """SIGKILL to every process group (the processes and the workers they started)."""
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def stop(self, grace_s: float) -> None:
        """SIGTERM, then SIGKILL for whatever still runs after ``grace_s`` seconds."""
        self.signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while self.running() and time.monotonic() < deadline:
            time.sleep(POLL_S)
        self.kill()

    def finish(self) -> None:
        for p in self.procs:
            p.wait()
        for s in self.streams:
            s.thread.join(timeout=5)


def launch(command: Sequence[str], num_processes: int, *, port: int | None = None,
           grace_s: float = 5.0, env: dict[str, str] | None = None) -> int:
    """Runs ``command`` as ``num_processes`` processes of one run; returns the exit status
    (0 when all succeed, else the status of the first process that failed)."""
    if num_processes < 1:
        raise UserError(f"-n {num_processes}: give at least 1 process")
    if not command:
        raise UserError("no command to launch: put it after --, e.g. "
                        "-n 2 -- python train.py --config demo --workdir runs/demo")
    port = port or free_port()
    env = dict(os.environ if env is None else env)
    env.setdefault("PYTHONUNBUFFERED", "1")  # lines arrive as they are printed
    commands = [process_command(command, port=port, num_processes=num_processes,
                                process_id=i) for i in range(num_processes)]
    print(f"launch: {num_processes} process(es), coordinator 127.0.0.1:{port}", flush=True)
    group = _Group(commands, env)
    requests = []

    def on_signal(signum, frame):
        requests.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    passed_on = False  # a stop request went to the processes: they stop by themselves
    failed = None
    try:
        while group.running():
            while requests:
                sig = requests.pop(0)
                if passed_on:
                    group.kill()  # the second request: no more waiting
                    continue
                passed_on = True
                print(f"launch: passing {signal.Signals(sig).name} on to every process "
                      "(again to kill them)", file=sys.stderr, flush=True)
                group.signal(sig)
            if failed is None and (failed := group.first_failure()) and not passed_on:
                i, code = failed
                print(f"launch: process {i} {_describe(code)}; stopping the other "
                      f"{len(group.running())} process(es)", file=sys.stderr, flush=True)
                group.stop(grace_s)
            time.sleep(POLL_S)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        group.kill()  # nothing is left running, whatever happened here
        group.finish()
    if failed is None and (failed := group.first_failure()):
        print(f"launch: process {failed[0]} {_describe(failed[1])}", file=sys.stderr,
              flush=True)
    return 0 if failed is None else _exit_status(failed[1])



def main(argv: Sequence[str] | None = None, prog: str = "python -m bokeh_jax.launch") -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" in argv:
        split = argv.index("--")
        own, command = argv[:split], argv[split + 1:]
    else:
        own, command = argv, []
    parser = ArgumentParser(
        prog=prog, usage=f"{prog} -n N [--port P] [--grace-period S] -- COMMAND ...",
        description=__doc__.split("\n\n")[0] + "\n\n" + __doc__.split("\n\n")[2],
        epilog=EXAMPLES.format(prog=prog))
    parser.add_argument("-n", "--num-processes", type=int, required=True,
                        help="number of processes to start")
    parser.add_argument("--port", type=int, default=None,
                        help="coordinator port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--grace-period", type=float, default=5.0,
                        help="seconds the other processes get to exit after one fails, "
                             "before they are killed (default: %(default)s)")
    args = parser.parse_args(own)
    return launch(command, args.num_processes, port=args.port, grace_s=args.grace_period)


if __name__ == "__main__":
    sys.exit(run_main(main))
