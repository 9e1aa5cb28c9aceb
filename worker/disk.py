"""Disk: what the platform's images, volumes and caches take, and an admin's clean-up.

The monitor samples :func:`measure` every ``EVERY`` seconds into ``keys.DISK_USAGE`` (Docker's
``system df`` takes seconds on a busy host; the admin page only reads Redis). :func:`clean_up` is
the ``runs`` queue job behind the system page's button. It removes only what nothing needs:

- app images (``spaces-app/…``) that no container uses and that are neither the serving build nor
  the latest build of their Space — a rollback rebuilds from the commit, from cached layers;
- every app image of a Space that no longer exists;
- dependency images (``spaces-deps:…``) that no kept app image is built on, untagged (dangling)
  images and Docker's build cache — not while a build runs, which may be using them.

Images made in the last 15 minutes stay whatever they are: a build may have just made one that a
deploy is about to start. The engine's side (what it measures and removes) is the backend's
(:mod:`worker.backends.docker_disk`); this module decides what the records keep.

Runtime and root images, volumes (persistent storage) and the wheel cache stay.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

import redis

from core import keys, store
from core.models import Space
from core.queues import builds_running
from core.settings import get_settings
from worker.backends import RuntimeBackend, get_backend

log = logging.getLogger(__name__)

EVERY = 60.0


def dir_size(path: Path) -> int:
    """Bytes of the files under ``path`` (0 if it does not exist); symlinks not followed."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue  # removed meanwhile
    return total


def measure(runtime: RuntimeBackend) -> dict:
    """Bytes used by images, containers, volumes and the build cache (the backend's view), and by
    the platform's own folders."""
    settings = get_settings()
    others = sum(dir_size(p) for p in (settings.data_dir / "cache").glob("*") if p != settings.wheel_cache)
    engine = runtime.engine_usage() or {"images": {"count": 0, "bytes": 0, "unused_bytes": 0}, "containers": 0,
                                        "volumes": 0, "build_cache": 0}
    return {
        "at": time.time(),
        **engine,
        "folders": {"wheel cache": dir_size(settings.wheel_cache), "other caches": others, "repositories": dir_size(settings.repos_dir),
                    "logs": dir_size(settings.data_dir / "logs"), "static sites": dir_size(settings.static_dir)},
    }


def record(r: redis.Redis, runtime: RuntimeBackend) -> dict:
    usage = measure(runtime)
    r.set(keys.DISK_USAGE, json.dumps(usage))
    return usage


class DiskRecorder:
    """A monitor check whose work happens in a thread of its own, every ``EVERY`` seconds."""

    def __init__(self, r: redis.Redis, runtime: RuntimeBackend) -> None:
        self.r, self.runtime = r, runtime
        threading.Thread(target=self._loop, daemon=True, name="disk").start()

    def check(self, spaces: list[Space], states: dict[str, tuple[str, str]]) -> None:
        """Nothing per tick: the engine's disk figures take seconds to gather."""

    def _loop(self) -> None:
        while True:
            try:
                record(self.r, self.runtime)
            except Exception:  # Docker away for a moment: the page shows the last figures
                log.warning("measuring disk use failed", exc_info=True)
            time.sleep(EVERY)


def _kept_images(r: redis.Redis) -> set[str]:
    """The app images the records keep: the serving and the latest build of every Space."""
    kept = set()
    for space in store.list_spaces(r):
        for build_id in (space.running_build, space.latest_build):
            build = store.get_build(r, build_id)
            if build is not None and build.image:
                kept.add(build.image)
    return kept


def clean_up() -> dict:
    """The clean-up job: remove what nothing needs (see the module's docstring); returns and records
    ``{at, removed: [tags], freed_bytes, skipped}``."""
    r, runtime = store.get_redis(), get_backend()
    before = measure(runtime)
    removed, skipped = runtime.clean_up(_kept_images(r), building=bool(builds_running(r)))
    after = record(r, runtime)
    freed = (before["images"]["bytes"] - after["images"]["bytes"]) + (before["build_cache"] - after["build_cache"])
    result = {"at": time.time(), "removed": removed, "freed_bytes": max(freed, 0), "skipped": skipped}
    r.set(keys.CLEANUP_RESULT, json.dumps(result))
    log.info("clean-up removed %d image tag(s), freed %d bytes", len(removed), result["freed_bytes"])
    return result
