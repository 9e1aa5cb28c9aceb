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
from controller.views import iso
from core import envvars, services

router = APIRouter(prefix="/api/spaces", tags=["variables and secrets"])


def _shape(entries: dict[str, dict]) -> dict[str, dict]:
    return {k: {"key": k, **v, "updatedAt": iso(v.get("updatedAt"))} for k, v in entries.items()}


@router.get("/{owner}/{name}/variables", response_model=dict[str, VariableInfo])
def get_variables(space: ReadableRepo, r: StoreDep) -> dict:
    return _shape(envvars.list_variables(r, space.id))


@router.post("/{owner}/{name}/variables", response_model=dict[str, VariableInfo])
def add_variable(space: OwnedSpace, entry: EnvEntry, r: StoreDep) -> dict:
    services.set_variable(r, space.id, entry.key, entry.value, entry.description)
    return _shape(envvars.list_variables(r, space.id))


@router.delete("/{owner}/{name}/variables", response_model=dict[str, VariableInfo])
def delete_variable(space: OwnedSpace, entry: EnvKey, r: StoreDep) -> dict:
    services.delete_env(r, space.id, entry.key, "variable")
    return _shape(envvars.list_variables(r, space.id))


@router.get("/{owner}/{name}/secrets", response_model=dict[str, SecretInfo])
def get_secrets(space: OwnedSpace, r: StoreDep) -> dict:
    return _shape(envvars.list_secrets(r, space.id))


@router.post("/{owner}/{name}/secrets", response_model=dict[str, SecretInfo])
def add_secret(space: OwnedSpace, entry: EnvEntry, r: StoreDep) -> dict:
    services.set_secret(r, space.id, entry.key, entry.value, entry.description)
    return _shape(envvars.list_secrets(r, space.id))


@router.delete("/{owner}/{name}/secrets", response_model=dict[str, SecretInfo])
def delete_secret(space: OwnedSpace, entry: EnvKey, r: StoreDep) -> dict:
    services.delete_env(r, space.id, entry.key, "secret")
    return _shape(envvars.list_secrets(r, space.id))
