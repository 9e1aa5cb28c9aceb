"""Crashes: a serving app whose container stops on its own.

The monitor (:mod:`worker.monitor`) notices within a second. The Space goes to ``RUNTIME_ERROR``
with the reason — exit code or "memory limit (N MiB) exceeded", and the app's last log lines —
its visitors are sent to the waker (which shows that reason), and the container is started again
after 1, 2, 4, 8 s (``MAX_RESTARTS`` tries). An app that keeps crashing stays in ``RUNTIME_ERROR``
until its owner pushes a fix or restarts it. A Space that has run for ``STABLE_AFTER`` seconds
since its last restart starts counting afresh.
"""

from __future__ import annotations

import logging
import time

import redis

from core import envvars, store
from core.errors import SpacesError
from core.hardware import space_limits
from core.models import Space
from core.queues import enqueue_crash_restart
from core.settings import Settings, get_settings
from core.stages import Stage
from worker.backends import RuntimeBackend, backend_for, runtime_of, serving_fields
from worker.health import failure_reason
from worker.jobs import OWNER_STAGES, route_to, space_lock, try_space_lock
from worker.sleep import bring_up, instance_of, route_to_waker

log = logging.getLogger(__name__)

MAX_RESTARTS = 4
STABLE_AFTER = 60.0
PENDING = "queued"  # restart_at while the restart job is queued or running
ALIVE = {"running", "paused", "restarting"}


def backoff(attempt: int) -> float:
    return float(2 ** (attempt - 1))


def record_crash(r: redis.Redis, space: Space, reason: str, settings: Settings) -> None:
    """Say why the app stopped, send visitors to the waker, and schedule a restart or give up.
    The caller holds the Space's lock."""
    attempt = int(space.crash_count or 0) + 1
    reason = envvars.mask(reason, envvars.secret_values(r, space.id))
    try:
        route_to_waker(r, space, settings)
    except SpacesError as exc:
        log.warning("%s: %s", space.id, exc.message)
    if attempt > MAX_RESTARTS:
        message = f"{reason}\n(gave up after {MAX_RESTARTS} restarts; push a fix or restart the Space)"
        store.set_stage(r, space.id, Stage.RUNTIME_ERROR, message=message, running_build="",
                        restart_at="", crash_count=str(attempt))
        log.warning("%s keeps crashing; gave up: %s", space.id, reason.splitlines()[0])
        return
    delay = backoff(attempt)
    message = f"{reason}\n(restarting in {delay:.0f} s, attempt {attempt} of {MAX_RESTARTS})"
    store.set_stage(r, space.id, Stage.RUNTIME_ERROR, message=message, restart_at=str(time.time() + delay),
                    crash_count=str(attempt))
    log.warning("%s crashed (%s); restarting in %.0f s", space.id, reason.splitlines()[0], delay)


class CrashWatcher:
    def __init__(self, r: redis.Redis, runtime: RuntimeBackend, settings: Settings) -> None:
        self.r, self.backend, self.settings = r, runtime, settings

    def check(self, spaces: list[Space], states: dict[str, tuple[str, str]]) -> None:
        now = time.time()
        for space in spaces:
            stage = Stage(space.stage)
            restart_at = space.restart_at or ""
            if stage == Stage.RUNTIME_ERROR and restart_at and restart_at != PENDING and float(restart_at) <= now:
                store.update_space(self.r, space.id, restart_at=PENDING)
                enqueue_crash_restart(self.r, space.id)
            elif stage.is_serving and space.instance and runtime_of(space) == self.backend.name and not restart_at:
                if states.get(space.instance, ("gone", ""))[0] not in ALIVE:
                    self._crashed(space)
                elif int(space.crash_count or 0) and now - float(space.updated_at or now) > STABLE_AFTER:
                    store.update_space(self.r, space.id, crash_count="0")

    def _crashed(self, space: Space) -> None:
        # Lock taken: a deploy, wake or delete is changing it; look again next time.
        with try_space_lock(self.r, space.id, 60) as fresh:
            if not fresh or fresh.instance != space.instance or not Stage(fresh.stage).is_serving:
                return
            inst = self.backend.poll(space.instance)
            if inst is not None and inst.running:
                return
            memory_mb = space_limits(fresh, self.settings).memory_mb
            record_crash(self.r, fresh, failure_reason(self.backend, space.instance, memory_mb), self.settings)


def restart_crashed(space_id: str) -> None:
    """RQ entry point: start a crashed Space's container again and route visitors back to it."""
    settings, r = get_settings(), store.get_redis()
    with space_lock(r, space_id, settings.startup_timeout + 120):
        space = store.get_space(r, space_id)
        if not space or space.restart_at != PENDING or space.stage != Stage.RUNTIME_ERROR.value:
            return
        runtime = backend_for(r, space)
        try:
            inst, _ = bring_up(r, runtime, space, settings, instance_of(runtime, space))
            route_to(r, space_id, inst.target, root_path=inst.root_path)
        except SpacesError as exc:
            record_crash(r, space, exc.message, settings)
            return
        store.set_stage(r, space_id, Stage.RUNNING, **serving_fields(runtime, inst), restart_at="", unless=OWNER_STAGES)
        log.info("%s restarted after a crash (attempt %s)", space_id, space.crash_count)
