"""Waiting until a freshly started app answers HTTP, or telling why it never will."""

from __future__ import annotations

import time
from collections import defaultdict
from urllib.parse import urlparse

import httpx

from core.errors import RuntimeFailed
from worker.backends.base import RuntimeBackend

LOG_TAIL = 20
ESTABLISHED = "01"


def failure_reason(backend: RuntimeBackend, instance_id: str, memory_mb: int) -> str:
    """A human-readable reason for a stopped instance, with its last log lines."""
    inst = backend.poll(instance_id)
    logs = backend.logs(instance_id, tail=LOG_TAIL).rstrip()
    if inst is None:
        head = "the container disappeared"
    elif inst.oom_killed:
        head = f"memory limit ({memory_mb} MiB) exceeded"
    else:
        head = f"the app exited with code {inst.exit_code}"
    return f"{head}\n--- last log lines ---\n{logs}" if logs else head


def wait_healthy(backend: RuntimeBackend, instance_id: str, target: str, *, timeout: float, memory_mb: int,
                 started: float | None = None, for_at_most: float | None = None) -> float | None:
    """Poll until ``target`` answers below 500 and return the seconds since ``started`` (unix time,
    default now). Raise RuntimeFailed if the app dies, or is still silent ``timeout`` seconds after
    ``started``. With ``for_at_most``, return None once that many seconds have passed without an
    answer (the caller waits again later)."""
    began = time.time() if started is None else started
    slice_end = time.monotonic() + for_at_most if for_at_most is not None else None
    # Plain HTTP to the app's own address: no TLS context to build (a quarter of a second each
    # time), no proxy from the environment, and a fresh connection for each check.
    with httpx.Client(timeout=2.0, trust_env=False, verify=False,
                      limits=httpx.Limits(max_keepalive_connections=0)) as client:
        while True:
            inst = backend.poll(instance_id)
            if inst is None or not inst.running:
                raise RuntimeFailed(failure_reason(backend, instance_id, memory_mb))
            # A check never outlasts the slice (an app that accepts and never answers would hold it 2 s).
            left = slice_end - time.monotonic() if slice_end is not None else 2.0
            try:
                response = client.get(target + "/", timeout=max(0.1, min(2.0, left)))
                if response.status_code < 500:
                    return time.time() - began
            except httpx.HTTPError:
                pass  # not listening yet
            if time.time() - began > timeout:
                logs = backend.logs(instance_id, tail=LOG_TAIL).rstrip()
                raise RuntimeFailed(
                    f"the app did not answer HTTP within {timeout:.0f} s (startup_duration_timeout)"
                    + (f"\n--- last log lines ---\n{logs}" if logs else "")
                )
            if slice_end is not None and time.monotonic() >= slice_end:
                return None
            time.sleep(0.1)


def open_connections() -> dict[int, int]:
    """Established TCP connections on the host, by local port (IPv4 and IPv6)."""
    counts: dict[int, int] = defaultdict(int)
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as fh:
                next(fh)
                for line in fh:
                    fields = line.split()
                    if len(fields) > 3 and fields[3] == ESTABLISHED:
                        counts[int(fields[1].rsplit(":", 1)[1], 16)] += 1
        except FileNotFoundError:
            continue
    return counts


def wait_drained(target: str, *, timeout: float) -> bool:
    """Wait until no connection to ``target``'s host port is open (in-flight requests, streams and
    websockets have ended; Traefik closes idle ones after 2 s). False if some are still open."""
    port = urlparse(target).port
    deadline = time.monotonic() + timeout
    while port and open_connections().get(port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True
