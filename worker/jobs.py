"""Run jobs (RQ queue ``runs``): deploy a built version of a Space, delete a Space.

Container Spaces deploy blue/green: the new container starts beside the old one; only once it
answers HTTP is the route switched and confirmed by Traefik; then the old container is drained
and removed. If the new one fails, the old one keeps serving and the stage says why
(``RUNTIME_ERROR``). The wait for a new app is cut into slices (``deploy_wait_slice``): one
that has not answered by the end of a slice waits on in a new job at the back of the queue.
Static Spaces go the same way on the static backend (its start publishes the site and checks it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import time
import uuid
from collections.abc import Iterator

import redis
import redis.lock

from core import envvars, keys, metrics, store
from core.errors import SpacesError
from core.hardware import space_limits, storage_gb
from core.models import Build, Space
from core.processes import gone_here
from core.queues import enqueue_deploy_wait
from core.settings import Settings, get_settings
from core.stages import DeployState, Stage
from proxy.routes import delete_space_route, write_space_route
from worker.backends import Instance, RunSpec, RuntimeBackend, all_backends, backend_for_build, get_backend, serving_fields
from worker.health import wait_drained, wait_healthy

log = logging.getLogger(__name__)

DRAIN_SECONDS = 30.0  # longest an old version may finish its in-flight requests
# Stages only the owner's acts set (pause, delete): a worker finishing something never writes over them.
OWNER_STAGES = (Stage.PAUSED, Stage.DELETING)
MIN_SLICE = 0.5  # the shortest slice of a deploy's wait (several health checks)


def space_env(space: Space, build: Build, settings: Settings) -> dict[str, str]:
    """The environment an app gets, as on Hugging Face."""
    owner, name = space.id.split("/", 1)
    port = str(build.app_port)
    limits = space_limits(space, settings)
    memory = limits.memory_mb
    return {
        "SPACE_ID": space.id,
        "SPACE_HOST": settings.space_host(space.subdomain),
        "SPACE_AUTHOR_NAME": owner,
        "SPACE_REPO_NAME": name,
        "SPACE_TITLE": build.title or space.title or name,
        "CPU_CORES": f"{limits.cpus:g}",
        "MEMORY": f"{memory // 1024}Gi" if memory % 1024 == 0 else f"{memory}Mi",
        "GRADIO_SERVER_NAME": "0.0.0.0",
        "GRADIO_SERVER_PORT": port,
        "PORT": port,
        "HOME": "/home/user",
        # With persistent storage, Hugging Face caches (models, datasets) live on it, as on HF.
        **({"HF_HOME": "/data/.huggingface"} if space.storage else {}),
    }


def run_spec(space: Space, build: Build, settings: Settings, r: redis.Redis) -> RunSpec:
    return RunSpec(
        space_id=space.id,
        build_id=build.id,
        image=build.image,
        app_port=int(build.app_port),
        env={**envvars.environment(r, space.id), **space_env(space, build, settings)},
        memory_mb=space_limits(space, settings).memory_mb,
        cpus=space_limits(space, settings).cpus,
        pids=space_limits(space, settings).pids,
        storage_gb=storage_gb(space.storage, settings),
        host=settings.space_host(space.subdomain),
        site=space.subdomain,
        files=build.release,
        app_dir=build.app_dir,
        index=build.index,
    )


def route_to(r: redis.Redis, space_id: str, target: str, *, root_path: str | None = None) -> None:
    """Point the Space's route at ``target`` and wait until Traefik serves it. Its access check
    follows the Space's record as it is when the route is written, never a copy read earlier (a
    Space made private while its deploy was under way stays private)."""
    write_space_route(r, space_id, target, root_path=root_path)


def retire_others(runtime: RuntimeBackend, space_id: str, keep: str | None) -> None:
    """Stop and remove every instance of the Space except ``keep``, each once the requests it was
    serving have ended (at most DRAIN_SECONDS)."""
    others = [i for i in runtime.instances_of(space_id) if i.id != keep]
    for inst in others:
        if inst.target and not runtime.replaces_in_place and not wait_drained(inst.target, timeout=DRAIN_SECONDS):
            log.info("%s: instance %s still had open connections after %.0f s; stopping it", space_id, inst.id[:12], DRAIN_SECONDS)
        runtime.stop(inst.id, timeout=5)
        runtime.remove(inst.id)


class SpaceLock(redis.lock.Lock):
    """A lock whose token names the process holding it (``host:pid:random``), so that one left
    behind by a process that died (``kill -9``) can be told apart and released (:func:`holder_dead`)."""

    def acquire(self, sleep=None, blocking=None, blocking_timeout=None, token=None) -> bool:
        token = token or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
        return super().acquire(sleep=sleep, blocking=blocking, blocking_timeout=blocking_timeout, token=token)


def holder_dead(token: str | None) -> bool:
    """True if ``token`` names a process on this host that no longer exists."""
    host, _, rest = (token or "").partition(":")
    return gone_here(host, rest.partition(":")[0]) is True


def space_lock(r: redis.Redis, space_id: str, timeout: float) -> redis.lock.Lock:
    """The per-Space lock held while a deploy, wake, sleep, delete or reconcile changes the Space's instances."""
    return SpaceLock(r, keys.space_lock(space_id), timeout=timeout, blocking_timeout=timeout)


@contextlib.contextmanager
def try_space_lock(r: redis.Redis, space_id: str, timeout: float) -> Iterator[Space | None]:
    """Hold the Space's lock if nobody else does, for background checks that can come back later.
    Yields the Space as it is under the lock, or None if the lock was taken or the Space is gone."""
    lock = space_lock(r, space_id, timeout)
    if not lock.acquire(blocking=False):
        yield None
        return
    try:
        yield store.get_space(r, space_id)
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:
            log.warning("the lock on %s expired before the change under it ended", space_id)


def _lock_wait(r: redis.Redis, build_id: str, settings: Settings) -> float:
    """How long a deploy may wait for the Space's lock: other holders (a wake, a crash restart)
    wait for an app themselves."""
    build = store.get_build(r, build_id)
    return float(build.startup(settings.startup_timeout) if build else settings.startup_timeout) + 120


def deploy_space(space_id: str, build_id: str) -> None:
    """RQ entry point: start ``build_id`` of ``space_id`` and serve it once it answers. The job
    waits ``deploy_wait_slice`` seconds at most; an app that needs longer gets the rest of its
    wait as a new job at the back of the queue (:func:`continue_deploy`), so a hanging app holds
    a run worker for a slice at a time, never for its whole startup timeout."""
    settings = get_settings()
    r = store.get_redis()
    with space_lock(r, space_id, _lock_wait(r, build_id, settings)):
        _deploy(r, space_id, build_id, settings)


def continue_deploy(space_id: str, build_id: str, instance_id: str) -> None:
    """RQ entry point: wait another slice for the app of a deploy that :func:`deploy_space` started."""
    settings = get_settings()
    r = store.get_redis()
    lock = space_lock(r, space_id, _lock_wait(r, build_id, settings))
    if not lock.acquire(blocking_timeout=settings.deploy_wait_slice):
        enqueue_deploy_wait(r, space_id, build_id, instance_id)  # busy (a wake, a crash restart): later
        return
    try:
        _continue(r, space_id, build_id, instance_id, settings)
    finally:
        with contextlib.suppress(redis.exceptions.LockError):
            lock.release()


def _continue(r: redis.Redis, space_id: str, build_id: str, instance_id: str, settings: Settings) -> None:
    space, build = store.get_space(r, space_id), store.get_build(r, build_id)
    if build is None:
        get_backend().remove(instance_id)
        return
    runtime = backend_for_build(build)
    if build.deploy != "starting" or build.instance != instance_id:
        log.info("deploy %s of %s was taken over (instance %s); removing its first instance", build_id, space_id, instance_id[:12])
        runtime.remove(instance_id)
        return
    if why := _stop_reason(space, build_id):
        _stop(r, runtime, space_id, build_id, instance_id, why)
        return
    assert space is not None
    _wait_and_serve(r, space, build, instance_id, settings, runtime)


def _stop_reason(space: Space | None, build_id: str) -> str:
    """Why a deploy under way must not serve (the Space's record, read now, says so), or ''."""
    if space is None or space.stage == Stage.DELETING.value:
        return "the Space is gone"
    if space.latest_build != build_id:
        return f"superseded by build {space.latest_build}"
    if space.stage == Stage.PAUSED.value:
        return "the Space was paused"
    return ""


def _drop_new(runtime: RuntimeBackend, instance_id: str) -> None:
    """Remove a new version that will not serve. One that replaced the serving version in place
    stays (removing it would take the Space down): the reconciler puts the serving version back."""
    if not runtime.replaces_in_place:
        runtime.remove(instance_id)


def _stop(r: redis.Redis, runtime: RuntimeBackend, space_id: str, build_id: str, instance_id: str, why: str) -> None:
    log.info("deploy %s of %s stopped while its app started: %s", build_id, space_id, why)
    end_wait(r, space_id, build_id)
    if instance_id:
        _drop_new(runtime, instance_id)
    store.append_log(r, build_id, f"===== Deploy stopped: {why} =====")
    store.update_build(r, build_id, deploy=DeployState.STOPPED.value)


def _deploy(r: redis.Redis, space_id: str, build_id: str, settings: Settings) -> None:
    space, build = store.get_space(r, space_id), store.get_build(r, build_id)
    if space is None or build is None:
        log.warning("deploy %s of %s: record gone, nothing to do", build_id, space_id)
        return
    if space.latest_build != build_id:
        log.info("deploy %s of %s superseded by build %s", build_id, space_id, space.latest_build)
        return
    if space.stage == Stage.PAUSED.value and float(space.paused_at or 0) > float(build.deploy_requested_at or 0):
        # Paused after this deploy was asked for (a restart of a paused Space is asked for after its pause).
        _stop(r, backend_for_build(build), space_id, build_id, "", "the Space was paused after this restart was asked for")
        return
    serving = bool(space.running_build) and Stage(space.stage).is_serving
    # A restart of a paused Space (asked for after the pause, as checked above) resumes it; any other
    # deploy yields to a pause or deletion that came after its first look.
    resuming = space.stage == Stage.PAUSED.value
    if not store.set_stage(r, space_id, Stage.RUNNING_APP_STARTING if serving else Stage.APP_STARTING, build_id=build_id,
                           unless=(Stage.DELETING,) if resuming else OWNER_STAGES):
        _stop(r, backend_for_build(build), space_id, build_id, "", "the Space was paused or deleted")
        return
    store.update_build(r, build_id, deploy="starting", instance="")
    store.append_log(r, build_id, "===== Application Startup =====")
    runtime = backend_for_build(build)
    try:
        instance = runtime.start(run_spec(space, build, settings, r))
    except SpacesError as exc:
        _fail(r, space_id, build_id, exc)
        return
    build.instance, build.deploy_started = instance.id, time.time()
    store.update_build(r, build_id, instance=build.instance, deploy_started=build.deploy_started)
    _wait_and_serve(r, space, build, instance.id, settings, runtime)


def _wait_and_serve(r: redis.Redis, space: Space, build: Build, instance_id: str, settings: Settings,
                    runtime: RuntimeBackend) -> None:
    """Wait a slice for the app; serve it if it answers, queue the rest of the wait if not."""
    startup = float(build.startup(settings.startup_timeout))
    started = float(build.deploy_started or time.time())
    try:
        inst = runtime.poll(instance_id)
        if inst is not None and inst.running and inst.ready:  # its start checked that it answers
            seconds: float | None = time.time() - started
        else:
            seconds = wait_healthy(runtime, instance_id, inst.target if inst else "", timeout=startup,
                                   memory_mb=space_limits(space, settings).memory_mb, started=started,
                                   for_at_most=wait_slice(r, space.id, build.id, started + startup, settings))
        if seconds is None:
            enqueue_deploy_wait(r, space.id, build.id, instance_id)
            return
        end_wait(r, space.id, build.id)
        assert inst is not None  # it answered
        store.append_log(r, build.id, f"app answered HTTP {seconds:.1f} s after start")
        metrics.observe(r, "spaces_app_start_seconds", seconds, metrics.START_BUCKETS)
        if why := _stop_reason(store.get_space(r, space.id), build.id):  # paused or deleted while it started
            _stop(r, runtime, space.id, build.id, instance_id, why)
            return
        route_to(r, space.id, inst.target, root_path=inst.root_path)
    except SpacesError as exc:
        end_wait(r, space.id, build.id)
        _drop_new(runtime, instance_id)
        _fail(r, space.id, build.id, exc)
        return
    _serve(r, space, build, inst, settings, runtime)


def wait_slice(r: redis.Redis, space_id: str, build_id: str, deadline: float, settings: Settings) -> float:
    """How long this slice of a deploy's wait may hold a run worker: ``deploy_wait_slice`` shared
    among the owner's deploys waiting now, so that an owner with many apps that never answer holds
    the workers no longer per round than one with a single app (at least MIN_SLICE each)."""
    key, now = keys.owner_waits(space_id.split("/", 1)[0]), time.time()
    with r.pipeline(transaction=True) as p:
        p.zadd(key, {build_id: deadline})
        p.zremrangebyscore(key, "-inf", now)
        p.zcard(key)
        p.expireat(key, int(deadline) + 1, nx=True)  # gone once the last wait in it has ended
        p.expireat(key, int(deadline) + 1, gt=True)
        waiting = int(p.execute()[2])
    return max(min(MIN_SLICE, settings.deploy_wait_slice), settings.deploy_wait_slice / max(1, waiting))


def end_wait(r: redis.Redis, space_id: str, build_id: str) -> None:
    r.zrem(keys.owner_waits(space_id.split("/", 1)[0]), build_id)


def _fail(r: redis.Redis, space_id: str, build_id: str, exc: SpacesError) -> None:
    message = envvars.mask(exc.message, envvars.secret_values(r, space_id))
    log.warning("deploy %s of %s failed: %s", build_id, space_id, message)
    store.append_log(r, build_id, f"===== RUNTIME_ERROR: {message.splitlines()[0]} =====")
    store.update_build(r, build_id, deploy="failed")
    store.set_stage(r, space_id, Stage.RUNTIME_ERROR, message=message, build_id=build_id, unless=OWNER_STAGES)
    metrics.inc(r, "spaces_deploys_total", result="failed")


def _serve(r: redis.Redis, space: Space, build: Build, inst: Instance, settings: Settings,
           runtime: RuntimeBackend) -> None:
    """Record that ``inst`` serves the Space; retire the rest."""
    space_id, build_id = space.id, build.id
    # Logged before the stage changes: whoever sees RUNNING (a waiting push) finds the line there.
    store.append_log(r, build_id, f"===== Running at {settings.public_url(settings.space_host(space.subdomain))} =====")
    if not store.set_stage(r, space_id, Stage.RUNNING, build_id=build_id, running_build=build_id, sleep_tier="",
                           crash_count="0", restart_at="", **serving_fields(runtime, inst), unless=OWNER_STAGES):
        # Paused (or deleted) just now: the pause job, queued behind this one, stops what runs.
        log.info("deploy %s of %s: the Space was paused or deleted as its app came up; not serving it", build_id, space_id)
        store.append_log(r, build_id, "===== Deploy stopped: the Space was paused or deleted =====")
        store.update_build(r, build_id, deploy=DeployState.STOPPED.value)
        return
    store.update_build(r, build_id, deploy="running")
    metrics.inc(r, "spaces_deploys_total", result="running")
    for each in all_backends():  # a Space whose SDK changed (static <-> container) ran on the other one
        retire_others(each, space_id, keep=inst.id)
    now = store.get_space(r, space_id)
    if now is not None and not now.storage and runtime.has_storage(space_id):
        runtime.drop_storage(space_id)  # the owner deleted the Space's storage; this deploy runs without it


def delete_space(space_id: str) -> None:
    """RQ entry point: remove the Space's containers, route, files, images, repository and records."""
    settings = get_settings()
    r = store.get_redis()
    space = store.get_space(r, space_id)
    if space is None:
        return
    with space_lock(r, space_id, 600):
        for runtime in all_backends():
            for inst in runtime.instances_of(space_id):
                runtime.remove(inst.id)
        delete_space_route(r, space_id, space.subdomain)
        for runtime in all_backends():
            runtime.forget(space_id, site=space.subdomain)
        shutil.rmtree(settings.repos_dir / f"{space_id}.git", ignore_errors=True)
        store.purge_space(r, space_id)
    log.info("deleted Space %s", space_id)
