"""The static backend: one shared nginx container serves every static Space, so one costs no process.

The builder copies a static Space's files to ``<data dir>/static/releases/<label>/<commit>-<build>``;
deploying it points ``<data dir>/static/sites/<label>`` at that release (an atomic symlink
swap) and routes the Space's host to the shared server, which maps the host's first label to
the site folder. The server runs as uid 1000 with the folder mounted read-only.

Confinement: a release holds files and folders only (the builder refuses links), and nginx
follows no symbolic link below a site's root (``disable_symlinks on from=$document_root``: only
the platform's own ``sites/<label>`` link is followed), so a request for one Space's host can only
ever read that Space's live release.

As a runtime backend (:class:`StaticBackend`) a Space's instance is its published site: starting
one publishes a release (and checks the server answers its index page), removing one takes the
site down. What is published for which Space is kept in ``<data dir>/static/spaces/<owner>/<name>.json``
(outside what the server serves), so the reconciler re-adopts sites as it does containers.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import docker
import docker.errors
import httpx
from docker.types import LogConfig

from core.errors import BackendError
from core.names import STATIC_SERVER_IMAGE, STATIC_SERVER_NAME
from core.settings import Settings, get_settings
from worker.backends.base import Instance, RunSpec, RuntimeBackend
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


def server_target() -> str:
    """The running static server's URL, or '' if it is not running."""
    try:
        return _target(_client().containers.get(STATIC_SERVER_NAME))
    except docker.errors.NotFound:
        return ""
    except docker.errors.APIError as exc:
        raise BackendError(f"could not look at the static server: {exc.explanation or exc}") from exc


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


def publish(settings: Settings, label: str, release: str, app_dir: str, *, keep: Path | None = None) -> None:
    """Point the Space's site at ``release``/``app_dir`` (relative link, valid inside the server too);
    releases other than this one and ``keep`` (the one published before) are dropped."""
    sites = settings.static_dir / "sites"
    sites.mkdir(parents=True, exist_ok=True)
    target = Path(release) / app_dir
    relative = os.path.relpath(target, sites)
    tmp = sites / f".{label}.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(relative)
    os.replace(tmp, site_path(settings, label))
    _drop_old_releases(settings, Path(release), keep)


def _drop_old_releases(settings: Settings, live: Path, keep: Path | None = None) -> None:
    """Keep only the live release (and ``keep``), and releases a build is still writing (hidden, not too old)."""
    for old in live.parent.iterdir():
        if old in (live, keep):
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


PREFIX = "static:"


def instance_id(space_id: str, build_id: str) -> str:
    """A static Space's instance: its site as one build publishes it."""
    return f"{PREFIX}{space_id}@{build_id}"


class StaticBackend(RuntimeBackend):
    """Serves static Spaces' files from the shared static server (no capability beyond serving).
    A new version replaces the published one in place (the link swap is atomic); the release
    before it is kept until the next one, so a failed or stopped deploy can be put back."""

    name = "static"
    kind = "static"
    replaces_in_place = True

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()

    def _meta_path(self, space_id: str) -> Path:
        return self.settings.static_dir / "spaces" / f"{space_id}.json"

    def _meta(self, space_id: str) -> dict[str, Any] | None:
        try:
            meta = json.loads(self._meta_path(space_id).read_text())
        except (FileNotFoundError, ValueError):
            return None
        return meta if isinstance(meta, dict) else None

    def _write_meta(self, space_id: str, meta: dict[str, Any]) -> None:
        path = self._meta_path(space_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, path)

    def start(self, spec: RunSpec) -> Instance:
        target = ensure_server(self.settings)
        previous = self._meta(spec.space_id)
        keep = Path(previous["files"]) if previous and previous.get("site") == spec.site else None
        publish(self.settings, spec.site, spec.files, spec.app_dir, keep=keep)
        self._write_meta(spec.space_id, {
            "space": spec.space_id, "build": spec.build_id, "site": spec.site, "files": spec.files,
            "app_dir": spec.app_dir, "index": spec.index, "live": True, "started_at": time.time(),
        })
        check_site(target, spec.host, spec.index)
        inst = self.poll(instance_id(spec.space_id, spec.build_id))
        if inst is None or not inst.running:  # pragma: no cover - removed between the two lines above
            raise BackendError(f"the site of {spec.space_id} went away as it was published")
        return inst

    def _live_meta(self, instance: str) -> dict[str, Any] | None:
        """The site's record if ``instance`` (``static:<space>@<build>``) is what it publishes now."""
        space_id, _, build_id = instance.removeprefix(PREFIX).rpartition("@")
        meta = self._meta(space_id) if instance.startswith(PREFIX) and space_id else None
        return meta if meta is not None and meta.get("live") and str(meta.get("build")) == build_id else None

    def poll(self, instance_id: str) -> Instance | None:
        meta = self._live_meta(instance_id)
        if meta is None:
            return None
        space_id = str(meta["space"])
        wanted = os.path.relpath(Path(meta["files"]) / meta["app_dir"], self.settings.static_dir / "sites")
        target = server_target()
        index = meta.get("index") or "index.html"
        return Instance(
            id=instance_id, space_id=space_id, build_id=str(meta["build"]),
            running=bool(target) and published_release(self.settings, meta["site"]) == wanted,
            target=target, started_at=float(meta.get("started_at") or 0),
            root_path=None if index == "index.html" else f"/{index}", ready=True,
        )

    def list_instances(self) -> list[Instance]:
        folder = self.settings.static_dir / "spaces"
        found = []
        for path in folder.glob("*/*.json") if folder.is_dir() else ():
            found.extend(self.instances_of(f"{path.parent.name}/{path.stem}"))
        return found

    def instances_of(self, space_id: str) -> list[Instance]:
        meta = self._meta(space_id)
        inst = self.poll(instance_id(space_id, str(meta.get("build")))) if meta else None
        return [inst] if inst is not None else []

    def remove(self, instance_id: str) -> None:
        """Take the site down if it still publishes this build (its files stay until :meth:`forget`)."""
        meta = self._live_meta(instance_id)
        if meta is None:
            return  # gone, or a newer build's site now
        site_path(self.settings, meta["site"]).unlink(missing_ok=True)
        self._write_meta(str(meta["space"]), {**meta, "live": False})

    def forget(self, space_id: str, *, site: str = "") -> None:
        meta = self._meta(space_id)
        label = str(meta["site"]) if meta is not None else site  # a site published before records were kept
        if label:
            unpublish(self.settings, label)
        self._meta_path(space_id).unlink(missing_ok=True)
