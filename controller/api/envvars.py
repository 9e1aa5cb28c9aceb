"""A Space's variables and secrets, on Hugging Face's paths and in its shapes.

``POST`` takes ``{"key", "value", "description"}``, ``DELETE`` takes ``{"key"}``. ``GET …/variables``
answers ``{KEY: {"value", "description", "updatedAt"}}``; ``GET …/secrets`` answers the same without
values — no answer ever carries a secret's value. A change restarts the Space (a Docker Space is
rebuilt, since its variables are build arguments).
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from controller.deps import CurrentUser, OptionalUser, StoreDep, owned_space, readable_space
from controller.repos import head_commit
from controller.views import iso
from core import envvars, store
from core.queues import enqueue_build, enqueue_deploy
from core.stages import BuildStatus

router = APIRouter(prefix="/api/spaces", tags=["variables and secrets"])


class EnvEntry(BaseModel):
    key: str = Field(max_length=128)
    value: str = ""
    description: str = Field(default="", max_length=1000)


class EnvKey(BaseModel):
    key: str = Field(max_length=128)


def apply_change(r, space_id: str) -> None:
    """Restart the Space so that its app sees the change.

    A Docker Space (or one whose first build has not read its README yet) is rebuilt, whatever its
    last build did: variables are its build arguments and secrets its build secrets (a build may
    have failed for want of one). Other Spaces start their latest successful build again with the
    new environment.
    """
    space = store.get_space(r, space_id) or {}
    # No sdk yet: the first build has not read the README so far, and may be a Docker build that
    # started without this change; build the head again (the newer build supersedes it).
    if space.get("sdk") in ("docker", None, ""):
        commit = head_commit(space_id)
        if commit:
            enqueue_build(r, space_id, store.create_build(r, space_id, commit))
        return
    build = store.get_build(r, space["latest_build"]) if space.get("latest_build") else None
    if build is not None and build.get("status") == BuildStatus.SUCCEEDED.value:
        enqueue_deploy(r, space_id, build["id"], startup_seconds=int(build.get("startup_seconds", 300)))


def _shape(entries: dict[str, dict]) -> dict[str, dict]:
    return {k: {"key": k, **v, "updatedAt": iso(v.get("updatedAt"))} for k, v in entries.items()}


@router.get("/{owner}/{name}/variables")
def get_variables(owner: str, name: str, r: StoreDep, caller: OptionalUser) -> dict:
    space_id, _ = readable_space(r, owner, name, caller, repo=True)
    return _shape(envvars.list_variables(r, space_id))


@router.post("/{owner}/{name}/variables")
def add_variable(owner: str, name: str, entry: EnvEntry, r: StoreDep, caller: CurrentUser) -> dict:
    space_id, _ = owned_space(r, owner, name, caller)
    envvars.set_variable(r, space_id, entry.key, entry.value, entry.description, at=store.now())
    apply_change(r, space_id)
    return _shape(envvars.list_variables(r, space_id))


@router.delete("/{owner}/{name}/variables")
def delete_variable(owner: str, name: str, entry: EnvKey, r: StoreDep, caller: CurrentUser) -> dict:
    space_id, _ = owned_space(r, owner, name, caller)
    envvars.delete(r, space_id, entry.key, "variable")
    apply_change(r, space_id)
    return _shape(envvars.list_variables(r, space_id))


@router.get("/{owner}/{name}/secrets")
def get_secrets(owner: str, name: str, r: StoreDep, caller: CurrentUser) -> dict:
    space_id, _ = owned_space(r, owner, name, caller)
    return _shape(envvars.list_secrets(r, space_id))


@router.post("/{owner}/{name}/secrets")
def add_secret(owner: str, name: str, entry: EnvEntry, r: StoreDep, caller: CurrentUser) -> dict:
    space_id, _ = owned_space(r, owner, name, caller)
    envvars.set_secret(r, space_id, entry.key, entry.value, entry.description, at=store.now())
    apply_change(r, space_id)
    return _shape(envvars.list_secrets(r, space_id))


@router.delete("/{owner}/{name}/secrets")
def delete_secret(owner: str, name: str, entry: EnvKey, r: StoreDep, caller: CurrentUser) -> dict:
    space_id, _ = owned_space(r, owner, name, caller)
    envvars.delete(r, space_id, entry.key, "secret")
    apply_change(r, space_id)
    return _shape(envvars.list_secrets(r, space_id))
