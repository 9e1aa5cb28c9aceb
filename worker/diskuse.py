"""What a Space keeps on the host's disk, and whether that is more than it may.

This kernel offers no per-directory quota (measured: XFS is built without quota support and ext4
without the quota format, so neither Docker's ``--storage-opt size`` nor project quotas work). So
the monitor measures instead: every ``DISK_EVERY`` seconds it adds up the files an app wrote
outside ``/data`` (its container's writable layer) and in ``/data``, shows both on the admin page,
and stops an app whose writable layer passes its tier's limit (:mod:`worker.diskguard`).

The walk reads only metadata of the tree it is given (never following a symbolic link, even one
swapped in for a folder during the walk, nor entering another file system); the files in it are
the tenant's and are never opened. It stops
after ``max_files`` entries: a tree of millions of tiny files is itself over the limit, and the
walk stays cheap whatever the app did.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass


@dataclass(frozen=True)
class TreeSize:
    bytes: int  # space taken on disk (allocated blocks), not apparent sizes: sparse files count what they use
    files: int  # entries seen (files, folders, links)
    complete: bool  # False if the walk stopped at ``max_files``


@dataclass(frozen=True)
class DiskUse:
    """What one running instance takes: its writable layer, and its Space's ``/data`` if any."""

    writable: TreeSize
    data: TreeSize | None = None


def tree_size(root: str, *, max_files: int) -> TreeSize:
    """Bytes and entries under ``root`` (0 if it does not exist). Walked with folder descriptors
    (:func:`os.fwalk`): a folder the tenant swaps for a symbolic link mid-walk is not entered, and
    no other file system below ``root`` is."""
    try:
        device = os.lstat(root).st_dev
    except OSError:
        return TreeSize(0, 0, True)
    total, files = 0, 0
    for _folder, folders, names, folder_fd in os.fwalk(root, follow_symlinks=False):
        keep = []
        for name in folders + names:
            try:
                info = os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
            except OSError:
                continue
            files += 1
            total += info.st_blocks * 512
            if stat.S_ISDIR(info.st_mode) and info.st_dev == device and name in folders:
                keep.append(name)
            if files >= max_files:
                return TreeSize(total, files, False)
        folders[:] = keep  # not into other file systems
    return TreeSize(total, files, True)
