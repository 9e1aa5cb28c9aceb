"""Whether a process named by host and pid (an RQ worker, a lock's holder) still exists, and the
clean-up of git processes a dead controller left behind."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from pathlib import Path


def gone_here(host: str | None, pid: int | str | None) -> bool | None:
    """True if ``pid`` on this host no longer exists, False if it does; None when ``host`` is
    another machine (or there is no pid), where this cannot be told."""
    digits = str(pid or "")
    if host != socket.gethostname() or not digits.isdigit():
        return None
    try:
        os.kill(int(digits), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # exists, owned by someone else
    return False


def stop_orphan_git_backends(repos_dir: Path) -> int:
    """Kill ``git http-backend`` processes serving ``repos_dir`` whose controller is gone (their parent
    is neither a controller nor another git process): one left with its input at an end loops forever
    at 100% of a core. Returns how many process groups were stopped."""
    mine, killed = os.getpgrp(), 0
    marker = f"GIT_PROJECT_ROOT={repos_dir}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if b"http-backend" not in (entry / "cmdline").read_bytes() or marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            ppid = next(line for line in (entry / "status").read_text().splitlines() if line.startswith("PPid:")).split()[1]
            parent = Path(f"/proc/{ppid}/cmdline").read_bytes() if ppid != "0" else b""
            group = os.getpgid(int(entry.name))
        except (OSError, StopIteration, ValueError):
            continue  # gone meanwhile, or not ours to read
        if b"controller.app" in parent or b"http-backend" in parent or group == mine:
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
            killed += 1
    return killed
