"""A watchdog for one build: stops it when it runs past the build timeout or a newer push supersedes it.

A thread checks twice a second and interrupts the job's main thread with SIGUSR2, whose handler
raises :class:`BuildTimedOut` or :class:`BuildSuperseded` wherever the build is (a docker build
stream, a pip subprocess wait, ...), so every step is covered without each one polling.
RQ's own job timeout (SIGALRM) is left off for builds; this guard replaces it.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import redis

from core import keys
from core.errors import BuildFailed, SpacesError

log = logging.getLogger(__name__)


class BuildTimedOut(BuildFailed):
    pass


class BuildSuperseded(SpacesError):
    pass


@dataclass
class _GuardState:
    armed: bool = True
    why: SpacesError | None = None  # set by the watcher: what the handler raises


@contextlib.contextmanager
def build_guard(r: redis.Redis, space_id: str, build_id: str, timeout: float, *, poll: float = 0.5) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("build_guard must run in the job's main thread")
    state = _GuardState()
    main_id = threading.main_thread().ident
    assert main_id is not None  # the main thread is running
    stop = threading.Event()

    def handler(signum, frame) -> None:  # signal handler signature
        if state.armed and state.why is not None:
            state.armed = False
            raise state.why

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while not stop.wait(poll):
            if time.monotonic() > deadline:
                state.why = BuildTimedOut(f"build timed out after {timeout:.0f} s")
            elif r.hget(keys.space(space_id), "latest_build") != build_id:
                state.why = BuildSuperseded("superseded by a newer push")
            else:
                continue
            signal.pthread_kill(main_id, signal.SIGUSR2)
            return

    previous = signal.signal(signal.SIGUSR2, handler)
    thread = threading.Thread(target=watch, name=f"build-guard-{build_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        state.armed = False
        stop.set()
        thread.join()
        # A signal sent just before disarming must not kill the process later.
        signal.signal(signal.SIGUSR2, previous if callable(previous) else signal.SIG_IGN)
