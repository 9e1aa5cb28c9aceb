"""Each Space's ``/data``: a file system of its tier's size, so that the tier is a real limit.

Docker's local volumes have no size, and this kernel has no folder quotas (:mod:`worker.diskuse`),
so a Space's storage is an ext4 file system in a sparse file of its own
(``<data dir>/volumes/<name>.img``, taking on disk only what is written), loop-mounted on the host at
``<data dir>/volumes/<name>/`` and bound into the Space's containers at ``/data``. A write past the
tier's size fails in the app with "No space left on device", as on a full disk; no other Space and
nothing of the host is touched.

- The mount point is a root-owned folder with no permissions: if the file system is not mounted
  (after a reboot, before the next start mounts it), an app that got the bare folder could write
  nothing onto the host's disk.
- A larger tier grows the file system in place: while mounted where the kernel allows it, else
  after the Space's running containers are stopped (a short gap); a smaller tier is refused by the
  API (shrinking could lose data; delete the storage instead).
- A Space whose data is still in a Docker volume of the earlier kind (by its name, or the old name
  when labelled as its own) has that data copied in, by a container, on its next start; the old
  volume is then removed. The host never reads the tenant's files itself.

The programs run here (``mkfs.ext4``, ``mount``, ``umount``, ``resize2fs``) get paths the
platform made from the Space's checked id, never anything a tenant wrote.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors
from docker.models.volumes import Volume
from docker.types import Mount

from core.errors import BackendError

log = logging.getLogger(__name__)

GIB = 1024**3
# uid 1000 owns the file system's root; no blocks reserved for root; a small journal (the default
# grows to 1 GiB on large file systems, written at once).
MKFS = ["mkfs.ext4", "-q", "-F", "-m", "0", "-J", "size=16", "-E", "root_owner=1000:1000"]
MOUNT_OPTIONS = "loop,nosuid,nodev"


def _run(argv: list[str], what: str, ok: tuple[int, ...] = (0,)) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode not in ok:
        raise BackendError(f"could not {what}: {(done.stderr or done.stdout).strip()[-500:]}")


class LoopVolumes:
    def __init__(self, root: Path, client: docker.DockerClient, helper_image: str) -> None:
        self.root, self.client, self.helper_image = root, client, helper_image

    def paths(self, name: str) -> tuple[Path, Path]:
        """The file holding the file system, and where it is mounted."""
        return self.root / f"{name}.img", self.root / name

    def exists(self, name: str) -> bool:
        return self.paths(name)[0].exists()

    def usage(self, name: str) -> tuple[int, int] | None:
        """``(bytes used, bytes in all)`` of the mounted file system, or None if it is not mounted."""
        _, mountpoint = self.paths(name)
        if not os.path.ismount(mountpoint):
            return None
        fs = os.statvfs(mountpoint)
        return (fs.f_blocks - fs.f_bfree) * fs.f_frsize, fs.f_blocks * fs.f_frsize

    def ensure(self, name: str, size_gb: int, legacy: Volume | None = None,
               release: Callable[[], None] = lambda: None) -> Mount:
        """Make (or grow) and mount the file system; returns the mount of ``/data`` for a container.
        ``release`` stops whatever uses it, for a growth that cannot happen while it is mounted."""
        image, mountpoint = self.paths(name)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)  # the images and mounted file systems are no host account's to read
        fresh = not image.exists()
        if fresh:
            with open(os.open(image, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
                f.truncate(size_gb * GIB)
            try:
                _run([*MKFS, str(image)], "make the /data file system")
            except BackendError:
                image.unlink(missing_ok=True)
                raise
        self.mount(name)
        if self._smaller_than(name, size_gb):  # by the file system's own size: a failed growth is tried again
            self._grow(name, size_gb, release)
        if fresh and legacy is not None:
            try:
                self._copy_from(legacy, mountpoint)
            except BackendError:
                self.drop(name)  # tried again on the next start; the earlier volume stays until the copy is whole
                raise
        return Mount("/data", str(mountpoint), type="bind", read_only=False)

    def mount(self, name: str) -> None:
        """Mount the Space's file system if it exists and is not mounted (e.g. after a reboot)."""
        image, mountpoint = self.paths(name)
        if not image.exists() or os.path.ismount(mountpoint):
            return
        mountpoint.mkdir(mode=0, exist_ok=True)
        os.chmod(mountpoint, 0)  # unmounted, the folder lets no app write anything onto the host
        # Never a second loop device on the same file (two mounts of one ext4 would corrupt it): one
        # still attached (held by a container that is going away) is waited for.
        if not self._detached(image):
            raise BackendError(f"the /data file system {name} is still in use elsewhere; try again in a moment")
        _run(["mount", "-o", MOUNT_OPTIONS, str(image), str(mountpoint)], "mount the /data file system")

    def _smaller_than(self, name: str, size_gb: int) -> bool:
        """ext4 keeps a few percent for itself: a file system of 90 % of the size is that size."""
        used = self.usage(name)
        return used is not None and used[1] < 0.9 * size_gb * GIB

    def _grow(self, name: str, size_gb: int, release: Callable[[], None]) -> None:
        """Grow to ``size_gb``: while mounted where the kernel lets us (it needs CAP_SYS_RESOURCE,
        which some sandboxes withhold), else unmounted, after ``release`` (a short gap for the Space)."""
        image, mountpoint = self.paths(name)
        if image.stat().st_size < size_gb * GIB:
            os.truncate(image, size_gb * GIB)
        device = self._loop_device(mountpoint)
        _run(["losetup", "-c", device], "resize the /data loop device")
        online = subprocess.run(["resize2fs", device], capture_output=True, text=True, timeout=300, check=False)
        if online.returncode != 0:
            log.info("growing %s while mounted failed (%s); growing it unmounted", name, online.stderr.strip()[-200:])
            release()
            _run(["umount", str(mountpoint)], "unmount the /data file system to grow it")
            # Checked and grown only once nothing holds it: a stopped container's mounts go a moment
            # after it; touching a file system the kernel still has mounted would corrupt it.
            if not self._detached(image):
                raise BackendError(f"the /data file system {name} is still in use; its growth is tried again at the next start")
            # 1: errors were found and corrected, which is fine to grow on.
            _run(["e2fsck", "-f", "-p", str(image)], "check the /data file system before growing it", ok=(0, 1))
            _run(["resize2fs", str(image)], "grow the /data file system")
            self.mount(name)
        log.info("grew the /data file system %s to %d GiB", name, size_gb)

    def _detached(self, image: Path, timeout: float = 30.0) -> bool:
        """True once no loop device is attached to ``image`` (waits up to ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            attached = subprocess.run(["losetup", "-j", str(image)], capture_output=True, text=True, timeout=30, check=False)
            if attached.returncode == 0 and not attached.stdout.strip():
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)

    def drop(self, name: str) -> None:
        """Unmount and delete the file system and everything in it."""
        image, mountpoint = self.paths(name)
        if os.path.ismount(mountpoint):
            _run(["umount", str(mountpoint)], "unmount the /data file system")
        image.unlink(missing_ok=True)
        if mountpoint.exists():
            mountpoint.rmdir()

    def _loop_device(self, mountpoint: Path) -> str:
        for line in Path("/proc/self/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) > 1 and fields[1] == str(mountpoint):
                return fields[0]
        raise BackendError(f"the /data file system at {mountpoint} is not mounted")

    def _copy_from(self, legacy: Volume, mountpoint: Path) -> None:
        """Copy the data of an earlier Docker volume in (inside a container: the host does not
        read the tenant's files), then remove that volume (and the stopped containers that still
        name it). The Space's containers that use it are stopped first: nothing writes to it during
        the copy (a short gap, once)."""
        try:
            users = self.client.containers.list(all=True, filters={"volume": legacy.name})
            for user in users:
                user.stop(timeout=10)
        except docker.errors.DockerException as exc:
            raise BackendError(f"could not stop the containers using {legacy.name}: {exc}") from exc
        try:
            self.client.containers.run(
                self.helper_image, ["-c", "cp -a /from/. /to/"], entrypoint=["sh"], user="0", network_mode="none",
                mounts=[Mount("/from", legacy.name, type="volume", read_only=True), Mount("/to", str(mountpoint), type="bind")],
                cap_drop=["ALL"], cap_add=["CHOWN", "FOWNER", "DAC_OVERRIDE"], security_opt=["no-new-privileges"],
                remove=True,
            )
        except docker.errors.ContainerError as exc:
            raise BackendError(f"could not copy the earlier /data volume in (does it fit the tier?): {exc.stderr!r:.300}") from exc
        except docker.errors.DockerException as exc:
            raise BackendError(f"could not copy the earlier /data volume in: {exc}") from exc
        try:
            for user in users:
                user.remove(force=True, v=True)
            legacy.remove(force=True)
        except docker.errors.DockerException as exc:
            raise BackendError(f"could not remove the earlier /data volume {legacy.name}: {exc}") from exc
        log.info("moved the data of the volume %s into its file system", legacy.name)
