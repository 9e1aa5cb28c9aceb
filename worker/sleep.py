"""Sleep and wake: the two tiers of an idle Space, and bringing it back.

A Space idle for its sleep time (HF's ``gcTimeout``) goes to sleep in two tiers:

1. **paused** — its route is pointed at the waker, then its container is frozen (``docker pause``).
   Memory is kept, so waking takes milliseconds.
2. **stopped** — after ``min(sleep time, SPACES_PAUSED_KEEP)`` more, the container is stopped and its
   memory freed. Waking starts it again and waits until the app answers.

The route never disappears while a Space sleeps: it points at the waker (:mod:`worker.waker`),
which wakes the Space on the first visit. Callers hold the Space's lock (:func:`worker.jobs.space_lock`).
"""

from __future__ import annotations

import logging
import time

import redis

from core import metrics, store
from core.errors import RuntimeFailed, SpacesError
from core.hardware import space_limits
from core.models import Space
from core.settings import Settings, get_settings
from core.stages import Stage
from proxy.routes import space_route_target, write_space_route
from worker.backends import Capability, Instance, RuntimeBackend, all_backends, backend_for, can, serving_fields
from worker.health import wait_healthy
from worker.jobs import OWNER_STAGES, run_spec, space_lock

log = logging.getLogger(__name__)

TIER_PAUSED = "paused"
TIER_STOPPED = "stopped"


def idle_since(space: Space) -> float:
    """When the Space was last seen busy (or last changed stage, whichever is later)."""
    return max(float(space.last_active or 0), float(space.updated_at or 0))


def sleeps(space: Space) -> bool:
    """Only Spaces whose backend can freeze and stop them sleep (a static Space costs a symlink on a shared server)."""
    return bool(space.running_build) and bool(space.instance) and can(space, Capability.SLEEP)


def route_to_waker(r: redis.Redis, space: Space, settings: Settings) -> None:
    """Point the Space's host at the waker and wait until Traefik does so (its access check as
    the Space's record says when the route is written: :func:`proxy.routes.write_space_route`)."""
    if space_route_target(r, space) != settings.waker_url:
        write_space_route(r, space.id, settings.waker_url)


def instance_of(backend: RuntimeBackend, space: Space) -> Instance | None:
    inst = backend.poll(space.instance) if space.instance else None
    return inst if inst is not None and inst.build_id == space.running_build else None


def put_to_sleep(r: redis.Redis, backend: RuntimeBackend, space: Space, settings: Settings) -> None:
    """Tier 1: route to the waker first (no visitor reaches a frozen app), then freeze the container."""
    route_to_waker(r, space, settings)
    inst = instance_of(backend, space)
    tier = TIER_STOPPED
    if inst is not None and inst.running:
        backend.pause(inst.id)
        tier = TIER_PAUSED
    # Paused meanwhile: the pause job, queued behind this, stops the frozen container.
    store.set_stage(r, space.id, Stage.SLEEPING, sleep_tier=tier, slept_at=str(time.time()), unless=OWNER_STAGES)
    log.info("%s went to sleep after %.0f s idle (%s)", space.id, time.time() - idle_since(space), tier)


def deepen_sleep(r: redis.Redis, backend: RuntimeBackend, space: Space) -> None:
    """Tier 2: stop the paused container, freeing its memory."""
    inst = instance_of(backend, space)
    if inst is not None:
        backend.stop(inst.id, timeout=5)
    store.update_space(r, space.id, sleep_tier=TIER_STOPPED)
    log.info("%s sleeps deeper: container stopped", space.id)


def bring_up(
    r: redis.Redis, backend: RuntimeBackend, space: Space, settings: Settings, inst: Instance | None,
) -> tuple[Instance, str]:
    """Make ``inst``, the serving build's instance (None if there is none), run and answer: thaw
    it, start it, or create one (a backend that cannot sleep starts a new one). Returns the
    instance and how (``paused``, ``stopped``, ``missing`` or ``running``)."""
    build = store.get_build(r, space.running_build)
    if build is None:
        raise SpacesError(f"build {space.running_build} of {space.id} is gone")
    sleeps = backend.can(Capability.SLEEP)
    if inst is not None and inst.paused and sleeps:
        inst = backend.unpause(inst.id)
        if inst.running and inst.target:
            return inst, TIER_PAUSED
    if inst is not None and inst.running and inst.target:
        how = "running"  # e.g. started by a wake whose process died: it may still be starting
    elif inst is not None and sleeps:
        how, inst = TIER_STOPPED, backend.resume(inst.id)
    else:
        how = "missing" if inst is None else TIER_STOPPED
        inst = backend.start(run_spec(space, build, settings, r))
    if inst.ready:
        return inst, how
    wait_healthy(backend, inst.id, inst.target,
                 timeout=float(build.startup(settings.startup_timeout)),
                 memory_mb=space_limits(space, settings).memory_mb)
    return inst, how


def park(r: redis.Redis, space: Space, settings: Settings) -> None:
    """An owner-paused Space: visitors go to the waker (which says so) and nothing of it runs."""
    if space.running_build:
        route_to_waker(r, space, settings)
    for backend in (b for b in all_backends() if b.can(Capability.SLEEP)):  # others run nothing to stop
        for inst in backend.instances_of(space.id):
            if inst.running:
                log.info("stopping %s, paused by its owner", space.id)
                backend.stop(inst.id, timeout=5)


def pause_space(space_id: str) -> None:
    """RQ entry point: the owner paused the Space."""
    settings, r = get_settings(), store.get_redis()
    with space_lock(r, space_id, 120):
        space = store.get_space(r, space_id)
        if space is not None and space.stage == Stage.PAUSED.value:
            park(r, space, settings)


def wake(r: redis.Redis, space_id: str, settings: Settings) -> str:
    """Wake a sleeping Space (the caller holds its lock). Returns the tier it woke from; raises
    RuntimeFailed (and records RUNTIME_ERROR) if the app no longer starts."""
    space = store.get_space(r, space_id)
    if space is None or space.stage != Stage.SLEEPING.value:
        return "awake"
    backend = backend_for(r, space)
    started = time.monotonic()
    try:
        inst, how = bring_up(r, backend, space, settings, instance_of(backend, space))
    except SpacesError as exc:
        store.set_stage(r, space_id, Stage.RUNTIME_ERROR, message=f"could not wake up: {exc.message}", unless=OWNER_STAGES)
        raise RuntimeFailed(exc.message) from exc
    # Traefik picks the route up within a tenth of a second; meanwhile the waker relays.
    write_space_route(r, space_id, inst.target, wait=False)
    store.set_stage(r, space_id, Stage.RUNNING, unless=OWNER_STAGES, **serving_fields(backend, inst), sleep_tier="",
                    last_active=str(time.time()))
    seconds = time.monotonic() - started
    metrics.inc(r, "spaces_wakes_total", tier=how)
    metrics.observe(r, "spaces_wake_duration_seconds", seconds, metrics.WAKE_BUCKETS, tier=how)
    log.info("woke %s from %s in %.3f s", space_id, how, seconds)
    return how
