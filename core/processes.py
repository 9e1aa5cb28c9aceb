"""Whether a process named by host and pid (an RQ worker, a lock's holder) still exists."""

from __future__ import annotations

import os
import socket


def gone_here(host: str, pid: int | str | None) -> bool | None:
    """True if ``pid`` on this host no longer exists, False if it does; None when ``host`` is
    another machine (or there is no pid), where this cannot be told."""
    if host != socket.gethostname() or not str(pid or "").isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # exists, owned by someone else
    return False
