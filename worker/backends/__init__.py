"""Runtime backends, chosen by short name (``SPACES_BACKEND``, default ``docker``).

To add one, subclass :class:`worker.backends.base.RuntimeBackend` and register it in
:data:`BACKENDS`; nothing else in the worker names a backend.
"""

from __future__ import annotations

from core.settings import get_settings
from worker.backends.base import Instance, RunSpec, RuntimeBackend
from worker.backends.docker import DockerBackend

BACKENDS: dict[str, type[RuntimeBackend]] = {DockerBackend.name: DockerBackend}


def get_backend(name: str | None = None) -> RuntimeBackend:
    """The backend named ``name``, else the platform's (``Settings.backend``)."""
    name = name or get_settings().backend
    try:
        return BACKENDS[name]()
    except KeyError:
        raise ValueError(f"unknown runtime backend {name!r}; known: {', '.join(sorted(BACKENDS))}") from None


__all__ = ["BACKENDS", "Instance", "RunSpec", "RuntimeBackend", "get_backend"]
