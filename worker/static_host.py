"""Static Spaces: one shared nginx container serves all of them, so a static Space costs no process.

The builder copies a static Space's files to ``<data dir>/static/releases/<label>/<commit>-<build>``;
deploying it points ``<data dir>/static/sites/<label>`` at that release (an atomic symlink
swap) and routes the Space's host to the shared server, which maps the host's first label to
the site folder. The server runs as uid 1000 with the folder mounted read-only.

Confinement: a release holds files and folders only (the builder refuses links), and nginx
follows no symbolic link below a site's root (``disable_symlinks on from=$document_root``: only
the platform's own ``sites/<label>`` link is followed), so a request for one Space's host can only
ever read that Space's live release.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

import docker
import docker.errors
import httpx
from docker.types import LogConfig

from core.errors import BackendError
from core.names import STATIC_SERVER_IMAGE, STATIC_SERVER_NAME
from core.settings import Settings, get_settings
from worker.backends.docker import LOG_FILE_SIZE, LOG_FILES

log = logging.getLogger(__name__)

PORT = 8080
LABEL_ROLE = "org.spaces.role"


def _client() -> docker.DockerClient:
    return docker.from_env(timeout=60)


def _target(container) -> str:
    container.reload()
    bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get(f"{PORT}/tcp") or []
    if not container.attrs["State"].get("Running") or not bindings:
        return ""
    return f"http://127.0.0.1:{bindings[0]['HostPort']}"


def _is_current(container, settings: Settings) -> bool:
    """Same image, the same data folder mounted and its log rotated, as this platform's settings want."""
    mounts = {m.get("Destination"): m.get("Source") for m in container.attrs.get("Mounts", [])}
    log_config = (container.attrs.get("HostConfig") or {}).get("LogConfig") or {}
    return (STATIC_SERVER_IMAGE in (container.image.tags or []) and mounts.get("/srv/static") == str(settings.static_dir)
            and (log_config.get("Config") or {}).get("max-size") == LOG_FILE_SIZE)


def ensure_server(settings: Settings | None = None) -> str:
    """Start the shared static server if it is not running; returns the URL Traefik should use."""
    settings = settings or get_settings()
    client = _client()
    sites = settings.static_dir / "sites"
    sites.mkdir(parents=True, exist_ok=True)
    try:
        container = client.containers.get(STATIC_SERVER_NAME)
    except docker.errors.NotFound:
        container = None
    if container is not None and not _is_current(container, settings):
        log.info("replacing the static server (its image, data folder or log settings changed)")
        container.remove(force=True)
        container = None
    try:
        if container is None:
            container = client.containers.create(
                STATIC_SERVER_IMAGE, name=STATIC_SERVER_NAME, user="1000:1000",
                labels={LABEL_ROLE: "static-server"},
                # A free host port on 127.0.0.1: docker-py takes None for it, types-docker says int only.
                ports={f"{PORT}/tcp": ("127.0.0.1", None)},  # type: ignore[dict-item]
                volumes={str(settings.static_dir): {"bind": "/srv/static", "mode": "ro"}},
                network=settings.space_network, mem_limit="64m", pids_limit=64, cap_drop=["ALL"],
                security_opt=["no-new-privileges"], read_only=True, tmpfs={"/tmp/nginx": "size=16m,uid=1000"},
                log_config=LogConfig(type="json-file", config={"max-size": LOG_FILE_SIZE, "max-file": str(LOG_FILES)}),
                detach=True,
            )
        if not container.attrs["State"].get("Running"):
            container.start()
    except docker.errors.ImageNotFound as exc:
        raise BackendError(f"the static server image {STATIC_SERVER_IMAGE} is missing; push a static Space to build it") from exc
    except docker.errors.APIError as exc:
        raise BackendError(f"could not start the static server: {exc.explanation or exc}") from exc
    target = _target(container)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if target and httpx.get(f"{target}/__spaces_health", timeout=1).status_code == 200:
                return target
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
        target = _target(container)
    raise BackendError("the static server did not answer within 15 s")


def site_path(settings: Settings, label: str) -> Path:
    return settings.static_dir / "sites" / label


def publish(settings: Settings, label: str, release: str, app_dir: str) -> None:
    """Point the Space's site at ``release``/``app_dir`` (relative link, valid inside the server too)."""
    sites = settings.static_dir / "sites"
    target = Path(release) / app_dir
    relative = os.path.relpath(target, sites)
    tmp = sites / f".{label}.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(relative)
    os.replace(tmp, site_path(settings, label))
    _drop_old_releases(settings, Path(release))


def _drop_old_releases(settings: Settings, live: Path) -> None:
    """Keep only the live release, and releases a build is still writing (hidden, not too old)."""
    for old in live.parent.iterdir():
        if old == live:
            continue
        try:
            if old.name.startswith(".") and old.stat(follow_symlinks=False).st_mtime > time.time() - settings.build_timeout:
                continue  # a build of this Space is copying its files
        except FileNotFoundError:
            continue  # renamed by its build meanwhile
        shutil.rmtree(old, ignore_errors=True)


def published_release(settings: Settings, label: str) -> str | None:
    link = site_path(settings, label)
    return os.readlink(link) if link.is_symlink() else None


def check_site(target: str, host: str, index: str) -> None:
    response = httpx.get(f"{target}/{index}", headers={"Host": host}, timeout=5)
    if response.status_code != 200:
        raise BackendError(f"the static server answered {response.status_code} for {index}")


def unpublish(settings: Settings, label: str) -> None:
    site_path(settings, label).unlink(missing_ok=True)
    shutil.rmtree(settings.static_dir / "releases" / label, ignore_errors=True)
