"""The runtime backend interface: how one built version of a Space is served, watched and retired.

Modelled on JupyterHub's Spawner, and as small: a backend must write :meth:`start`, :meth:`poll`,
:meth:`remove` and :meth:`list_instances`; ``list_instances`` is what lets the reconciler re-adopt
serving Spaces after a restart of the worker (the state lives in the backend, e.g. Docker labels or
the static server's site links, not in worker memory). What else a backend can do it declares in
:attr:`RuntimeBackend.capabilities` (:class:`Capability`); callers ask before they use it, and the
base methods of a capability a backend lacks refuse with :class:`BackendError`.

Container Spaces run on the platform's backend (``Settings.backend``: Docker); static Spaces on the
static backend (one shared file server). :func:`worker.backends.backend_for` picks one for a Space.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum

from core.errors import BackendError
from worker.diskuse import DiskUse


class Capability(str, Enum):  # noqa: UP042 - kept like core.stages.Stage
    """What a backend can do beyond serving a version and retiring it."""

    SLEEP = "sleep"  # pause/unpause/resume: an idle instance is frozen or stopped, and woken by a visit
    CRASHES = "crashes"  # instances run processes that can exit on their own: the monitor watches states()
    LOGS = "logs"  # instances print output (logs, follow_logs)
    USAGE = "usage"  # memory, CPU and disk use of an instance (usage, disk_usage)
    STORAGE = "storage"  # a persistent /data per Space (has_storage, drop_storage)


@dataclass(frozen=True)
class RunSpec:
    """Everything needed to start one version of a Space."""

    space_id: str
    build_id: str
    image: str
    app_port: int
    env: dict[str, str]
    memory_mb: int
    cpus: float
    pids: int
    storage_gb: int = 0  # the size of the Space's persistent /data (0: none)
    host: str = ""  # the host visitors use (``owner-name.<domain>``)
    site: str = ""  # the Space's subdomain label (static Spaces: the site's name on the shared server)
    files: str = ""  # static Spaces: the folder the builder copied the site to
    app_dir: str = "."  # static Spaces: the site's root inside ``files``
    index: str = "index.html"  # static Spaces: the page a visit to / shows


@dataclass(frozen=True)
class Instance:
    """One running (or stopped) copy of a Space as the backend sees it."""

    id: str
    space_id: str
    build_id: str
    running: bool
    target: str = ""  # URL Traefik should send requests to; empty while not running
    exit_code: int | None = None
    oom_killed: bool = False
    paused: bool = False  # frozen in memory (sleeping); ``running`` stays True
    started_at: float = 0.0  # unix time the instance last started
    labels: dict[str, str] = field(default_factory=dict)
    root_path: str | None = None  # a path the route adds in front of every request (a static site's index page)
    ready: bool = False  # it answers already (its start checked it): no health wait needed


class RuntimeBackend(abc.ABC):
    name: str = ""
    kind: str = "container"  # the build kind it serves (``kind`` in a build's record, set by the builder)
    capabilities: frozenset[Capability] = frozenset()
    # True if starting a version replaces the serving one in place (no blue/green, nothing of its own
    # to drain): a deploy that fails or is stopped leaves it for the reconciler to put back.
    replaces_in_place: bool = False

    def can(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def _lacks(self, capability: Capability) -> BackendError:
        return BackendError(f"the {self.name} backend cannot {capability.value}")

    @abc.abstractmethod
    def start(self, spec: RunSpec) -> Instance:
        """Create and start an instance of ``spec``; returns it with its ``target`` URL."""

    @abc.abstractmethod
    def poll(self, instance_id: str) -> Instance | None:
        """The instance's current state, or None if it no longer exists."""

    @abc.abstractmethod
    def remove(self, instance_id: str) -> None:
        """Remove for good; an instance that is already gone is success."""

    @abc.abstractmethod
    def list_instances(self) -> list[Instance]:
        """Every instance this backend runs for the platform."""

    def instances_of(self, space_id: str) -> list[Instance]:
        """The Space's instances. Default: filtered from :meth:`list_instances`."""
        return [i for i in self.list_instances() if i.space_id == space_id]

    def stop(self, instance_id: str, *, timeout: float = 10) -> None:  # noqa: B027 - nothing runs by default
        """Stop gracefully (an instance that is already stopped or gone is success). Default: an
        instance runs no process of its own, so there is nothing to stop."""

    # Capability.SLEEP
    def resume(self, instance_id: str) -> Instance:
        """Start a stopped instance again (its target may change)."""
        raise self._lacks(Capability.SLEEP)

    def pause(self, instance_id: str) -> None:
        """Freeze the instance's processes, keeping its memory (the first tier of sleep)."""
        raise self._lacks(Capability.SLEEP)

    def unpause(self, instance_id: str) -> Instance:
        """Thaw a paused instance; one that is not paused is success."""
        raise self._lacks(Capability.SLEEP)

    # Capability.LOGS
    def logs(self, instance_id: str, *, tail: int = 50) -> str:
        """The last ``tail`` lines the instance printed. Default: it prints nothing."""
        return ""

    def follow_logs(self, instance_id: str, *, since: float | None = None) -> Iterator[tuple[float, str]]:
        """``(unix time, line)`` for each line the instance prints after ``since``, until it stops."""
        return iter(())

    def states(self) -> dict[str, tuple[str, str]]:
        """``{instance id: (state, space id)}`` for every instance; state is ``running``, ``paused``,
        ``exited``... As cheap as the backend can make it. Default: from :meth:`list_instances`."""
        return {i.id: ("paused" if i.paused else "running" if i.running else "exited", i.space_id)
                for i in self.list_instances()}

    def watch_starts(self) -> Iterator[tuple[str, str]]:
        """``(instance id, space id)`` as each instance starts, for as long as the backend can tell;
        blocks between starts. Default: nothing (callers fall back to looking at :meth:`states`)."""
        return iter(())

    def usage(self, instance_id: str) -> tuple[int, int] | None:
        """``(memory bytes, CPU time in nanoseconds)`` the instance uses now, or None if unknown."""
        return None

    def disk_usage(self, instance_id: str, *, max_files: int) -> DiskUse | None:
        """What the instance wrote outside ``/data`` and what its Space's ``/data`` holds (each walk
        stops at ``max_files`` entries), or None if unknown. Default: unknown."""
        return None

    def engine_usage(self) -> dict | None:
        """Bytes the engine's images, containers, volumes and build cache take, or None if unknown."""
        return None

    def clean_up(self, keep: set[str], *, building: bool) -> tuple[list[str], list[str]]:
        """Remove images nothing uses and that ``keep`` does not name; returns the tags removed and
        what was skipped, with why. Default: nothing to clean."""
        return [], []

    def image_size(self, image: str) -> int | None:
        """Bytes of an image on disk, or None if unknown."""
        return None

    def forget(self, space_id: str, *, site: str = "") -> None:  # noqa: B027 - an optional hook: a backend may keep nothing
        """Drop what the backend keeps for a deleted Space besides instances (e.g. images); ``site``:
        its subdomain label. Default: nothing."""

    # Capability.STORAGE
    def has_storage(self, space_id: str) -> bool:
        """True if the Space's persistent /data volume exists. Default: backends without storage."""
        return False

    def drop_storage(self, space_id: str) -> None:  # noqa: B027 - an optional hook: a backend may have no storage
        """Delete the Space's /data volume and everything in it. Default: nothing to drop."""
