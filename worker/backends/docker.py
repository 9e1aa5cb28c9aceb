"""The single-host Docker backend.

Containers run as uid 1000 with memory, CPU and pids limits, no capabilities and
``no-new-privileges``, on a bridge network without inter-container traffic, with the app port
published on 127.0.0.1 only (Traefik on the host reaches it; nothing outside does). Lifecycle
steps are template methods (``get_object``, ``create_object``, ``start_object``,
``stop_object``, ``remove_object``) as in dockerspawner; :meth:`start` only orchestrates them.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import docker
import docker.errors
from docker.models.containers import Container
from docker.models.images import Image
from docker.models.volumes import Volume
from docker.types import LogConfig, Mount

from core.errors import BackendError
from core.names import STATIC_SERVER_IMAGE, app_image_repo, container_safe, legacy_container_safe
from core.settings import get_settings
from worker.backends import docker_disk
from worker.backends.base import Capability, Instance, RunSpec, RuntimeBackend
from worker.backends.volumes import LoopVolumes
from worker.diskuse import DiskUse, TreeSize, tree_size

log = logging.getLogger(__name__)

LABEL_SPACE = "org.spaces.space"
LABEL_BUILD = "org.spaces.build"
LABEL_PORT = "org.spaces.app-port"
LABEL_MANAGED = "org.spaces.managed"
LABEL_STORAGE = "org.spaces.storage"  # the name of the Space's /data file system, if it has one


LOG_FILE_SIZE, LOG_FILES = "10m", 2  # Docker keeps at most 20 MB of an app's output


def volume_name(space_id: str) -> str:
    return f"spaces-data-{container_safe(space_id)}"


def legacy_volume_name(space_id: str) -> str:
    """The name volumes had before (``owner--name``, which two Spaces can share): a Space still uses
    its volume of that name if the volume's label says it is its own (its data stays where it is)."""
    return f"spaces-data-{legacy_container_safe(space_id)}"


def unix_time(stamp: str) -> float:
    """Docker's RFC 3339 timestamp with nanoseconds (``2026-11-26T08:55:07.123456789Z``) as unix time."""
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    try:
        seconds = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return 0.0
    return seconds + float(f"0.{fraction[:6] or 0}")


class DockerBackend(RuntimeBackend):
    name = "docker"
    capabilities = frozenset(Capability)

    def __init__(self) -> None:
        try:
            self.client = docker.from_env(timeout=120)
        except docker.errors.DockerException as exc:
            raise BackendError("the Docker engine is not reachable", detail=str(exc)) from exc
        self.network = get_settings().space_network
        self.volumes = LoopVolumes(get_settings().data_dir / "volumes", self.client, STATIC_SERVER_IMAGE)

    # -------------------------------------------------------------- template methods

    def ensure_network(self) -> None:
        try:
            self.client.networks.get(self.network)
        except docker.errors.NotFound:
            log.info("creating network %s (no traffic between containers)", self.network)
            try:
                self.client.networks.create(
                    self.network, driver="bridge",
                    options={"com.docker.network.bridge.enable_icc": "false"},
                    labels={LABEL_MANAGED: "1"},
                )
            except docker.errors.APIError as exc:  # created by a concurrent worker meanwhile
                log.debug("network create raced: %s", exc)

    def find_volume(self, space_id: str) -> Volume | None:
        """The Space's /data volume: by its name, or by the old name if labelled as this Space's."""
        for name in (volume_name(space_id), legacy_volume_name(space_id)):
            try:
                volume = self.client.volumes.get(name)
            except docker.errors.NotFound:
                continue
            owner = (volume.attrs.get("Labels") or {}).get(LABEL_SPACE)
            if owner == space_id:
                return volume
            if name == volume_name(space_id):
                raise BackendError(f"the volume {name} belongs to {owner!r}, not to {space_id}; it is left alone")
        return None

    def storage_mount(self, space_id: str, size_gb: int) -> Mount:
        """The Space's /data file system of ``size_gb``, made (with the data of an earlier Docker
        volume of the Space copied in), grown and mounted as needed."""
        name = volume_name(space_id)

        def release() -> None:  # growing it unmounted: the Space's running containers stop first
            for container in self.client.containers.list(filters={"label": f"{LABEL_STORAGE}={name}"}):
                log.info("stopping %s so that its /data can grow", container.name)
                container.stop(timeout=10)

        return self.volumes.ensure(name, size_gb, legacy=self.find_volume(space_id), release=release)

    # cgroup v1 (cgroupfs driver), then v2: read the kernel's counters directly; `docker stats`
    # takes a second per container to sample.
    CGROUP_FILES = (("/sys/fs/cgroup/memory/docker/{id}/memory.usage_in_bytes", "/sys/fs/cgroup/cpuacct/docker/{id}/cpuacct.usage"),
                    ("/sys/fs/cgroup/system.slice/docker-{id}.scope/memory.current", "/sys/fs/cgroup/system.slice/docker-{id}.scope/cpu.stat"))

    def usage(self, instance_id: str) -> tuple[int, int] | None:
        for memory_file, cpu_file in self.CGROUP_FILES:
            try:
                memory = int(Path(memory_file.format(id=instance_id)).read_text().split()[0])
                cpu_text = Path(cpu_file.format(id=instance_id)).read_text()
            except (OSError, ValueError, IndexError):
                continue
            if cpu_text.startswith("usage_usec"):  # v2: microseconds
                return memory, int(cpu_text.split()[1]) * 1000
            return memory, int(cpu_text.split()[0])
        return None

    def disk_usage(self, instance_id: str, *, max_files: int) -> DiskUse | None:
        try:
            attrs = self.client.api.inspect_container(instance_id)
        except docker.errors.DockerException:
            return None
        upper = ((attrs.get("GraphDriver") or {}).get("Data") or {}).get("UpperDir")
        if not upper:
            return None
        used = self.volumes.usage(name) if (name := (attrs.get("Config", {}).get("Labels") or {}).get(LABEL_STORAGE)) else None
        writable = tree_size(upper, max_files=max_files)
        # Anonymous volumes (an image's VOLUME line) are written outside the layer: they count too.
        for mount in attrs.get("Mounts") or []:
            if mount.get("Type") == "volume" and mount.get("Source") and writable.complete:
                extra = tree_size(mount["Source"], max_files=max_files - writable.files)
                writable = TreeSize(writable.bytes + extra.bytes, writable.files + extra.files, extra.complete)
        return DiskUse(writable, TreeSize(used[0], 0, True) if used else None)

    def engine_usage(self) -> dict | None:
        return docker_disk.engine_usage(self.client)

    def clean_up(self, keep: set[str], *, building: bool) -> tuple[list[str], list[str]]:
        return docker_disk.clean_images(self.client, keep, building=building)

    def image_size(self, image: str) -> int | None:
        try:
            return int(self.client.images.get(image).attrs.get("Size") or 0) or None
        except docker.errors.DockerException:
            return None

    def has_storage(self, space_id: str) -> bool:
        return self.volumes.exists(volume_name(space_id)) or self.find_volume(space_id) is not None

    def drop_storage(self, space_id: str) -> None:
        self.volumes.drop(volume_name(space_id))
        try:
            volume = self.find_volume(space_id)
            if volume is not None:
                volume.remove(force=True)
                log.info("removed the /data volume %s of %s", volume.name, space_id)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            raise BackendError(f"could not remove the /data volume of {space_id}: {exc.explanation or exc}") from exc

    def get_object(self, instance_id: str) -> Container | None:
        try:
            return self.client.containers.get(instance_id)
        except docker.errors.NotFound:
            return None

    def create_object(self, spec: RunSpec) -> Container:
        self.ensure_network()
        # Unique per start: a restart of the same build runs beside the serving one until it answers.
        name = f"space-{container_safe(spec.space_id)}-{spec.build_id}-{secrets.token_hex(3)}"
        return self.client.containers.create(
            spec.image,
            name=name,
            user="1000:1000",
            environment=spec.env,
            labels={
                LABEL_MANAGED: "1", LABEL_SPACE: spec.space_id, LABEL_BUILD: spec.build_id,
                LABEL_PORT: str(spec.app_port), **({LABEL_STORAGE: volume_name(spec.space_id)} if spec.storage_gb else {}),
            },
            # A free host port on 127.0.0.1: docker-py takes None for it, types-docker says int only.
            ports={f"{spec.app_port}/tcp": ("127.0.0.1", None)},  # type: ignore[dict-item]
            network=self.network,
            mem_limit=f"{spec.memory_mb}m",
            memswap_limit=f"{spec.memory_mb}m",
            nano_cpus=int(spec.cpus * 1e9),
            pids_limit=spec.pids,
            mounts=[self.storage_mount(spec.space_id, spec.storage_gb)] if spec.storage_gb else None,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            init=True,
            # What the app prints is kept by Docker in rotated files of at most this size (the run log
            # the owner reads is the monitor's copy, capped in Redis).
            log_config=LogConfig(type="json-file", config={"max-size": LOG_FILE_SIZE, "max-file": str(LOG_FILES)}),
            detach=True,
        )

    def start_object(self, container: Container) -> None:
        if name := (container.labels or {}).get(LABEL_STORAGE):
            self.volumes.mount(name)  # not mounted after a reboot: its bare folder would take no data
        container.start()

    def stop_object(self, container: Container, timeout: float) -> None:
        try:
            container.stop(timeout=int(timeout))
        except docker.errors.NotFound:
            log.debug("container %s already gone", container.name)

    def remove_object(self, container: Container) -> None:
        try:
            container.remove(force=True, v=True)  # with its anonymous volumes (an image's VOLUME lines)
        except docker.errors.NotFound:
            log.debug("container %s already gone", container.name)
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: removal already in progress
                raise

    # -------------------------------------------------------------- interface

    def _instance(self, container: Container) -> Instance:
        container.reload()
        labels = container.labels or {}
        state = container.attrs.get("State", {})
        running = state.get("Running", False)
        target = ""
        port = labels.get(LABEL_PORT, "7860")
        bindings = (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).get(f"{port}/tcp") or []
        if running and bindings:
            target = f"http://127.0.0.1:{bindings[0]['HostPort']}"
        assert container.id is not None  # a container the engine lists has an id
        return Instance(
            id=container.id,
            space_id=labels.get(LABEL_SPACE, ""),
            build_id=labels.get(LABEL_BUILD, ""),
            running=bool(state.get("Running")),
            target=target,
            exit_code=None if state.get("Running") else state.get("ExitCode"),
            oom_killed=bool(state.get("OOMKilled")),
            paused=bool(state.get("Paused")),
            started_at=unix_time(state.get("StartedAt") or ""),
            labels=labels,
        )

    def start(self, spec: RunSpec) -> Instance:
        try:
            container = self.create_object(spec)
            self.start_object(container)
            return self._instance(container)
        except docker.errors.ImageNotFound as exc:
            raise BackendError(f"image {spec.image} is missing; rebuild the Space") from exc
        except docker.errors.APIError as exc:
            raise BackendError(f"could not start the container: {exc.explanation or exc}") from exc

    def poll(self, instance_id: str) -> Instance | None:
        container = self.get_object(instance_id)
        if container is None:
            return None
        try:
            return self._instance(container)
        except docker.errors.NotFound:
            return None

    def _existing(self, instance_id: str) -> Container:
        container = self.get_object(instance_id)
        if container is None:
            raise BackendError(f"container {instance_id[:12]} is gone")
        return container

    def resume(self, instance_id: str) -> Instance:
        container = self._existing(instance_id)
        self.start_object(container)
        return self._instance(container)

    def _freeze(self, instance_id: str, frozen: bool) -> Container:
        """Pause (``frozen``) or unpause; being in that state already is success."""
        container = self._existing(instance_id)
        try:
            container.pause() if frozen else container.unpause()
        except docker.errors.APIError as exc:
            if ("is already paused" if frozen else "is not paused") not in str(exc):
                verb = "pause" if frozen else "unpause"
                raise BackendError(f"could not {verb} the container: {exc.explanation or exc}") from exc
        return container

    def pause(self, instance_id: str) -> None:
        self._freeze(instance_id, True)

    def unpause(self, instance_id: str) -> Instance:
        return self._instance(self._freeze(instance_id, False))

    def stop(self, instance_id: str, *, timeout: float = 10) -> None:
        container = self.get_object(instance_id)
        if container is not None:
            if container.status == "paused":  # a frozen process cannot take its SIGTERM
                self.unpause(instance_id)
            self.stop_object(container, timeout)

    def remove(self, instance_id: str) -> None:
        container = self.get_object(instance_id)
        if container is not None:
            self.remove_object(container)

    def logs(self, instance_id: str, *, tail: int = 50) -> str:
        container = self.get_object(instance_id)
        if container is None:
            return ""
        return container.logs(tail=tail).decode("utf-8", errors="replace")

    def follow_logs(self, instance_id: str, *, since: float | None = None) -> Iterator[tuple[float, str]]:
        container = self.get_object(instance_id)
        if container is None:
            return
        pending = b""
        stream = container.logs(stream=True, follow=True, timestamps=True, since=since if since else None)
        for chunk in stream:
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                stamp, _, text = raw.decode("utf-8", errors="replace").partition(" ")
                yield unix_time(stamp), text.rstrip("\r")

    def watch_starts(self) -> Iterator[tuple[str, str]]:
        # A client of its own: the event stream holds its connection open for as long as it runs.
        client = docker.from_env(timeout=120)
        filters = {"type": "container", "event": "start", "label": f"{LABEL_MANAGED}=1"}
        for event in client.events(decode=True, filters=filters):
            attributes = (event.get("Actor") or {}).get("Attributes") or {}
            yield event.get("id") or "", attributes.get(LABEL_SPACE, "")

    def list_instances(self) -> list[Instance]:
        return self._listed({"label": f"{LABEL_MANAGED}=1"})

    def instances_of(self, space_id: str) -> list[Instance]:
        return self._listed({"label": [f"{LABEL_MANAGED}=1", f"{LABEL_SPACE}={space_id}"]})

    def _listed(self, filters: dict) -> list[Instance]:
        found = []
        # sparse: no inspect inside list(), which raises NotFound for a container removed meanwhile.
        for container in self.client.containers.list(all=True, sparse=True, filters=filters):
            try:
                found.append(self._instance(container))
            except docker.errors.NotFound:
                log.debug("container %s went away while listing", container.short_id)
        return found

    def states(self) -> dict[str, tuple[str, str]]:
        # One API call: the listing already carries each container's state and labels.
        listing = self.client.api.containers(all=True, filters={"label": f"{LABEL_MANAGED}=1"})
        return {c["Id"]: (c.get("State", ""), (c.get("Labels") or {}).get(LABEL_SPACE, "")) for c in listing}

    def images_of(self, space_id: str) -> list[Image]:
        """The Space's app images: its repository, and any image labelled as its own (images built
        before names were one-to-one sit in a repository two Spaces may share; the label tells)."""
        found = {i.id: i for i in self.client.images.list(name=app_image_repo(space_id))}
        found.update({i.id: i for i in self.client.images.list(filters={"label": f"{LABEL_SPACE}={space_id}"})})
        return list(found.values())

    def forget(self, space_id: str, *, site: str = "") -> None:
        for image in self.images_of(space_id):
            assert image.id is not None  # an image the engine lists has an id
            try:
                self.client.images.remove(image.id, force=True)
            except docker.errors.NotFound:
                log.debug("image %s already gone", image.id)
            except docker.errors.APIError as exc:
                log.warning("could not remove image %s of %s: %s", image.short_id, space_id, exc.explanation)
        self.drop_storage(space_id)
