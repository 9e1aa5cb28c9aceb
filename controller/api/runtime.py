"""Owner actions on a Space's runtime, on Hugging Face's paths: restart (optionally a factory
rebuild), pause, the sleep time, persistent storage and the hardware tier. Each answers with the Space's runtime, as HF does."""

from __future__ import annotations

from fastapi import APIRouter, Body

from controller.deps import CurrentUser, StoreDep, owned_space
from controller.repos import head_commit, revert_to
from controller.views import runtime_view
from core import store
from core.access import Caller
from core.errors import Conflict, InvalidInput, NotFound
from core.hardware import DEFAULT_TIER, STORAGE_TIERS, TIERS
from core.queues import enqueue_build, enqueue_deploy, pause, queue_build
from core.stages import BuildStatus, Stage

router = APIRouter(prefix="/api/spaces", tags=["runtime"])

MAX_SLEEP_SECONDS = 30 * 24 * 3600


def check_sleep_seconds(seconds: object, field: str = "seconds") -> int:
    """A sleep time as the API takes it: -1 (never) or 1 to MAX_SLEEP_SECONDS."""
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not (seconds == -1 or 1 <= seconds <= MAX_SLEEP_SECONDS):
        raise InvalidInput(f"{field} must be -1 (never sleep) or a whole number from 1 to {MAX_SLEEP_SECONDS}; got {seconds!r}")
    return seconds


@router.post("/{owner}/{name}/restart")
def restart_space(owner: str, name: str, r: StoreDep, caller: CurrentUser, factory: bool = False) -> dict:
    """Restart the Space (also resumes one its owner paused); ``factory=true`` rebuilds it from
    its latest commit without any cache."""
    space_id, space = owned_space(r, owner, name, caller)
    if factory:
        commit = head_commit(space_id)
        if commit is None:
            raise Conflict(f"{space_id} has no commit to build yet; push one first")
        build_id = store.create_build(r, space_id, commit, factory=True)
        enqueue_build(r, space_id, build_id)
        return {**runtime_view(store.require_space(r, space_id), caller), "id": space_id, "build": build_id, "factory": True}
    latest = store.get_build(r, space.get("latest_build") or "") if space.get("latest_build") else None
    if latest is not None and latest.get("status") in (BuildStatus.QUEUED.value, BuildStatus.RUNNING.value):
        # A build is on its way and starts the Space when it is done (also one its owner paused).
        if space.get("stage") == Stage.PAUSED.value:
            store.set_stage(r, space_id, Stage.BUILDING, build_id=latest["id"])
        return {**runtime_view(store.require_space(r, space_id), caller), "id": space_id, "build": latest["id"], "factory": False}
    build = latest if latest is not None and latest.get("status") == BuildStatus.SUCCEEDED.value else None
    if build is None and space.get("running_build"):  # the latest push failed; the serving version restarts
        build = store.get_build(r, space["running_build"])
    if build is None or build.get("status") != BuildStatus.SUCCEEDED.value:
        raise Conflict(f"{space_id} has no successful build to restart; push a fix or use factory=true")
    enqueue_deploy(r, space_id, build["id"], startup_seconds=int(build.get("startup_seconds", 300)))
    return {**runtime_view(space, caller), "id": space_id, "build": build["id"], "factory": False}


@router.post("/{owner}/{name}/rollback")
def rollback(owner: str, name: str, r: StoreDep, caller: CurrentUser, build: object = Body(..., embed=True)) -> dict:
    """Serve an earlier successful build again: a new commit on main with that build's files (the
    history stays), built and deployed like a push."""
    space_id, _space = owned_space(r, owner, name, caller)
    record = store.get_build(r, str(build)) if isinstance(build, (int, str)) and str(build).isdigit() else None
    if record is None or record.get("space") != space_id:
        raise NotFound(f"{space_id} has no build {build!r}")
    if record.get("status") != BuildStatus.SUCCEEDED.value:
        raise Conflict(f"build #{build} of {space_id} did not succeed ({record.get('status')}); roll back to one that did")
    commit = revert_to(space_id, record["commit"], author=caller.name,
                       message=f"Roll back to build #{build} (commit {record['commit'][:12]})")
    new_build = queue_build(r, space_id, commit)
    return {**runtime_view(store.require_space(r, space_id), caller), "id": space_id, "build": new_build, "commit": commit}


@router.post("/{owner}/{name}/pause")
def pause_space(owner: str, name: str, r: StoreDep, caller: CurrentUser) -> dict:
    """Stop the Space until its owner restarts it; visitors are told it is paused."""
    space_id, space = owned_space(r, owner, name, caller)
    if space.get("stage") == Stage.DELETING.value:
        raise Conflict(f"{space_id} is being deleted")
    pause(r, space_id)
    return runtime_view(store.require_space(r, space_id), caller)


@router.post("/{owner}/{name}/sleeptime")
def set_sleep_time(owner: str, name: str, r: StoreDep, caller: CurrentUser, seconds: object = Body(..., embed=True)) -> dict:
    """How long the Space may stay idle before it sleeps (HF's ``gcTimeout``); -1: never."""
    space_id, _ = owned_space(r, owner, name, caller)
    check_sleep_seconds(seconds)
    store.update_space(r, space_id, sleep_seconds=str(seconds))
    return runtime_view(store.require_space(r, space_id), caller)


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


@router.post("/{owner}/{name}/storage")
def request_storage(owner: str, name: str, r: StoreDep, caller: CurrentUser, tier: object = Body(..., embed=True)) -> dict:
    """Give the Space a persistent ``/data`` volume (HF's persistent storage); it restarts with it."""
    space_id, space = owned_space(r, owner, name, caller)
    if tier not in STORAGE_TIERS:
        raise InvalidInput(f"tier must be one of {', '.join(STORAGE_TIERS)}; got {tier!r}")
    if space.get("sdk") == "static":
        raise Conflict(f"{space_id} is a static Space: it runs no app that could use /data")
    current = space.get("storage") or ""
    if current in STORAGE_TIERS and STORAGE_TIERS.index(str(tier)) < STORAGE_TIERS.index(current):
        raise Conflict(f"{space_id} has {current} storage; a smaller tier could lose data: delete the storage first, "
                       f"then ask for {tier}")
    return _set_and_restart(r, space_id, space, "storage", str(tier), caller)


@router.delete("/{owner}/{name}/storage")
def delete_storage(owner: str, name: str, r: StoreDep, caller: CurrentUser) -> dict:
    """Remove the Space's ``/data`` volume and everything in it; the Space restarts without it."""
    space_id, space = owned_space(r, owner, name, caller)
    return _set_and_restart(r, space_id, space, "storage", "", caller)


@router.post("/{owner}/{name}/hardware")
def request_hardware(owner: str, name: str, r: StoreDep, caller: CurrentUser, flavor: object = Body(..., embed=True)) -> dict:
    """Move the Space to another hardware tier (its container limits); it restarts on it."""
    space_id, space = owned_space(r, owner, name, caller)
    if flavor not in TIERS:
        raise InvalidInput(f"flavor must be one of {', '.join(TIERS)} (this platform has no GPUs); got {flavor!r}")
    if (space.get("hardware") or DEFAULT_TIER) == flavor:
        return runtime_view(space, caller)
    return _set_and_restart(r, space_id, space, "hardware", str(flavor), caller)
