"""Waiting until a freshly started app answers HTTP, or telling why it never will."""

from __future__ import annotations

import time

import httpx

from core.errors import RuntimeFailed
from worker.backends.base import RuntimeBackend

LOG_TAIL = 20


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


def wait_healthy(backend: RuntimeBackend, instance_id: str, target: str, *, timeout: float, memory_mb: int) -> float:
    """Poll until ``target`` answers below 500; raise RuntimeFailed if the app dies or times out."""
    started = time.monotonic()
    with httpx.Client(timeout=2.0) as client:
        while True:
            inst = backend.poll(instance_id)
            if inst is None or not inst.running:
                raise RuntimeFailed(failure_reason(backend, instance_id, memory_mb))
            try:
                response = client.get(target + "/")
                if response.status_code < 500:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass  # not listening yet
            if time.monotonic() - started > timeout:
                logs = backend.logs(instance_id, tail=LOG_TAIL).rstrip()
                raise RuntimeFailed(
                    f"the app did not answer HTTP within {timeout:.0f} s (startup_duration_timeout)"
                    + (f"\n--- last log lines ---\n{logs}" if logs else "")
                )
            time.sleep(0.1)
