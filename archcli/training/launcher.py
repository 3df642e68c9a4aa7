"""`archcli train --n-workers N`: start N worker processes on this machine, as torchrun would.

Each worker is `python -m archcli train …` with torchrun's environment (RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR, MASTER_PORT) and, on the CPU, one BLAS thread. The launcher only
watches: when a worker fails, it stops the others at once (rather than leaving them to time out
in a collective) and says which rank failed and how.
"""
import os
import signal
import socket
import subprocess
import sys
import time
from typing import List, Optional, Sequence

from ..errors import ArchcliError

THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
POLL_S = 0.2
GRACE_S = 10.0


class WorkerFailed(ArchcliError):
    """A worker process exited with an error (its own message, if any, is above)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def free_port() -> int:
    """A TCP port free on this machine now, for the workers' rendezvous."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def worker_env(rank: int, n_workers: int, port: int, *, cpu: bool) -> dict:
    env = dict(os.environ, RANK=str(rank), WORLD_SIZE=str(n_workers), LOCAL_RANK=str(rank),
               LOCAL_WORLD_SIZE=str(n_workers), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    if cpu:  # N processes on N cores: each its own BLAS thread, unless the user chose otherwise
        for var in THREAD_VARS:
            env.setdefault(var, "1")
    return env


def launch(argv: Sequence[str], n_workers: int, *, cpu: bool = True) -> None:
    """Run `archcli ARGV` in `n_workers` processes; return when all succeed, raise WorkerFailed
    naming the rank when one fails (after stopping the rest)."""
    port = free_port()
    procs: List[subprocess.Popen] = []
    try:
        for rank in range(n_workers):
            procs.append(subprocess.Popen([sys.executable, "-m", "archcli", *argv],
                                          env=worker_env(rank, n_workers, port, cpu=cpu)))
        while True:
            codes = [proc.poll() for proc in procs]
            failed = [(rank, code) for rank, code in enumerate(codes) if code not in (None, 0)]
            if failed:
                _stop(procs)
                raise WorkerFailed(_failure_message(failed, n_workers), 1 if failed[0][1] < 0 else failed[0][1])
            if all(code == 0 for code in codes):
                return
            time.sleep(POLL_S)
    except BaseException:
        _stop(procs)
        raise


def _failure_message(failed, n_workers: int) -> str:
    def how(code: int) -> str:
        if code < 0:
            try:
                return f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"was killed by signal {-code}"
        return f"exited with code {code}"

    shown = "; ".join(f"worker rank {rank} {how(code)}" for rank, code in failed)
    others = f"stopped the other {n_workers - len(failed)} worker(s)" if len(failed) < n_workers else "no worker left"
    return (f"{shown}: {others}. model-best/model-last in the output directory, if any, are the last complete "
            "checkpoint (`--resume` continues from it)")


def _stop(procs: List[subprocess.Popen], grace: Optional[float] = GRACE_S) -> None:
    """SIGTERM the workers still running, then SIGKILL what is left after `grace` seconds."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + (grace or 0)
    for proc in procs:
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
