"""The runtime backend interface: how one Space's container is started, watched and stopped.

Modelled on JupyterHub's Spawner. A backend must write :meth:`start`, :meth:`poll`,
:meth:`resume`, :meth:`pause`, :meth:`unpause`, :meth:`stop`, :meth:`remove`, :meth:`logs`,
:meth:`follow_logs` and :meth:`list_instances` (:meth:`forget` has a default); ``list_instances`` is what
lets the reconciler re-adopt running Spaces after a restart of the worker (the state lives in the
backend, e.g. Docker labels, not in worker memory).
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass, field

from worker.diskuse import DiskUse


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


class RuntimeBackend(abc.ABC):
    name: str = ""

    @abc.abstractmethod
    def start(self, spec: RunSpec) -> Instance:
        """Create and start an instance of ``spec``; returns it with its ``target`` URL."""

    @abc.abstractmethod
    def poll(self, instance_id: str) -> Instance | None:
        """The instance's current state, or None if it no longer exists."""

    @abc.abstractmethod
    def resume(self, instance_id: str) -> Instance:
        """Start a stopped instance again (its target may change)."""

    @abc.abstractmethod
    def pause(self, instance_id: str) -> None:
        """Freeze the instance's processes, keeping its memory (the first tier of sleep)."""

    @abc.abstractmethod
    def unpause(self, instance_id: str) -> Instance:
        """Thaw a paused instance; one that is not paused is success."""

    @abc.abstractmethod
    def stop(self, instance_id: str, *, timeout: float = 10) -> None:
        """Stop gracefully; an instance that is already stopped or gone is success."""

    @abc.abstractmethod
    def remove(self, instance_id: str) -> None:
        """Remove for good; an instance that is already gone is success."""

    @abc.abstractmethod
    def logs(self, instance_id: str, *, tail: int = 50) -> str:
        """The last ``tail`` lines the instance printed."""

    @abc.abstractmethod
    def follow_logs(self, instance_id: str, *, since: float | None = None) -> Iterator[tuple[float, str]]:
        """``(unix time, line)`` for each line the instance prints after ``since``, until it stops."""

    @abc.abstractmethod
    def list_instances(self) -> list[Instance]:
        """Every instance this backend runs for the platform."""

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

    def image_size(self, image: str) -> int | None:
        """Bytes of an image on disk, or None if unknown."""
        return None

    def forget(self, space_id: str) -> None:  # noqa: B027 - an optional hook: a backend may keep nothing
        """Drop what the backend keeps for a deleted Space besides instances (e.g. images). Default: nothing."""

    def has_storage(self, space_id: str) -> bool:
        """True if the Space's persistent /data volume exists. Default: backends without storage."""
        return False

    def drop_storage(self, space_id: str) -> None:  # noqa: B027 - an optional hook: a backend may have no storage
        """Delete the Space's /data volume and everything in it. Default: nothing to drop."""
