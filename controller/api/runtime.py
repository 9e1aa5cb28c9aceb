"""Owner actions on a Space's runtime, on Hugging Face's paths: restart (optionally a factory
rebuild), pause, the sleep time, persistent storage and the hardware tier. Each answers with the Space's runtime, as HF does."""

from __future__ import annotations

from fastapi import APIRouter

from controller.api.models import HardwareRequest, RestartAnswer, Rollback, RollbackAnswer, SleepTime, SpaceRuntime, StorageRequest
from controller.deps import CurrentUser, OwnedSpace, StoreDep
from controller.views import runtime_view
from core import services, store

router = APIRouter(prefix="/api/spaces", tags=["runtime"])


@router.post("/{owner}/{name}/restart", response_model=RestartAnswer)
def restart_space(caller: CurrentUser, space: OwnedSpace, r: StoreDep, factory: bool = False) -> dict:
    """Restart the Space (also resumes one its owner paused); ``factory=true`` rebuilds it from
    its latest commit without any cache."""
    started = services.restart(r, space.id, factory=factory)
    return {**runtime_view(store.require_space(r, space.id), caller), "id": space.id, "build": started.build,
            "factory": started.factory}


@router.post("/{owner}/{name}/rollback", response_model=RollbackAnswer)
def rollback(caller: CurrentUser, space: OwnedSpace, body: Rollback, r: StoreDep) -> dict:
    """Serve an earlier successful build again: a new commit on main with that build's files (the
    history stays), built and deployed like a push."""
    commit, new_build = services.rollback(r, space.id, body.build, author=caller.name)
    return {**runtime_view(store.require_space(r, space.id), caller), "id": space.id, "build": new_build, "commit": commit}


@router.post("/{owner}/{name}/pause", response_model=SpaceRuntime)
def pause_space(caller: CurrentUser, space: OwnedSpace, r: StoreDep) -> dict:
    """Stop the Space until its owner restarts it; visitors are told it is paused."""
    services.pause(r, space.id)
    return runtime_view(store.require_space(r, space.id), caller)


@router.post("/{owner}/{name}/sleeptime", response_model=SpaceRuntime)
def set_sleep_time(caller: CurrentUser, space: OwnedSpace, body: SleepTime, r: StoreDep) -> dict:
    """How long the Space may stay idle before it sleeps (HF's ``gcTimeout``); -1: never."""
    services.set_sleep_time(r, space.id, body.seconds)
    return runtime_view(store.require_space(r, space.id), caller)


@router.post("/{owner}/{name}/storage", response_model=SpaceRuntime)
def request_storage(caller: CurrentUser, space: OwnedSpace, body: StorageRequest, r: StoreDep) -> dict:
    """Give the Space a persistent ``/data`` volume (HF's persistent storage); it restarts with it."""
    services.set_storage(r, space.id, body.tier)
    return runtime_view(store.require_space(r, space.id), caller)


@router.delete("/{owner}/{name}/storage", response_model=SpaceRuntime)
def delete_storage(caller: CurrentUser, space: OwnedSpace, r: StoreDep) -> dict:
    """Remove the Space's ``/data`` volume and everything in it; the Space restarts without it."""
    services.delete_storage(r, space.id)
    return runtime_view(store.require_space(r, space.id), caller)


@router.post("/{owner}/{name}/hardware", response_model=SpaceRuntime)
def request_hardware(caller: CurrentUser, space: OwnedSpace, body: HardwareRequest, r: StoreDep) -> dict:
    """Move the Space to another hardware tier (its container limits); it restarts on it."""
    services.set_hardware(r, space.id, body.flavor)
    return runtime_view(store.require_space(r, space.id), caller)
