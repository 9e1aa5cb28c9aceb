"""An RQ worker whose work horse does not outlive it.

RQ runs each job in a forked "work horse" in a process group of its own. When the worker itself
dies (``kill -9``, the OOM killer), the horse goes on — while the reconciler sees the job's worker
gone and queues the job again: the same build (or deploy) would run twice at once. Here the horse
asks the kernel for SIGTERM when its parent dies (``PR_SET_PDEATHSIG``); the handler raises
:class:`WorkerGone` in the job's main thread, so the job's ``finally`` blocks run (a build sandbox
container is removed, locks are let go), and a watchdog ends the horse for good shortly after.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import threading

from rq import Worker

log = logging.getLogger("spaces.horse")

PR_SET_PDEATHSIG = 1
GRACE_SECONDS = 10.0


class WorkerGone(BaseException):
    """The worker that started this job died; the job stops here (it will be queued again)."""


def _watchdog(grace: float) -> None:
    timer = threading.Timer(grace, lambda: os.kill(os.getpid(), signal.SIGKILL))
    timer.daemon = True
    timer.start()


def on_parent_death(signum: int, frame) -> None:  # signal handler signature
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once is enough
    _watchdog(GRACE_SECONDS)
    log.warning("the worker that started this job is gone: stopping the job (pid %d)", os.getpid())
    raise WorkerGone("the worker running this job died")


def bind_to_parent(parent_pid: int) -> None:
    """Make the calling process get SIGTERM when ``parent_pid`` (its parent) dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:  # the parent died before the request was made
        os.kill(os.getpid(), signal.SIGTERM)


class BoundWorker(Worker):
    """``rq.Worker`` whose horse stops when the worker dies."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._worker_pid = os.getpid()

    def setup_work_horse_signals(self) -> None:
        super().setup_work_horse_signals()
        signal.signal(signal.SIGTERM, on_parent_death)
        bind_to_parent(self._worker_pid)
