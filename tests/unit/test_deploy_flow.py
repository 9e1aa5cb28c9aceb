"""The run worker's deploy, in process: the real job code and records (on the fast tier's Redis),
with the in-memory runtime backend of tests/fakes.py and Traefik's confirmation recorded instead
of awaited. What a user would notice: which version serves, what the stage and error say, what
is left running, and whether the route is private."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
import redis
from rq import Queue, SimpleWorker

from core import keys, queues, store
from core.queues import enqueue_deploy, job_alive
from core.settings import get_settings
from core.stages import BuildStatus, Stage
from proxy.routes import RedisRouteTable, space_route_name
from tests.fakes import AppServer, FakeApp, FakeBackend, use_backend
from worker import jobs


@pytest.fixture(scope="module")
def server() -> Iterator[AppServer]:
    apps = AppServer()
    yield apps
    apps.close()


@pytest.fixture
def backend(redis_db: redis.Redis, server: AppServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBackend]:
    fake = FakeBackend(server)
    confirmed: list[tuple[str, str]] = []
    use_backend(monkeypatch, fake)
    monkeypatch.setattr(jobs, "wait_drained", lambda target, timeout: True)
    monkeypatch.setattr(RedisRouteTable, "wait_live", staticmethod(lambda name, target, timeout=15.0: confirmed.append((name, target))))
    fake.confirmed = confirmed  # type: ignore[attr-defined]
    yield fake
    get_settings.cache_clear()  # a test's own settings (SPACES_DEPLOY_WAIT_SLICE) end with it


def built(r: redis.Redis, space_id: str, image: str, **fields: str) -> str:
    """A succeeded build of ``image``, the Space's latest (as the builder leaves it)."""
    if store.get_space(r, space_id) is None:
        store.create_space(r, space_id, sdk="gradio")
    build_id = store.create_build(r, space_id, "c0ffee" + image[-4:])
    store.update_build(r, build_id, status=BuildStatus.SUCCEEDED.value, image=image, kind="container", **fields)
    return build_id


def route_of(r: redis.Redis, space_id: str) -> tuple[str | None, bool]:
    name = space_route_name(store.require_space(r, space_id).subdomain)
    table = RedisRouteTable(r)
    return table.target_of(name), table.is_private(name)


def test_a_healthy_app_serves_and_its_route_is_confirmed(redis_db, backend):
    build_id = built(redis_db, "ann/demo", "img:v1")
    jobs.deploy_space("ann/demo", build_id)
    space = store.require_space(redis_db, "ann/demo")
    assert space.stage == Stage.RUNNING.value and space.running_build == build_id
    (inst,) = backend.of("ann/demo")
    assert space.instance == inst.id and route_of(redis_db, "ann/demo") == (inst.target, False)
    assert backend.confirmed == [(space_route_name(space.subdomain), inst.target)]
    assert store.get_build(redis_db, build_id).deploy == "running"
    assert any(line.startswith("===== Running at http://") for line in store.read_log(redis_db, build_id))
    assert backend.specs[inst.id].env["SPACE_ID"] == "ann/demo"


def test_a_redeploy_retires_the_old_version(redis_db, backend):
    first = built(redis_db, "ann/demo", "img:v1")
    jobs.deploy_space("ann/demo", first)
    (old,) = backend.of("ann/demo")
    second = built(redis_db, "ann/demo", "img:v2")
    jobs.deploy_space("ann/demo", second)
    (new,) = backend.of("ann/demo")
    assert new.id != old.id and backend.removed == [old.id]
    assert store.require_space(redis_db, "ann/demo").running_build == second


def test_an_app_that_exits_is_a_runtime_error_and_the_old_version_keeps_serving(redis_db, backend):
    first = built(redis_db, "ann/demo", "img:v1")
    jobs.deploy_space("ann/demo", first)
    (old,) = backend.of("ann/demo")
    backend.apps["img:broken"] = FakeApp("exits", exit_code=3, log="Traceback: boom")
    broken = built(redis_db, "ann/demo", "img:broken")
    jobs.deploy_space("ann/demo", broken)
    space = store.require_space(redis_db, "ann/demo")
    assert space.stage == Stage.RUNTIME_ERROR.value
    assert space.error_message.startswith("the app exited with code 3") and "Traceback: boom" in space.error_message
    assert backend.of("ann/demo") == [old], "the broken instance is removed, the old one left alone"
    assert route_of(redis_db, "ann/demo")[0] == old.target
    assert store.get_build(redis_db, broken).deploy == "failed"


def test_an_app_that_never_answers_times_out_with_its_limit_named(redis_db, backend):
    backend.apps["img:hangs"] = FakeApp("hangs", log="loading a model...")
    build_id = built(redis_db, "ann/slow", "img:hangs", startup_seconds="1")
    jobs.deploy_space("ann/slow", build_id)
    space = store.require_space(redis_db, "ann/slow")
    assert space.stage == Stage.RUNTIME_ERROR.value
    assert "did not answer HTTP within 1 s (startup_duration_timeout)" in space.error_message
    assert backend.of("ann/slow") == [] and route_of(redis_db, "ann/slow")[0] is None


def test_a_superseded_deploy_starts_nothing(redis_db, backend):
    older = built(redis_db, "ann/demo", "img:v1")
    built(redis_db, "ann/demo", "img:v2")  # pushed meanwhile: the latest build
    jobs.deploy_space("ann/demo", older)
    assert backend.of("ann/demo") == []
    assert store.require_space(redis_db, "ann/demo").stage == Stage.NO_APP_FILE.value


def test_a_space_made_private_while_its_app_starts_is_routed_privately(redis_db, backend):
    build_id = built(redis_db, "ann/demo", "img:v1")
    start = backend.start

    def start_then_owner_hides_it(spec):
        inst = start(spec)
        redis_db.hset(keys.space("ann/demo"), "visibility", "private")  # the owner's change, mid-deploy
        return inst

    backend.start = start_then_owner_hides_it  # type: ignore[method-assign]
    jobs.deploy_space("ann/demo", build_id)
    assert route_of(redis_db, "ann/demo")[1] is True


def stage_events(r: redis.Redis, space_id: str) -> list[tuple[int, str]]:
    """``(milliseconds, stage)`` for each stage the Space went through, in order."""
    return [(int(entry_id.split("-")[0]), fields["stage"]) for entry_id, fields in r.xrange(keys.space_events(space_id))]


def when(r: redis.Redis, space_id: str, stage: Stage) -> int:
    return next(ms for ms, name in stage_events(r, space_id) if name == stage.value)


def test_two_hanging_apps_do_not_hold_up_another_tenants_deploy(redis_db, backend, monkeypatch):
    """One run worker, two apps that accept connections and never answer (queued first), then
    another owner's app: it serves long before the hanging ones give up, because each waits a
    slice at a time and queues the rest of its wait behind the others' work (issue 17, finding 4)."""
    monkeypatch.setenv("SPACES_DEPLOY_WAIT_SLICE", "0.3")
    get_settings.cache_clear()
    backend.apps["img:hangs"] = FakeApp("hangs")
    hanging = ["mallory/stuck-a", "mallory/stuck-b"]
    for space_id in hanging:
        build_id = built(redis_db, space_id, "img:hangs", startup_seconds="4")
        enqueue_deploy(redis_db, space_id, build_id, startup_seconds=4)
    build_id = built(redis_db, "ann/demo", "img:v1")
    enqueue_deploy(redis_db, "ann/demo", build_id, startup_seconds=300)

    run_queue()  # until the queue is empty

    served = when(redis_db, "ann/demo", Stage.RUNNING)
    for space_id in hanging:
        space = store.require_space(redis_db, space_id)
        assert space.stage == Stage.RUNTIME_ERROR.value and "within 4 s" in space.error_message
        assert served < when(redis_db, space_id, Stage.RUNTIME_ERROR) - 2000, "the healthy app waited for the hanging ones"
        assert backend.of(space_id) == []
    (inst,) = backend.of("ann/demo")
    assert route_of(redis_db, "ann/demo")[0] == inst.target


def test_a_push_while_the_app_starts_replaces_the_waiting_deploy(redis_db, backend, monkeypatch):
    """The newer build wins; the instance whose wait was queued is removed, not served."""
    waiting_deploy(redis_db, backend, monkeypatch)  # one slice, then its wait is queued
    (waiting,) = backend.of("ann/demo")
    newer = built(redis_db, "ann/demo", "img:v2")
    jobs.deploy_space("ann/demo", newer)
    run_queue()
    (inst,) = backend.of("ann/demo")
    assert inst.id != waiting.id and inst.build_id == newer
    assert store.require_space(redis_db, "ann/demo").running_build == newer


def waiting_deploy(r: redis.Redis, backend: FakeBackend, monkeypatch: pytest.MonkeyPatch) -> str:
    """Deploy an app of ann/demo that does not answer (60 s to start, slices of 0.2 s): its first
    slice ends and its wait is queued. Returns the build id."""
    monkeypatch.setenv("SPACES_DEPLOY_WAIT_SLICE", "0.2")
    get_settings.cache_clear()
    backend.apps["img:slow"] = FakeApp("hangs")
    build_id = built(r, "ann/demo", "img:slow", startup_seconds="60")
    jobs.deploy_space("ann/demo", build_id)
    return build_id


def run_queue() -> None:
    queue = Queue(keys.QUEUE_RUNS, connection=redis.Redis.from_url(get_settings().redis_url))
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def test_a_space_paused_while_its_app_starts_stays_paused(redis_db, backend, monkeypatch):
    build_id = waiting_deploy(redis_db, backend, monkeypatch)  # one slice, then its wait is queued
    store.set_stage(redis_db, "ann/demo", Stage.PAUSED)  # the owner pauses it meanwhile
    run_queue()
    assert store.require_space(redis_db, "ann/demo").stage == Stage.PAUSED.value
    assert backend.of("ann/demo") == []
    assert store.get_build(redis_db, build_id).deploy == "stopped"
    assert store.read_log(redis_db, build_id)[-1] == "===== Deploy stopped: the Space was paused ====="


def test_a_wait_that_lost_its_worker_goes_on_with_the_same_app(redis_db, backend, monkeypatch):
    """kill -9 of the worker between slices or during one: the reconciler queues the wait again,
    whatever the stage says by then, and the app it started is the one served."""
    from worker.reconcile import resume_abandoned

    build_id = waiting_deploy(redis_db, backend, monkeypatch)  # one slice, then its wait is queued
    (inst,) = backend.of("ann/demo")
    Queue(keys.QUEUE_RUNS, connection=redis.Redis.from_url(get_settings().redis_url)).empty()  # the wait is lost
    store.update_build(redis_db, build_id, deploy_job="a-job-of-a-dead-worker")
    store.set_stage(redis_db, "ann/demo", Stage.RUNTIME_ERROR)  # e.g. moved on by a crash of the old version
    resume_abandoned(redis_db, store.require_space(redis_db, "ann/demo"))
    backend.instances[inst.id] = replace(inst, target=backend.server.answering_url)  # it answers at last
    run_queue()
    space = store.require_space(redis_db, "ann/demo")
    assert space.stage == Stage.RUNNING.value and space.instance == inst.id


def test_a_wait_that_finds_the_space_locked_is_queued_again(redis_db, backend, monkeypatch):
    build_id = waiting_deploy(redis_db, backend, monkeypatch)  # one slice, then its wait is queued
    (inst,) = backend.of("ann/demo")
    holder = jobs.space_lock(redis_db, "ann/demo", 30)
    assert holder.acquire(blocking=False)  # a wake or a crash restart holds the Space
    try:
        jobs.continue_deploy("ann/demo", build_id, inst.id)
        assert job_alive(store.get_build(redis_db, build_id).deploy_job), "the wait was not queued again"
    finally:
        holder.release()
    assert backend.of("ann/demo") == [inst]


def paused_when(backend: FakeBackend, monkeypatch: pytest.MonkeyPatch, r: redis.Redis, step: str) -> None:
    """The owner pauses ann/demo at ``step`` of its deploy: as its app starts, or in the instant
    between the deploy's last look at the record and its switch of the route."""
    if step == "start":
        start = backend.start

        def start_then_pause(spec):
            inst = start(spec)
            queues.pause(r, "ann/demo")
            return inst

        backend.start = start_then_pause  # type: ignore[method-assign]
    else:
        route_to = jobs.route_to

        def pause_then_route(*args, **kwargs):
            queues.pause(r, "ann/demo")
            return route_to(*args, **kwargs)

        monkeypatch.setattr(jobs, "route_to", pause_then_route)


@pytest.mark.parametrize("step", ["start", "route"])
def test_a_pause_during_a_redeploy_wins(redis_db, backend, monkeypatch, step):
    """A hardware change restarts the Space, and the owner pauses it while the new app starts: it
    stays paused and nothing runs once the pause job has run (before, the deploy said RUNNING)."""
    jobs.deploy_space("ann/demo", first := built(redis_db, "ann/demo", "img:v1"))
    paused_when(backend, monkeypatch, redis_db, step)
    enqueue_deploy(redis_db, "ann/demo", first, startup_seconds=60)  # the restart
    run_queue()  # the deploy, then the pause job
    space = store.require_space(redis_db, "ann/demo")
    assert space.stage == Stage.PAUSED.value
    assert [inst for inst in backend.of("ann/demo") if inst.running] == []
    assert store.get_build(redis_db, first).deploy == "stopped"
    assert store.read_log(redis_db, first)[-1].startswith("===== Deploy stopped: the Space was paused")


def test_a_pause_after_a_queued_restart_wins_and_a_restart_after_a_pause_resumes(redis_db, backend, monkeypatch):
    jobs.deploy_space("ann/demo", first := built(redis_db, "ann/demo", "img:v1"))
    enqueue_deploy(redis_db, "ann/demo", first, startup_seconds=60)  # a restart, still queued when...
    queues.pause(redis_db, "ann/demo")  # ...the owner pauses
    run_queue()
    assert store.require_space(redis_db, "ann/demo").stage == Stage.PAUSED.value
    assert store.read_log(redis_db, first)[-1] == "===== Deploy stopped: the Space was paused after this restart was asked for ====="
    assert [inst for inst in backend.of("ann/demo") if inst.running] == []

    enqueue_deploy(redis_db, "ann/demo", first, startup_seconds=60)  # the owner restarts it: it resumes
    run_queue()
    space = store.require_space(redis_db, "ann/demo")
    assert space.stage == Stage.RUNNING.value
    assert [inst.id for inst in backend.of("ann/demo") if inst.running] == [space.instance]


def test_many_hanging_apps_of_one_owner_hold_the_worker_no_longer_than_one(redis_db, backend, monkeypatch):
    """Eight apps of one owner that never answer, queued first: their slices share one
    deploy_wait_slice, so the worker time they take before another owner's deploy runs is about
    that of two apps (slice x (1 + 1/2 + ... + 1/8) = 2.7 slices in the first round), not eight."""
    monkeypatch.setenv("SPACES_DEPLOY_WAIT_SLICE", "1.0")
    monkeypatch.setattr(jobs, "MIN_SLICE", 0.05)  # on the platform: 0.5 s of a 10 s slice
    get_settings.cache_clear()
    granted: list[tuple[str, float]] = []  # (Space, seconds its slice may hold the worker), in order
    wait = jobs.wait_healthy

    def recorded(runtime, instance_id, target, **kwargs):
        granted.append((runtime.poll(instance_id).space_id, kwargs["for_at_most"]))
        return wait(runtime, instance_id, target, **kwargs)

    monkeypatch.setattr(jobs, "wait_healthy", recorded)
    backend.apps["img:hangs"] = FakeApp("hangs")
    for i in range(8):
        build_id = built(redis_db, f"mallory/stuck-{i}", "img:hangs", startup_seconds="6")
        enqueue_deploy(redis_db, f"mallory/stuck-{i}", build_id, startup_seconds=6)
    build_id = built(redis_db, "ann/demo", "img:v1")
    enqueue_deploy(redis_db, "ann/demo", build_id, startup_seconds=300)

    run_queue()

    before_ann = [seconds for space_id, seconds in granted[:granted.index(("ann/demo", 1.0))]]
    assert len(before_ann) == 8 and sum(before_ann) < 3.0, f"the hanging apps held the worker for {before_ann}"
    assert store.require_space(redis_db, "ann/demo").stage == Stage.RUNNING.value
    for i in range(8):
        assert store.require_space(redis_db, f"mallory/stuck-{i}").stage == Stage.RUNTIME_ERROR.value
    assert redis_db.zcard(keys.owner_waits("mallory")) == 0, "ended waits are not counted"


def test_a_deploy_queued_a_moment_ago_is_not_taken_for_lost(redis_db, backend):
    """The builder marks a build succeeded, then queues its deploy and records the job's id: a
    reconcile pass in between must not queue a second deploy (two deploys raced each other and
    restarted a Space under a test's feet); one asked for a while ago without a live job is lost."""
    from worker.reconcile import LOST_AFTER, resume_abandoned

    build_id = built(redis_db, "ann/demo", "img:v1")
    store.set_stage(redis_db, "ann/demo", Stage.BUILDING)
    queue = Queue(keys.QUEUE_RUNS, connection=redis.Redis.from_url(get_settings().redis_url))
    store.update_build(redis_db, build_id, finished_at=str(time.time()))
    resume_abandoned(redis_db, store.require_space(redis_db, "ann/demo"))
    assert queue.count == 0
    store.update_build(redis_db, build_id, finished_at=str(time.time() - LOST_AFTER - 1))
    resume_abandoned(redis_db, store.require_space(redis_db, "ann/demo"))
    assert queue.count == 1
