"""Runtime backends, and the one place that picks one.

Container Spaces run on the platform's backend (``SPACES_BACKEND``, default ``docker``); static
Spaces on :class:`~worker.backends.static.StaticBackend`. Which one serves a build follows its
``kind`` (set by the builder); which one serves a Space is recorded in its ``runtime`` field when
a version starts serving. To add a backend, subclass :class:`~worker.backends.base.RuntimeBackend`
and register it in :data:`BACKENDS`; nothing else in the worker names a backend.
"""

from __future__ import annotations

from typing import TypedDict

import redis

from core import store
from core.models import Build, Space
from core.settings import get_settings
from worker.backends.base import Capability, Instance, RunSpec, RuntimeBackend
from worker.backends.docker import DockerBackend
from worker.backends.static import StaticBackend

BACKENDS: dict[str, type[RuntimeBackend]] = {DockerBackend.name: DockerBackend, StaticBackend.name: StaticBackend}


def get_backend(name: str | None = None) -> RuntimeBackend:
    """The backend named ``name``, else the platform's container backend (``Settings.backend``)."""
    chosen = name or get_settings().backend
    cls = BACKENDS.get(chosen)
    if cls is None or (name is None and cls.kind != "container"):
        known = sorted(n for n, c in BACKENDS.items() if c.kind == "container")
        raise ValueError(f"unknown container runtime backend {chosen!r} (SPACES_BACKEND); known: {', '.join(known)}")
    return cls()


def backend_for_build(build: Build) -> RuntimeBackend:
    """The backend that serves builds of this build's kind."""
    kind = build.kind or "container"
    special = [cls for cls in BACKENDS.values() if cls.kind == kind and kind != "container"]
    return special[0]() if special else get_backend()


def backend_for(r: redis.Redis, space: Space) -> RuntimeBackend:
    """The backend serving the Space (its record's ``runtime``; for a record written before that
    field existed, the one its serving build's kind asks for)."""
    if space.runtime:
        return get_backend(space.runtime)
    build = store.get_build(r, space.running_build)
    return backend_for_build(build) if build is not None else get_backend()


def runtime_of(space: Space) -> str:
    """The name of the backend the Space's recorded instance belongs to (no Redis read)."""
    return space.runtime or get_settings().backend


def can(space: Space, capability: Capability) -> bool:
    """Whether the backend serving the Space (as its record says) has ``capability``."""
    cls = BACKENDS.get(runtime_of(space))
    return cls is not None and capability in cls.capabilities


def all_backends() -> list[RuntimeBackend]:
    """One of each backend this platform runs Spaces on (for what concerns every Space: deletion, adoption)."""
    found = [get_backend(), get_backend(StaticBackend.name)]
    return [b for i, b in enumerate(found) if all(b is not other for other in found[:i])]


class ServingFields(TypedDict):
    instance: str
    target: str
    runtime: str


def serving_fields(runtime: RuntimeBackend, inst: Instance) -> ServingFields:
    """What a Space's record says about the instance that serves it."""
    return {"instance": inst.id, "target": inst.target, "runtime": runtime.name}


__all__ = [
    "BACKENDS", "Capability", "Instance", "RunSpec", "RuntimeBackend", "all_backends", "backend_for",
    "backend_for_build", "can", "get_backend", "runtime_of", "serving_fields",
]
