"""Disk: what the platform's images, volumes and caches take, and an admin's clean-up.

The monitor samples :func:`measure` every ``EVERY`` seconds into ``keys.DISK_USAGE`` (Docker's
``system df`` takes seconds on a busy host; the admin page only reads Redis). :func:`clean_up` is
the ``runs`` queue job behind the system page's button. It removes only what nothing needs:

- app images (``spaces-app/…``) that no container uses and that are neither the serving build nor
  the latest build of their Space — a rollback rebuilds from the commit, from cached layers;
- every app image of a Space that no longer exists;
- dependency images (``spaces-deps:…``) that no kept app image is built on, untagged (dangling)
  images and Docker's build cache — not while a build runs, which may be using them.

Images made in the last ``RECENT`` seconds stay whatever they are: a build may have just made one
that a deploy is about to start.

Runtime and root images, volumes (persistent storage) and the wheel cache stay.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from pathlib import Path

import docker
import docker.errors
import redis

from core import keys, store
from core.names import APP_IMAGE_REPO, DEPS_IMAGE_REPO
from core.queues import builds_running
from core.settings import get_settings
from worker.backends.docker import unix_time

log = logging.getLogger(__name__)

EVERY = 60.0
RECENT = 900  # seconds: images younger than this are kept (a build or a deploy may be about to use them)


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


def measure(client: docker.DockerClient) -> dict:
    """Bytes used by images, containers, volumes and the build cache (Docker's view), and by the
    platform's own folders."""
    df = client.df()
    images = df.get("Images") or []
    unused = sum(i.get("Size", 0) - max(i.get("SharedSize", 0), 0) for i in images if not i.get("Containers"))
    settings = get_settings()
    others = sum(dir_size(p) for p in (settings.data_dir / "cache").glob("*") if p != settings.wheel_cache)
    return {
        "at": time.time(),
        "images": {"count": len(images), "bytes": df.get("LayersSize") or 0, "unused_bytes": max(unused, 0)},
        "containers": sum(c.get("SizeRw") or 0 for c in df.get("Containers") or []),
        "volumes": sum(max((v.get("UsageData") or {}).get("Size", 0), 0) for v in df.get("Volumes") or []),
        "build_cache": sum(b.get("Size") or 0 for b in df.get("BuildCache") or []),
        "folders": {"wheel cache": dir_size(settings.wheel_cache), "other caches": others, "repositories": dir_size(settings.repos_dir),
                    "logs": dir_size(settings.data_dir / "logs"), "static sites": dir_size(settings.static_dir)},
    }


def record(r: redis.Redis, client: docker.DockerClient) -> dict:
    usage = measure(client)
    r.set(keys.DISK_USAGE, json.dumps(usage))
    return usage


class DiskRecorder:
    """A monitor check whose work happens in a thread of its own, every ``EVERY`` seconds."""

    def __init__(self, r: redis.Redis) -> None:
        self.r = r
        threading.Thread(target=self._loop, daemon=True, name="disk").start()

    def check(self, spaces: list[dict], states: dict[str, tuple[str, str]]) -> None:
        """Nothing per tick: Docker's disk figures take seconds to gather."""

    def _loop(self) -> None:
        client = docker.from_env(timeout=300)
        while True:
            try:
                record(self.r, client)
            except Exception:  # Docker away for a moment: the page shows the last figures
                log.warning("measuring disk use failed", exc_info=True)
            time.sleep(EVERY)


def _kept_images(r: redis.Redis, client: docker.DockerClient) -> set[str]:
    """Ids of the app images to keep: in use by a container, serving, or the latest build of a Space."""
    kept = {c.attrs.get("Image") or "" for c in client.containers.list(all=True, ignore_removed=True)}
    for space in store.list_spaces(r):
        for build_id in (space.get("running_build"), space.get("latest_build")):
            image = (store.get_build(r, build_id or "") or {}).get("image")
            if image:
                with contextlib.suppress(docker.errors.ImageNotFound):
                    kept.add(client.images.get(image).id)
    return kept


def clean_up() -> dict:
    """The clean-up job: remove what nothing needs (see the module's docstring); returns and records
    ``{at, removed: [tags], freed_bytes, skipped}``."""
    r, client = store.get_redis(), docker.from_env(timeout=300)
    before = measure(client)
    kept = _kept_images(r, client)
    ancestors: set[str] = set()
    for image_id in kept:
        try:
            ancestors.update(layer["Id"] for layer in client.api.history(image_id) if layer.get("Id", "").startswith("sha256:"))
        except docker.errors.NotFound:
            continue
    removed, skipped = [], []
    building = builds_running(r)
    for image in client.images.list():
        if unix_time(image.attrs.get("Created") or "") > time.time() - RECENT:
            continue  # just built: a deploy or a build may be about to use it
        for tag in image.tags:
            unused_app = tag.startswith(f"{APP_IMAGE_REPO}/") and image.id not in kept
            unused_deps = tag.startswith(f"{DEPS_IMAGE_REPO}:") and image.id not in ancestors and not building
            if not (unused_app or unused_deps):
                continue
            try:
                client.images.remove(tag, noprune=False)
                removed.append(tag)
            except docker.errors.APIError as exc:  # used meanwhile (a deploy started it): keep it
                skipped.append(f"{tag}: {exc.explanation or exc}")
    if building:
        skipped.append("dependency images, untagged images and the build cache: a build is running; clean up again later")
    else:
        client.images.prune(filters={"dangling": True})
        try:
            client.api.prune_builds()
        except docker.errors.APIError as exc:
            skipped.append(f"build cache: {exc.explanation or exc}")
    after = record(r, client)
    freed = (before["images"]["bytes"] - after["images"]["bytes"]) + (before["build_cache"] - after["build_cache"])
    result = {"at": time.time(), "removed": removed, "freed_bytes": max(freed, 0), "skipped": skipped}
    r.set(keys.CLEANUP_RESULT, json.dumps(result))
    log.info("clean-up removed %d image tag(s), freed %d bytes", len(removed), result["freed_bytes"])
    return result
