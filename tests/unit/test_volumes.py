"""A Space's /data is a file system of its tier's size (issue 17, finding 5): the real programs
(mkfs.ext4, mount, resize2fs) on small file systems in a temporary folder. No Docker: the copy
of an earlier volume is tested with the platform (tests/integration/test_security_names.py)."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import BackendError
from worker.backends.volumes import GIB, LoopVolumes

MIB = 1024 * 1024


@pytest.fixture
def volumes(tmp_path: Path) -> Iterator[LoopVolumes]:
    made = LoopVolumes(tmp_path / "volumes", client=None, helper_image="")  # type: ignore[arg-type]
    yield made
    for image in (tmp_path / "volumes").glob("*.img"):
        made.drop(image.stem)


def fill(folder: Path, mib: int) -> int:
    """Write up to ``mib`` MiB as uid 1000 would; returns the MiB written before the disk was full."""
    written = 0
    with open(folder / "fill", "wb") as f:
        try:
            for _ in range(mib):
                f.write(os.urandom(MIB))
                f.flush()
                os.fsync(f.fileno())
                written += 1
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return written


def test_a_write_past_the_tier_fails_with_a_full_disk(volumes, monkeypatch):
    monkeypatch.setattr("worker.backends.volumes.GIB", 64 * MIB)  # a 1 "GiB" tier of 64 MiB
    mount = volumes.ensure("spaces-data-ann--x", 1)
    folder = Path(mount["Source"])
    assert os.path.ismount(folder) and mount["Target"] == "/data"
    assert os.stat(folder).st_uid == 1000, "the app's user owns its /data"
    assert 40 <= fill(folder, 200) < 64, "the file system stops writes at its size"
    used, total = volumes.usage("spaces-data-ann--x")
    assert total <= 64 * MIB and used >= 40 * MIB


def test_a_larger_tier_grows_it_in_place_keeping_the_data(volumes, monkeypatch):
    monkeypatch.setattr("worker.backends.volumes.GIB", 64 * MIB)
    folder = Path(volumes.ensure("spaces-data-ann--x", 1)["Source"])
    (folder / "keep").write_text("marker")
    volumes.ensure("spaces-data-ann--x", 2)
    assert (folder / "keep").read_text() == "marker"
    assert volumes.usage("spaces-data-ann--x")[1] > 100 * MIB


def test_after_a_reboot_the_bare_folder_takes_nothing_and_the_next_start_mounts_it(volumes, monkeypatch):
    monkeypatch.setattr("worker.backends.volumes.GIB", 64 * MIB)
    folder = Path(volumes.ensure("spaces-data-ann--x", 1)["Source"])
    (folder / "keep").write_text("marker")
    subprocess.run(["umount", str(folder)], check=True)  # as a reboot leaves it
    assert os.stat(folder).st_mode & 0o777 == 0 and os.stat(folder).st_uid == 0
    assert volumes.usage("spaces-data-ann--x") is None
    volumes.mount("spaces-data-ann--x")
    assert (folder / "keep").read_text() == "marker"


def test_dropping_removes_the_file_system_and_its_data(volumes, monkeypatch):
    monkeypatch.setattr("worker.backends.volumes.GIB", 64 * MIB)
    folder = Path(volumes.ensure("spaces-data-ann--x", 1)["Source"])
    image, _ = volumes.paths("spaces-data-ann--x")
    volumes.drop("spaces-data-ann--x")
    assert not image.exists() and not folder.exists() and not volumes.exists("spaces-data-ann--x")


def test_a_failed_mkfs_leaves_nothing_behind(volumes, monkeypatch):
    monkeypatch.setattr("worker.backends.volumes.MKFS", ["mkfs.ext4", "-q", "-F", "-b", "3"])  # an invalid block size
    with pytest.raises(BackendError, match="could not make the /data file system"):
        volumes.ensure("spaces-data-ann--x", 1)
    assert not volumes.exists("spaces-data-ann--x")


def test_a_real_tier_is_a_sparse_file(volumes):
    volumes.ensure("spaces-data-ann--x", 20)
    image, _ = volumes.paths("spaces-data-ann--x")
    assert image.stat().st_size == 20 * GIB and image.stat().st_blocks * 512 < 200 * MIB


def test_a_growth_that_failed_is_tried_again_on_the_next_start(volumes, monkeypatch):
    monkeypatch.setattr("worker.backends.volumes.GIB", 64 * MIB)
    folder = Path(volumes.ensure("spaces-data-ann--x", 1)["Source"])
    (folder / "keep").write_text("marker")
    real_run = subprocess.run
    failing = {"resize2fs"}

    def run(argv, **kwargs):
        if argv[0] in failing:
            return subprocess.CompletedProcess(argv, 1, "", "resize2fs: simulated failure")
        return real_run(argv, **kwargs)

    monkeypatch.setattr("worker.backends.volumes.subprocess.run", run)
    with pytest.raises(BackendError, match="could not grow the /data file system"):
        volumes.ensure("spaces-data-ann--x", 2)
    failing.clear()
    if not os.path.ismount(folder):
        volumes.mount("spaces-data-ann--x")
    volumes.ensure("spaces-data-ann--x", 2)  # the file is already 2 "GiB": the file system is grown anyway
    assert volumes.usage("spaces-data-ann--x")[1] > 100 * MIB
    assert (folder / "keep").read_text() == "marker"


def test_a_file_system_still_held_elsewhere_is_not_touched(volumes, monkeypatch):
    """Growing unmounted waits until no loop device holds the file: a stopped container's mounts
    go a moment after it, and checking or resizing a file system the kernel still has mounted
    would corrupt it (seen once on CI)."""
    monkeypatch.setattr("worker.backends.volumes.GIB", 64 * MIB)
    folder = Path(volumes.ensure("spaces-data-ann--x", 1)["Source"])
    (folder / "keep").write_text("marker")
    real_run = subprocess.run

    def run(argv, **kwargs):  # the online resize is refused, as in this sandbox
        if argv[0] == "resize2fs" and argv[1].startswith("/dev/"):
            return subprocess.CompletedProcess(argv, 1, "", "Permission denied to resize filesystem")
        if argv[0] == "e2fsck":
            raise AssertionError("checked a file system that was still held")
        return real_run(argv, **kwargs)

    monkeypatch.setattr("worker.backends.volumes.subprocess.run", run)
    held = [True]
    real_detached = LoopVolumes._detached
    monkeypatch.setattr(LoopVolumes, "_detached", lambda self, image, timeout=30.0: not held[0] and real_detached(self, image))
    with pytest.raises(BackendError, match="still in use"):
        volumes.ensure("spaces-data-ann--x", 2)
    with pytest.raises(BackendError, match="still in use elsewhere"):
        volumes.mount("spaces-data-ann--x")  # no second loop device on a file still held
    held[0] = False
    volumes.mount("spaces-data-ann--x")
    assert (folder / "keep").read_text() == "marker"
