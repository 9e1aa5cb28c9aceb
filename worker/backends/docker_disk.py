"""The Docker engine's side of disk housekeeping (:mod:`worker.disk` decides what to keep).

:func:`engine_usage` is Docker's ``system df`` as the admin page shows it; :func:`clean_images`
removes app images nothing keeps and dependency images no kept app image is built on, then
(unless a build runs) dangling images and the build cache. Images made in the last ``RECENT``
seconds stay whatever they are: a build may have just made one that a deploy is about to start.
"""

from __future__ import annotations

import contextlib
import logging
import time

import docker
import docker.errors

from core.names import APP_IMAGE_REPO, DEPS_IMAGE_REPO

log = logging.getLogger(__name__)

RECENT = 900  # seconds: images younger than this are kept (a build or a deploy may be about to use them)


def engine_usage(client: docker.DockerClient) -> dict:
    """Bytes used by images, containers, volumes and the build cache, as the engine counts them."""
    df = client.df()
    images = df.get("Images") or []
    unused = sum(i.get("Size", 0) - max(i.get("SharedSize", 0), 0) for i in images if not i.get("Containers"))
    return {
        "images": {"count": len(images), "bytes": df.get("LayersSize") or 0, "unused_bytes": max(unused, 0)},
        "containers": sum(c.get("SizeRw") or 0 for c in df.get("Containers") or []),
        "volumes": sum(max((v.get("UsageData") or {}).get("Size", 0), 0) for v in df.get("Volumes") or []),
        "build_cache": sum(b.get("Size") or 0 for b in df.get("BuildCache") or []),
    }


def _kept_ids(client: docker.DockerClient, keep: set[str]) -> set[str]:
    """Ids of the images to keep: used by a container, or named in ``keep``."""
    kept = {c.attrs.get("Image") or "" for c in client.containers.list(all=True, ignore_removed=True)}
    for ref in keep:
        with contextlib.suppress(docker.errors.ImageNotFound):
            kept.add(client.images.get(ref).id or "")
    return kept


def clean_images(client: docker.DockerClient, keep: set[str], *, building: bool) -> tuple[list[str], list[str]]:
    """Remove unused app and dependency images (and, unless ``building``, dangling images and the
    build cache). Returns the tags removed and what was skipped, with why."""
    from worker.backends.docker import unix_time  # the backend imports this module

    kept = _kept_ids(client, keep)
    ancestors: set[str] = set()
    for image_id in kept:
        try:
            ancestors.update(layer["Id"] for layer in client.api.history(image_id) if layer.get("Id", "").startswith("sha256:"))
        except docker.errors.NotFound:
            continue
    removed, skipped = [], []
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
    return removed, skipped
