"""The RQ jobs that connect the components, with their payloads.

Jobs are enqueued by dotted name, so the controller never imports the builder or the worker:

- ``builds``: ``builder.jobs.build_space(space_id, build_id)``
- ``runs``:   ``worker.jobs.deploy_space(space_id, build_id)``, ``worker.jobs.delete_space(space_id)``,
  ``worker.sleep.pause_space(space_id)``, ``worker.crashes.restart_crashed(space_id)``,
  ``worker.disk.clean_up()``
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

import redis
from rq import Queue, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry

from core import keys, store
from core.errors import Conflict
from core.processes import gone_here
from core.settings import get_settings
from core.stages import BuildStatus, Stage

if TYPE_CHECKING:
    from rq.worker import BaseWorker


@lru_cache
def _raw_client(url: str) -> redis.Redis:
    # RQ stores pickled payloads, so it needs a client that does not decode responses.
    return redis.Redis.from_url(url)


def _queue(r: redis.Redis, name: str) -> Queue:
    return Queue(name, connection=_raw_client(get_settings().redis_url))


def _enqueue(r: redis.Redis, queue: str, func: str, *args: str, timeout: int, description: str) -> str:
    """Queue ``func(*args)``; results are kept an hour, failures a day. Returns the job id."""
    job = _queue(r, queue).enqueue(func, *args, job_timeout=timeout, result_ttl=3600, failure_ttl=86400,
                                   description=description)
    return job.id


def enqueue_build(r: redis.Redis, space_id: str, build_id: str) -> None:
    # No RQ timeout: the builder's own guard applies SPACES_BUILD_TIMEOUT (builder.guard).
    job_id = _enqueue(r, keys.QUEUE_BUILDS, "builder.jobs.build_space", space_id, build_id, timeout=-1,
                      description=f"build {space_id} #{build_id}")
    store.update_build(r, build_id, build_job=job_id)


def queue_build(r: redis.Redis, space_id: str, commit: str) -> str:
    """A new commit of ``main`` (pushed or uploaded): record its build and queue it; returns the build id."""
    build_id = store.create_build(r, space_id, commit)
    enqueue_build(r, space_id, build_id)
    show_queued(r, space_id, build_id)
    return build_id


def show_queued(r: redis.Redis, space_id: str, build_id: str) -> None:
    """The Space says BUILDING (RUNNING_BUILDING while a version serves) from the moment its build
    is queued, not its previous stage (a new Space's NO_APP_FILE). Only while the build is still
    queued: once the builder took it, the stage is the builder's."""
    with r.pipeline(transaction=True) as p:
        try:
            p.watch(keys.space(space_id), keys.build(build_id))
            space = p.hgetall(keys.space(space_id))
            if (p.hget(keys.build(build_id), "status") != BuildStatus.QUEUED.value
                    or space.get("latest_build") != build_id or space.get("stage") == Stage.DELETING.value):
                return
            serving = bool(space.get("running_build")) and Stage(space.get("stage") or "BUILDING").is_serving
            p.multi()
            store.set_stage(r, space_id, Stage.RUNNING_BUILDING if serving else Stage.BUILDING, build_id=build_id,
                            pipeline=p)
            p.execute()
        except redis.exceptions.WatchError:
            pass  # the builder (or a newer push) moved it on meanwhile


def enqueue_deploy(r: redis.Redis, space_id: str, build_id: str, *, startup_seconds: int) -> None:
    store.update_build(r, build_id, deploy_requested_at=time.time())  # before a worker can read it
    job_id = _enqueue(r, keys.QUEUE_RUNS, "worker.jobs.deploy_space", space_id, build_id,
                      timeout=startup_seconds + 180, description=f"deploy {space_id} #{build_id}")
    store.update_build(r, build_id, deploy_job=job_id)


def enqueue_deploy_wait(r: redis.Redis, space_id: str, build_id: str, instance_id: str) -> None:
    """Queue the rest of a deploy's wait for its app, behind the work queued meanwhile."""
    job_id = _enqueue(r, keys.QUEUE_RUNS, "worker.jobs.continue_deploy", space_id, build_id, instance_id,
                      timeout=int(get_settings().deploy_wait_slice) + 180, description=f"deploy {space_id} #{build_id} (waiting)")
    store.update_build(r, build_id, deploy_job=job_id)


def pause(r: redis.Redis, space_id: str) -> None:
    """The owner pauses the Space: it says PAUSED at once and a job stops what runs. A deploy under
    way when the pause comes does not serve (it sees the stage, or ``paused_at`` is later than its
    request); a restart asked for afterwards resumes the Space."""
    if not store.set_stage(r, space_id, Stage.PAUSED, unless=(Stage.DELETING,), paused_at=str(time.time())):
        raise Conflict(f"{space_id} is being deleted")
    _enqueue(r, keys.QUEUE_RUNS, "worker.sleep.pause_space", space_id, timeout=300, description=f"pause {space_id}")


def enqueue_crash_restart(r: redis.Redis, space_id: str) -> None:
    _enqueue(r, keys.QUEUE_RUNS, "worker.crashes.restart_crashed", space_id,
             timeout=get_settings().startup_timeout + 180, description=f"restart crashed {space_id}")


def enqueue_delete(r: redis.Redis, space_id: str) -> None:
    job_id = _enqueue(r, keys.QUEUE_RUNS, "worker.jobs.delete_space", space_id, timeout=600,
                      description=f"delete {space_id}")
    store.update_space(r, space_id, delete_job=job_id)


def enqueue_clean_up(r: redis.Redis) -> str:
    return _enqueue(r, keys.QUEUE_RUNS, "worker.disk.clean_up", timeout=1800, description="clean up images and caches")


def builds_running(r: redis.Redis) -> int:
    """Builds a builder is working on now."""
    return len(StartedJobRegistry(queue=_queue(r, keys.QUEUE_BUILDS)))


def build_queue_status(r: redis.Redis) -> tuple[int, int]:
    """(builds waiting in the queue, live builder workers listening to it)."""
    return queue_status(r, keys.QUEUE_BUILDS)


def queue_status(r: redis.Redis, name: str) -> tuple[int, int]:
    """(jobs waiting in queue ``name``, live workers listening to it)."""
    queue = _queue(r, name)
    return len(queue), len(live_workers(queue))


def _alive(worker: BaseWorker) -> bool:
    """RQ keeps a killed worker registered until its key expires (minutes later), and counts
    registry members without looking at them. A worker on this host is alive if its process is;
    one elsewhere if it sent a heartbeat within its TTL."""
    gone = gone_here(worker.hostname, worker.pid)
    if gone is not None:
        return not gone
    beat = worker.last_heartbeat
    if beat is None:
        return False
    if beat.tzinfo is None:
        beat = beat.replace(tzinfo=UTC)
    return datetime.now(UTC) - beat < timedelta(seconds=worker.worker_ttl + 60)


def job_alive(job_id: str) -> bool:
    """True while the job waits in its queue or runs on a live worker; False once it has ended,
    is gone, or its worker died under it (``kill -9``, a reboot)."""
    if not job_id:
        return False
    connection = _raw_client(get_settings().redis_url)
    try:
        job = Job.fetch(job_id, connection=connection)
    except NoSuchJobError:
        return False
    status = job.get_status(refresh=True)
    if status in (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED):
        return True
    if status != JobStatus.STARTED or not job.worker_name:
        return False
    worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + job.worker_name, connection=connection)
    return worker is not None and _alive(worker)


def live_workers(queue: Queue) -> list[BaseWorker]:
    return [w for w in Worker.all(queue=queue) if _alive(w)]


def forget_dead_workers(r: redis.Redis) -> int:
    """Unregister workers of this platform that died without saying so (SIGKILL, a reboot).
    Returns how many were removed."""
    removed = 0
    for name in (keys.QUEUE_BUILDS, keys.QUEUE_RUNS):
        for worker in Worker.all(queue=_queue(r, name)):
            if not _alive(worker):
                worker.register_death()
                removed += 1
    return removed
