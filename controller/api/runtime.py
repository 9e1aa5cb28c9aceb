"""Owner actions on a Space's runtime, on Hugging Face's paths: restart (optionally a factory
rebuild), pause, the sleep time, persistent storage and the hardware tier. Each answers with the Space's runtime, as HF does."""

from __future__ import annotations

from fastapi import APIRouter

from controller.api.models import HardwareRequest, RestartAnswer, Rollback, RollbackAnswer, SleepTime, SpaceRuntime, StorageRequest
from controller.deps import CurrentUser, OwnedSpace, StoreDep
from controller.repos import head_commit, revert_to
from controller.views import runtime_view
from core import store
from core.access import Caller
from core.errors import Conflict, NotFound
from core.hardware import DEFAULT_TIER, STORAGE_TIERS
from core.queues import enqueue_build, enqueue_deploy, pause, queue_build
from core.stages import BuildStatus, Stage

router = APIRouter(prefix="/api/spaces", tags=["runtime"])


@router.post("/{owner}/{name}/restart", response_model=RestartAnswer)
def restart_space(caller: CurrentUser, space: OwnedSpace, r: StoreDep, factory: bool = False) -> dict:
    """Restart the Space (also resumes one its owner paused); ``factory=true`` rebuilds it from
    its latest commit without any cache."""
    space_id, record = space
    if factory:
        commit = head_commit(space_id)
        if commit is None:
            raise Conflict(f"{space_id} has no commit to build yet; push one first")
        build_id = store.create_build(r, space_id, commit, factory=True)
        enqueue_build(r, space_id, build_id)
        return {**runtime_view(store.require_space(r, space_id), caller), "id": space_id, "build": build_id, "factory": True}
    latest = store.get_build(r, record.get("latest_build") or "") if record.get("latest_build") else None
    if latest is not None and latest.get("status") in (BuildStatus.QUEUED.value, BuildStatus.RUNNING.value):
        # A build is on its way and starts the Space when it is done (also one its owner paused).
        if record.get("stage") == Stage.PAUSED.value:
            store.set_stage(r, space_id, Stage.BUILDING, build_id=latest["id"])
        return {**runtime_view(store.require_space(r, space_id), caller), "id": space_id, "build": latest["id"], "factory": False}
    build = latest if latest is not None and latest.get("status") == BuildStatus.SUCCEEDED.value else None
    if build is None and record.get("running_build"):  # the latest push failed; the serving version restarts
        build = store.get_build(r, record["running_build"])
    if build is None or build.get("status") != BuildStatus.SUCCEEDED.value:
        raise Conflict(f"{space_id} has no successful build to restart; push a fix or use factory=true")
    enqueue_deploy(r, space_id, build["id"], startup_seconds=int(build.get("startup_seconds", 300)))
    return {**runtime_view(record, caller), "id": space_id, "build": build["id"], "factory": False}


@router.post("/{owner}/{name}/rollback", response_model=RollbackAnswer)
def rollback(caller: CurrentUser, space: OwnedSpace, body: Rollback, r: StoreDep) -> dict:
    """Serve an earlier successful build again: a new commit on main with that build's files (the
    history stays), built and deployed like a push."""
    space_id, build = space.id, body.build
    record = store.get_build(r, str(build)) if str(build).isdigit() else None
    if record is None or record.get("space") != space_id:
        raise NotFound(f"{space_id} has no build {build!r}")
    if record.get("status") != BuildStatus.SUCCEEDED.value:
        raise Conflict(f"build #{build} of {space_id} did not succeed ({record.get('status')}); roll back to one that did")
    commit = revert_to(space_id, record["commit"], author=caller.name,
                       message=f"Roll back to build #{build} (commit {record['commit'][:12]})")
    new_build = queue_build(r, space_id, commit)
    return {**runtime_view(store.require_space(r, space_id), caller), "id": space_id, "build": new_build, "commit": commit}


@router.post("/{owner}/{name}/pause", response_model=SpaceRuntime)
def pause_space(caller: CurrentUser, space: OwnedSpace, r: StoreDep) -> dict:
    """Stop the Space until its owner restarts it; visitors are told it is paused."""
    if space.record.get("stage") == Stage.DELETING.value:
        raise Conflict(f"{space.id} is being deleted")
    pause(r, space.id)
    return runtime_view(store.require_space(r, space.id), caller)


@router.post("/{owner}/{name}/sleeptime", response_model=SpaceRuntime)
def set_sleep_time(caller: CurrentUser, space: OwnedSpace, body: SleepTime, r: StoreDep) -> dict:
    """How long the Space may stay idle before it sleeps (HF's ``gcTimeout``); -1: never."""
    store.update_space(r, space.id, sleep_seconds=str(body.seconds))
    return runtime_view(store.require_space(r, space.id), caller)


def _redeploy_running(r, space_id: str, space: dict) -> None:
    build = store.get_build(r, space.get("running_build") or space.get("latest_build") or "")
    if build is not None and build.get("status") == BuildStatus.SUCCEEDED.value:
        enqueue_deploy(r, space_id, build["id"], startup_seconds=int(build.get("startup_seconds", 300)))


def _set_and_restart(r, space_id: str, space: dict, field: str, value: str, caller: Caller) -> dict:
    """Record a runtime setting; if it changed, restart the Space with it. Returns the runtime."""
    if (space.get(field) or "") != value:
        store.update_space(r, space_id, **{field: value})
        _redeploy_running(r, space_id, space)
    return runtime_view(store.require_space(r, space_id), caller)


@router.post("/{owner}/{name}/storage", response_model=SpaceRuntime)
def request_storage(caller: CurrentUser, space: OwnedSpace, body: StorageRequest, r: StoreDep) -> dict:
    """Give the Space a persistent ``/data`` volume (HF's persistent storage); it restarts with it."""
    space_id, record, tier = space.id, space.record, body.tier
    if record.get("sdk") == "static":
        raise Conflict(f"{space_id} is a static Space: it runs no app that could use /data")
    current = record.get("storage") or ""
    if current in STORAGE_TIERS and STORAGE_TIERS.index(tier) < STORAGE_TIERS.index(current):
        raise Conflict(f"{space_id} has {current} storage; a smaller tier could lose data: delete the storage first, "
                       f"then ask for {tier}")
    return _set_and_restart(r, space_id, record, "storage", tier, caller)


@router.delete("/{owner}/{name}/storage", response_model=SpaceRuntime)
def delete_storage(caller: CurrentUser, space: OwnedSpace, r: StoreDep) -> dict:
    """Remove the Space's ``/data`` volume and everything in it; the Space restarts without it."""
    return _set_and_restart(r, space.id, space.record, "storage", "", caller)


@router.post("/{owner}/{name}/hardware", response_model=SpaceRuntime)
def request_hardware(caller: CurrentUser, space: OwnedSpace, body: HardwareRequest, r: StoreDep) -> dict:
    """Move the Space to another hardware tier (its container limits); it restarts on it."""
    if (space.record.get("hardware") or DEFAULT_TIER) == body.flavor:
        return runtime_view(space.record, caller)
    return _set_and_restart(r, space.id, space.record, "hardware", body.flavor, caller)
