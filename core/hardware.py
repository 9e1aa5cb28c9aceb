"""Hardware tiers, named as on Hugging Face, and the container limits each one maps to.

``cpu-basic`` is the platform's default limits (``SPACES_SPACE_CPUS``, ``SPACES_SPACE_MEMORY_MB``,
``SPACES_SPACE_PIDS``, ``SPACES_SPACE_DISK_MB``, ``SPACES_SPACE_FILES``); ``cpu-upgrade`` has four
times the CPUs (at most the host's), memory, processes and disk.
GPU tiers are refused: this platform runs Spaces on CPUs only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from core.models import Space
from core.settings import Settings

DEFAULT_TIER = "cpu-basic"
TIERS = ("cpu-basic", "cpu-upgrade")


@dataclass(frozen=True)
class Limits:
    cpus: float
    memory_mb: int
    pids: int
    disk_mb: int  # written outside /data
    files: int  # made outside /data


def limits_for(tier: str | None, settings: Settings) -> Limits:
    factor = 4 if tier == "cpu-upgrade" else 1
    cpus = min(settings.space_cpus * factor, float(os.cpu_count() or 1))
    return Limits(cpus=cpus, memory_mb=settings.space_memory_mb * factor, pids=settings.space_pids * factor,
                  disk_mb=settings.space_disk_mb * factor, files=settings.space_files)


def space_limits(space: Space, settings: Settings) -> Limits:
    return limits_for(space.hardware or DEFAULT_TIER, settings)


STORAGE_TIERS = ("small", "medium", "large")


def storage_gb(tier: str | None, settings: Settings) -> int:
    """The size of a persistent storage tier (0: none)."""
    return {"small": settings.storage_small_gb, "medium": settings.storage_medium_gb,
            "large": settings.storage_large_gb}.get(tier or "", 0)
