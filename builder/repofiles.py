"""Reading files of an exported commit on the host, without ever following a link out of it.

The builder reads a few files of a Space's repository on the host (``README.md``, ``Dockerfile``,
``requirements.txt``, ``pre-requirements.txt``, ``packages.txt``). A symlink — or a chain of them —
could make such a read return a host file, which would then be echoed in a build log. Each read
here opens the file relative to the export folder with ``O_NOFOLLOW`` and accepts only a regular
file of a bounded size.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from core.errors import BuildFailed

MAX_BYTES = 1 << 20


def read_top_level(src: Path, name: str, *, max_bytes: int = MAX_BYTES) -> bytes | None:
    """The bytes of ``src/name``, or None if there is no such entry; refuses links and non-files."""
    if "/" in name or name in ("", ".", ".."):
        raise ValueError(f"not a top-level file name: {name!r}")
    dir_fd = os.open(src, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise BuildFailed(f"{name} is a symbolic link: it must be a regular file in the repository") from exc
            raise
    finally:
        os.close(dir_fd)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise BuildFailed(f"{name} is not a regular file")
    with os.fdopen(fd, "rb") as fh:
        if info.st_size > max_bytes:
            raise BuildFailed(f"{name} is {info.st_size} bytes; at most {max_bytes} are read")
        return fh.read(max_bytes + 1)[:max_bytes]
