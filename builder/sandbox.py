"""Throwaway containers for every build step that runs code the platform did not write.

Resolving a Space's requirements runs other people's code: ``setup.py`` of source distributions,
VCS and path requirements, build backends. None of it may run on the host. :func:`run` starts
such a step in a container of its own:

- uid 1000, every capability dropped, ``no-new-privileges``;
- memory, CPU and process limits, and a deadline (the build's remaining time); a build that is
  timed out or superseded removes the container on its way out;
- on the Spaces' bridge network (no inter-container traffic, never the host's network), so it
  reaches the package index but nothing that listens on the host's loopback;
- no host mounts but the ones the caller names: its inputs read-only, one empty output folder
  owned by uid 1000, and the host's CA bundle read-only so HTTPS works as on the host.

Whatever such a container writes is untrusted: callers read its output with
:func:`regular_files` (no symlinks, no devices, bounded sizes).
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker.errors
from docker.types import LogConfig, Mount

from builder import images
from core.errors import BuildFailed
from core.settings import Settings

log = logging.getLogger(__name__)

HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
SANDBOX_LABEL = "org.spaces.sandbox"
SANDBOX_UID = 1000


@dataclass
class Sandbox:
    """One step to run: an image, a command and what it may see."""

    image: str
    argv: list[str]
    purpose: str  # for logs and the container's label, e.g. "resolve alice/demo"
    read_only: dict[Path, str] = field(default_factory=dict)  # host path -> container path
    writable: dict[Path, str] = field(default_factory=dict)  # empty folders made for this run only
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"


def output_dir(parent: Path, name: str) -> Path:
    """An empty folder uid 1000 may write to, for one sandbox's output."""
    path = parent / name
    path.mkdir(mode=0o700)
    os.chown(path, SANDBOX_UID, SANDBOX_UID)
    return path


def _mounts(box: Sandbox) -> list[Mount]:
    mounts = [Mount(target, str(source), type="bind", read_only=True) for source, target in box.read_only.items()]
    mounts += [Mount(target, str(source), type="bind", read_only=False) for source, target in box.writable.items()]
    if HOST_CA_BUNDLE.is_file():
        mounts.append(Mount(str(HOST_CA_BUNDLE), str(HOST_CA_BUNDLE), type="bind", read_only=True))
    return mounts


def run(box: Sandbox, settings: Settings, emit: Callable[[str], None], *, timeout: float) -> int:
    """Run ``box`` to its end, sending each output line to ``emit``; returns its exit code.

    The container is removed whatever happens: normal end, the deadline, or an exception raised in
    this thread (the build guard's timeout or supersede signal).
    """
    client = images.docker_client()
    remove_stale(settings.build_timeout + 120)
    try:
        container = client.containers.create(
            box.image, box.argv, user=f"{SANDBOX_UID}:{SANDBOX_UID}", working_dir=box.workdir,
            environment={"HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1", **box.env},
            mounts=_mounts(box), network=settings.space_network,
            cap_drop=["ALL"], security_opt=["no-new-privileges"],
            mem_limit=f"{settings.sandbox_memory_mb}m", memswap_limit=f"{settings.sandbox_memory_mb}m",
            nano_cpus=int(settings.sandbox_cpus * 1e9), pids_limit=settings.sandbox_pids,
            labels={SANDBOX_LABEL: box.purpose}, log_config=LogConfig(type="json-file", config={"max-size": "10m"}),
            detach=True,
        )
    except docker.errors.ImageNotFound as exc:
        raise BuildFailed(f"the build sandbox image {box.image} is missing") from exc
    except docker.errors.APIError as exc:
        raise BuildFailed(f"could not create the build sandbox: {exc.explanation or exc}") from exc
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        _kill(container)

    timer = threading.Timer(timeout, expire)
    try:
        container.start()
        timer.start()
        for line in _lines(container.logs(stream=True, follow=True)):
            emit(line)
        code = int(container.wait(timeout=max(timeout, 1)).get("StatusCode", 1))
    finally:
        timer.cancel()
        _remove(container)
    if expired.is_set():
        raise BuildFailed(f"{box.purpose}: the build sandbox ran past its {timeout:.0f} s and was stopped")
    return code


def _lines(chunks: Iterator[bytes]) -> Iterator[str]:
    pending = b""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for raw in complete:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                yield line[:4000]
    if pending.strip():
        yield pending.decode("utf-8", "replace").rstrip()[:4000]


def _kill(container) -> None:
    with contextlib.suppress(docker.errors.APIError):
        container.kill()


def _remove(container) -> None:
    for _ in range(3):
        try:
            container.remove(force=True)
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:  # e.g. "removal already in progress"
            log.warning("could not remove sandbox %s yet: %s", container.short_id, exc)
            time.sleep(0.5)


def remove_stale(max_age: float) -> int:
    """Remove sandboxes older than ``max_age`` seconds: a builder killed mid-build left them behind.

    Called before each new sandbox starts, so leftovers never pile up; no live build's sandbox is
    that old (each is stopped at its build's deadline).
    """
    client = images.docker_client()
    removed = 0
    for info in client.api.containers(all=True, filters={"label": SANDBOX_LABEL}):
        if time.time() - float(info.get("Created", time.time())) > max_age:
            log.warning("removing a stale build sandbox %s (%s)", info["Id"][:12], info.get("Labels", {}).get(SANDBOX_LABEL))
            try:
                client.api.remove_container(info["Id"], force=True)
                removed += 1
            except docker.errors.APIError as exc:
                log.warning("could not remove stale sandbox %s: %s", info["Id"][:12], exc)
    return removed


def regular_files(folder: Path, *, max_bytes: int) -> Iterator[tuple[str, int]]:
    """Names and sizes of the plain files directly in ``folder`` that a sandbox wrote.

    Symlinks (which could point at host files), folders, devices, FIFOs and oversized files are
    skipped: the host never follows anything an untrusted step made.
    """
    with os.scandir(folder) as entries:
        for entry in entries:
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(info.st_mode) and info.st_size <= max_bytes:
                yield entry.name, info.st_size


def open_untrusted(path: Path) -> int:
    """Open a file a sandbox wrote, refusing symlinks; returns a file descriptor."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise BuildFailed(f"{path.name}: not a regular file")
    return fd
