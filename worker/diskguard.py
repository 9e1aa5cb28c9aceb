"""The disk an app may fill outside ``/data``: measured, shown, and enforced by stopping it.

Every ``disk_check_seconds`` the usage thread of the monitor (:mod:`worker.usage`) measures each
running app (:meth:`RuntimeBackend.disk_usage`). An app whose writable layer holds more than its
tier's ``disk_mb``, or more than ``files`` entries, is stopped and removed (which frees what it
wrote): the Space says ``RUNTIME_ERROR`` with what it wrote and what is allowed, visitors are sent
to the waker, and it is not restarted by itself (it would only fill the disk again). A restart or a
push starts a fresh container.

Between two measurements an app can write more than its limit; the limit bounds what it keeps,
not how fast it writes (the filesystem has no quota to stop the write itself: :mod:`worker.diskuse`).
"""

from __future__ import annotations

import logging

import redis

from core import store
from core.errors import SpacesError
from core.hardware import Limits, space_limits
from core.models import Space
from core.settings import Settings
from core.stages import Stage
from worker.backends import RuntimeBackend
from worker.diskuse import DiskUse
from worker.jobs import OWNER_STAGES, try_space_lock
from worker.sleep import route_to_waker

log = logging.getLogger(__name__)

MIB = 1024 * 1024


def size_text(count: int) -> str:
    if count >= 1024 * MIB:
        return f"{count / (1024 * MIB):.1f} GiB"
    return f"{count / MIB:.0f} MiB"


def over_limit(use: DiskUse, limits: Limits, tier: str) -> str:
    """Why ``use`` is more than ``limits`` allow, or ''."""
    advice = "write large or many files to /data (persistent storage), or keep them in memory"
    if not use.writable.complete or use.writable.files > limits.files:
        return (f"the app made more than {limits.files:,} files outside /data; {tier} allows {limits.files:,} "
                f"({advice})")
    if use.writable.bytes > limits.disk_mb * MIB:
        return (f"the app wrote {size_text(use.writable.bytes)} outside /data; {tier} allows "
                f"{size_text(limits.disk_mb * MIB)} ({advice})")
    return ""


def check(r: redis.Redis, runtime: RuntimeBackend, space: Space, instance_id: str, use: DiskUse,
          settings: Settings) -> bool:
    """Stop the instance if ``use`` is over its Space's limits; True if it was stopped."""
    reason = over_limit(use, space_limits(space, settings), space.hardware or "cpu-basic")
    if not reason:
        return False
    with try_space_lock(r, space.id, 60) as fresh:
        if not fresh or fresh.instance != instance_id or not Stage(fresh.stage).is_serving:
            return False  # moved on meanwhile (a deploy, a sleep, a deletion); measured again next time
        try:
            route_to_waker(r, fresh, settings)
        except SpacesError as exc:
            log.warning("%s: %s", space.id, exc.message)
        runtime.remove(instance_id)
        store.set_stage(r, space.id, Stage.RUNTIME_ERROR, unless=OWNER_STAGES, restart_at="",
                        message=f"stopped: {reason}\n(push a fix or restart the Space)")
    log.warning("stopped %s: %s", space.id, reason)
    return True
