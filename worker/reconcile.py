"""The reconciler: compare what should run and be routed with what does, and repair the difference.

Runs at worker start and every ``--interval`` seconds (``python -m worker.reconcile``):

- a Space whose record says it serves build N gets a running instance of build N (a stopped one
  is started again by the pass at ``make up``; while the platform runs, an app that exited has
  crashed and the monitor reports and restarts it) and a route to it; a missing one is recreated;
- a route's access check matches the Space's visibility (private Spaces are checked by the controller);
- the controller's own route is (re)written;
- instances of Spaces that no longer exist are removed.

Healthy instances are adopted as they are, never restarted. A pass takes a Redis lock and is
skipped while another pass holds it, so two reconcilers can run at once.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time

import redis

from core import envvars, keys, services, store
from core.errors import SpacesError
from core.models import Space
from core.processes import stop_orphan_git_backends
from core.queues import enqueue_build, enqueue_delete, enqueue_deploy_wait, job_alive
from core.replies import maybe_text
from core.settings import Settings, get_settings
from core.stages import DEPLOY_ENDED, BuildStatus, DeployState, Stage
from proxy.routes import check_routes, space_route_target
from worker.backends import Capability, RuntimeBackend, all_backends, backend_for, serving_fields
from worker.jobs import holder_dead, route_to, try_space_lock
from worker.sleep import (
    TIER_PAUSED,
    TIER_STOPPED,
    bring_up,
    instance_of,
    park,
    route_to_waker,
)

log = logging.getLogger(__name__)

LOCK = keys.RECONCILE_LOCK
LOCK_TTL = 180  # a pass killed without cleanup blocks others for at most this long
LOST_AFTER = 15.0  # seconds after its request before a build or deploy without a live job counts as lost
LOCK_WAIT = 200  # a one-shot pass (make up) waits this long for a running one


# Stages in which a Space with a serving build is meant to be off.
RESTING = {Stage.PAUSED, Stage.STOPPED, Stage.SLEEPING, Stage.DELETING}


def wants_running(space: Space | None) -> bool:
    """True if the records say an instance of ``running_build`` should serve (even while a newer push failed)."""
    if not space or not space.running_build or space.restart_at:
        return False  # restart_at: a crash being restarted with backoff (worker.crashes)
    return Stage(space.stage) not in RESTING


def sent_to_waker(space: Space | None) -> bool:
    """True for a Space whose visitors the waker answers: sleeping, or paused by its owner."""
    return space is not None and bool(space.running_build) and space.stage in (Stage.SLEEPING.value, Stage.PAUSED.value)


def reconcile_space(r: redis.Redis, space: Space, settings: Settings, *, revive_stopped: bool = True) -> None:
    if not wants_running(space) and not sent_to_waker(space):
        return
    # Under the lock, as it is then (a deploy may have switched it); a Space being deployed or
    # deleted is skipped this pass.
    with try_space_lock(r, space.id, 300) as current:
        if current is None:
            return  # the lock is taken, or the Space is gone
        if wants_running(current):
            _repair(r, backend_for(r, current), current, settings, revive_stopped=revive_stopped)
        elif sent_to_waker(current):
            _repair_resting(r, backend_for(r, current), current, settings)


def _repair(r: redis.Redis, backend: RuntimeBackend, space: Space, settings: Settings, *, revive_stopped: bool) -> None:
    mine = backend.instances_of(space.id)
    starting = starting_instance(r, space)  # a version whose deploy waits for its app: not serving yet
    serving = [i for i in mine if i.build_id == space.running_build and i.id != starting]
    # The recorded instance if it is there, else any of the serving build (e.g. after a lost record).
    inst = next((i for i in serving if i.id == space.instance), serving[0] if serving else None)
    for stale in (i for i in mine if (inst is None or i.id != inst.id) and i.id != starting):
        log.info("reconcile: removing instance %s of %s (left by an old or interrupted deploy)", stale.id[:12], space.id)
        backend.remove(stale.id)
    if inst is not None and not inst.running and not revive_stopped and backend.can(Capability.CRASHES):
        return  # an app that exited while serving crashed: the monitor reports and restarts it (worker.crashes)
    try:
        # Paused by a sleep that did not finish, stopped, or missing: thaw, start or recreate it.
        if inst is None or inst.paused or not inst.running or not inst.target:
            inst, how = bring_up(r, backend, space, settings, inst)
            log.info("reconcile: %s serves again (its instance was %s)", space.id, how)
        if space_route_target(r, space) != inst.target:
            log.info("reconcile: repairing the route of %s", space.id)
            route_to(r, space.id, inst.target, root_path=inst.root_path)
        wanted = serving_fields(backend, inst)
        if (space.instance, space.target, space.runtime) != (wanted["instance"], wanted["target"], wanted["runtime"]):
            store.update_space(r, space.id, **wanted)
    except SpacesError as exc:
        message = envvars.mask(exc.message, envvars.secret_values(r, space.id))
        if not backend.can(Capability.CRASHES):  # nothing of the app's own failed (e.g. the shared static server): next pass
            log.warning("reconcile: %s cannot be served now, trying again next pass: %s", space.id, message)
            return
        log.warning("reconcile: %s cannot be brought back: %s", space.id, message)
        # Forget the serving build so the next pass does not retry a broken app forever.
        store.set_stage(r, space.id, Stage.RUNTIME_ERROR, message=message, running_build="")


def starting_instance(r: redis.Redis, space: Space) -> str:
    """The instance the Space's latest deploy started and still waits for (its wait is queued in
    slices, without the Space's lock between them); empty if there is none."""
    if not space.latest_build:
        return ""
    build = store.get_build(r, space.latest_build)
    return build.instance if build is not None and build.deploy == DeployState.STARTING else ""


def _repair_resting(r: redis.Redis, backend: RuntimeBackend, space: Space, settings: Settings) -> None:
    """A sleeping or owner-paused Space keeps its route, pointed at the waker; an owner-paused
    one runs no container."""
    if space_route_target(r, space) != settings.waker_url:
        log.info("reconcile: pointing the route of %s (%s) at the waker", space.id, space.stage)
        try:
            route_to_waker(r, space, settings)
        except SpacesError as exc:
            log.warning("reconcile: %s", exc.message)
    if space.stage == Stage.SLEEPING.value and space.sleep_tier == TIER_PAUSED:
        inst = instance_of(backend, space)
        if inst is None or not inst.paused:  # stopped meanwhile (make down, a reboot): waking takes a start
            store.update_space(r, space.id, sleep_tier=TIER_STOPPED)
    if space.stage == Stage.PAUSED.value:
        park(r, space, settings)


STARTING = {Stage.APP_STARTING.value, Stage.RUNNING_APP_STARTING.value}
BUILDING = {Stage.BUILDING.value, Stage.RUNNING_BUILDING.value}


def release_dead_locks(r: redis.Redis, space: Space) -> None:
    """A Space lock whose holder died (``kill -9`` of a deploy, a wake, a sleep) is released at
    once instead of blocking the Space until it expires."""
    token = maybe_text(r.get(keys.space_lock(space.id)))
    if token and holder_dead(token):
        log.warning("reconcile: releasing the lock on %s left by a process that died", space.id)
        r.delete(keys.space_lock(space.id))


def resume_abandoned(r: redis.Redis, space: Space) -> None:
    """A build, deploy or deletion whose worker died (``kill -9``, a reboot) is queued again."""
    if space.stage == Stage.DELETING.value:
        if not job_alive(space.delete_job):
            log.warning("reconcile: the deletion of %s lost its worker; queueing it again", space.id)
            enqueue_delete(r, space.id)
        return
    if not space.latest_build:
        return
    build = store.get_build(r, space.latest_build)
    if build is None:
        return
    if build.deploy == DeployState.STARTING and build.instance:
        # The deploy's app was started and its wait lost its worker (whatever the stage says by
        # now: a crash restart of the old version may have moved it on): the wait goes on where it
        # was, with the same app and the same deadline.
        if not job_alive(build.deploy_job):
            log.warning("reconcile: the deploy of %s #%s lost its wait; queueing it again", space.id, build.id)
            enqueue_deploy_wait(r, space.id, build.id, build.instance)
        return
    if space.stage not in STARTING | BUILDING:
        return
    status = build.status
    if status in (BuildStatus.QUEUED.value, BuildStatus.RUNNING.value):
        field = "build_job"
    elif status == BuildStatus.SUCCEEDED.value and build.deploy not in DEPLOY_ENDED:
        field = "deploy_job"
    else:
        return
    if job_alive(build.build_job if field == "build_job" else build.deploy_job):
        return
    # A job queued a moment ago may not have its id recorded yet (it is written after the job is
    # queued): only a build or deploy asked for a while ago is taken for lost.
    asked = build.queued_at if field == "build_job" else build.deploy_requested_at or build.finished_at
    if time.time() - float(asked or 0) < LOST_AFTER:
        return
    fresh = store.get_space(r, space.id)
    if fresh is None or fresh.stage != space.stage or fresh.latest_build != build.id:
        return  # it moved on meanwhile
    if field == "build_job":
        log.warning("reconcile: the build of %s #%s lost its worker; queueing it again", space.id, build.id)
        enqueue_build(r, space.id, build.id)
        return
    log.warning("reconcile: the deploy of %s #%s lost its worker; queueing it again", space.id, build.id)
    services.deploy(r, space.id, build)


def reconcile_once(r: redis.Redis, settings: Settings, *, wait: float = 0, revive_stopped: bool = True) -> bool:
    """One pass; returns False if another reconciler held the lock for ``wait`` seconds.
    ``revive_stopped=False`` (the periodic passes) leaves exited containers of serving Spaces to the
    monitor, which records why they stopped; the pass at ``make up`` starts them itself."""
    lock = r.lock(LOCK, timeout=LOCK_TTL)
    if not lock.acquire(blocking=wait > 0, blocking_timeout=wait or None):
        return False
    try:
        spaces = store.list_spaces(r)
        for line in check_routes(r, spaces):
            log.info("reconcile: %s", line)
        for space in spaces:
            try:
                release_dead_locks(r, space)
                resume_abandoned(r, space)
                reconcile_space(r, space, settings, revive_stopped=revive_stopped)
            except Exception:  # one Space's surprise must not leave the others unrepaired
                log.exception("reconcile: repairing %s failed; the pass goes on with the other Spaces", space.id)
        for backend in all_backends():
            for inst in backend.list_instances():
                if inst.space_id and store.get_space(r, inst.space_id) is None:
                    log.info("reconcile: removing orphan instance %s of deleted Space %s", inst.id[:12], inst.space_id)
                    backend.remove(inst.id)
        if stopped := stop_orphan_git_backends(settings.repos_dir):
            log.warning("reconcile: stopped %d git http-backend(s) left behind by a controller that is gone", stopped)
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:
            log.warning("reconcile: lock expired before the pass ended")
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description="Repair containers and routes to match the records.")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between passes; 0 = one pass")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings, r = get_settings(), store.get_redis()
    # On SIGTERM, leave through the finally blocks so the pass lock is released.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    while True:
        try:
            one_shot = args.interval <= 0
            done = reconcile_once(r, settings, wait=LOCK_WAIT if one_shot else 0, revive_stopped=one_shot)
            if not done and args.interval <= 0:
                log.warning("another reconciler held the lock for %s s; this pass was skipped", LOCK_WAIT)
        except Exception:  # the loop must outlive any one failed pass
            log.exception("reconcile pass failed")
            if args.interval <= 0:
                sys.exit(1)
        if args.interval <= 0:
            return
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
