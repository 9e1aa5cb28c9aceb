"""A Space's variables and secrets, on Hugging Face's paths and in its shapes.

``POST`` takes ``{"key", "value", "description"}``, ``DELETE`` takes ``{"key"}``. ``GET …/variables``
answers ``{KEY: {"value", "description", "updatedAt"}}``; ``GET …/secrets`` answers the same without
values — no answer ever carries a secret's value. A change restarts the Space (a Docker Space is
rebuilt, since its variables are build arguments).
"""

from __future__ import annotations

from fastapi import APIRouter

from controller.api.models import EnvEntry, EnvKey, SecretInfo, VariableInfo
from controller.deps import OwnedSpace, ReadableRepo, StoreDep
from controller.repos import head_commit
from controller.views import iso
from core import envvars, store
from core.queues import enqueue_build, enqueue_deploy
from core.stages import BuildStatus

router = APIRouter(prefix="/api/spaces", tags=["variables and secrets"])


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


@router.get("/{owner}/{name}/variables", response_model=dict[str, VariableInfo])
def get_variables(space: ReadableRepo, r: StoreDep) -> dict:
    return _shape(envvars.list_variables(r, space.id))


@router.post("/{owner}/{name}/variables", response_model=dict[str, VariableInfo])
def add_variable(space: OwnedSpace, entry: EnvEntry, r: StoreDep) -> dict:
    envvars.set_variable(r, space.id, entry.key, entry.value, entry.description, at=store.now())
    apply_change(r, space.id)
    return _shape(envvars.list_variables(r, space.id))


@router.delete("/{owner}/{name}/variables", response_model=dict[str, VariableInfo])
def delete_variable(space: OwnedSpace, entry: EnvKey, r: StoreDep) -> dict:
    envvars.delete(r, space.id, entry.key, "variable")
    apply_change(r, space.id)
    return _shape(envvars.list_variables(r, space.id))


@router.get("/{owner}/{name}/secrets", response_model=dict[str, SecretInfo])
def get_secrets(space: OwnedSpace, r: StoreDep) -> dict:
    return _shape(envvars.list_secrets(r, space.id))


@router.post("/{owner}/{name}/secrets", response_model=dict[str, SecretInfo])
def add_secret(space: OwnedSpace, entry: EnvEntry, r: StoreDep) -> dict:
    envvars.set_secret(r, space.id, entry.key, entry.value, entry.description, at=store.now())
    apply_change(r, space.id)
    return _shape(envvars.list_secrets(r, space.id))


@router.delete("/{owner}/{name}/secrets", response_model=dict[str, SecretInfo])
def delete_secret(space: OwnedSpace, entry: EnvKey, r: StoreDep) -> dict:
    envvars.delete(r, space.id, entry.key, "secret")
    apply_change(r, space.id)
    return _shape(envvars.list_secrets(r, space.id))
