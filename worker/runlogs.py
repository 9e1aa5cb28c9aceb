"""Run logs: every running app's output, copied into a Redis stream per Space.

A thread of the monitor (:mod:`worker.monitor`) watches the backend's start events and starts one
follower thread per container the moment it starts: a container replaced within seconds by a
redeploy still has its output kept, however long the monitor's other checks take. Each monitor
tick also looks for running containers without a follower (after a monitor restart). Lines are
stored with secrets masked, the last ``KEEP`` of them per Space, across restarts and redeploys; a
new container's output starts with ``===== Application Startup at … =====`` as on Hugging Face. The
controller serves the stream at ``GET /api/spaces/{owner}/{name}/logs/run``. A restarted monitor
resumes after the last stored line.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

import redis

from core import envvars, keys
from core.models import Space
from core.replies import Fields, entries
from worker.backends import RuntimeBackend

log = logging.getLogger(__name__)

KEEP = 1000


class RunLogCollector:
    def __init__(self, r: redis.Redis, runtime: RuntimeBackend) -> None:
        self.r, self.backend = r, runtime
        self.followers: dict[str, threading.Thread] = {}
        self.lock = threading.Lock()
        threading.Thread(target=self._watch, daemon=True, name="runlog-starts").start()

    def check(self, spaces: list[Space], states: dict[str, tuple[str, str]]) -> None:
        """Follow every running container that has no follower yet, new versions still starting included."""
        for instance, (state, space_id) in states.items():
            if state == "running" and space_id:
                self.follow(instance, space_id)
        with self.lock:
            for instance in [i for i, t in self.followers.items() if not t.is_alive() and i not in states]:
                del self.followers[instance]

    def follow(self, instance: str, space_id: str) -> None:
        """Start copying the output of ``instance`` unless a live follower already does."""
        with self.lock:
            follower = self.followers.get(instance)
            if follower is not None and follower.is_alive():
                return
            follower = threading.Thread(target=self._follow, args=(space_id, instance), daemon=True,
                                        name=f"runlog-{instance[:12]}")
            self.followers[instance] = follower
            follower.start()

    def _watch(self) -> None:
        while True:
            try:
                for instance, space_id in self.backend.watch_starts():
                    if instance and space_id:
                        self.follow(instance, space_id)
            except Exception:  # Docker restarted or away: the ticks cover the gap
                log.warning("watching for started containers failed; trying again", exc_info=True)
            time.sleep(1)

    def _follow(self, space_id: str, instance: str) -> None:
        stream = keys.space_run_log(space_id)
        inst = self.backend.poll(instance)
        if inst is None:
            return  # removed before it could be followed
        started = inst.started_at or time.time()
        # Where this container's output stopped being copied (several containers may write: blue/green).
        mine = (fields for _, fields in entries(self.r.xrevrange(stream, count=KEEP)) if fields.get("instance") == instance)
        last_ts = float(next(mine, {}).get("ts") or 0)
        if last_ts < started:  # a new container, or this one started again since the last line kept
            when = datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%d %H:%M:%S")
            self._add(stream, instance, f"===== Application Startup at {when} =====", started)
        # Everything after the last line kept of this container — all of it if none was: an app's
        # first lines can carry a time just before Docker's StartedAt.
        since = last_ts + 1e-6 if last_ts else None
        secrets = envvars.secret_values(self.r, space_id)
        try:
            for stamp, line in self.backend.follow_logs(instance, since=since):
                if since is not None and stamp < since:
                    continue  # Docker's ``since`` has whole-second precision
                self._add(stream, instance, envvars.mask(line, secrets), stamp)
        except Exception:  # a container removed mid-stream ends its follower
            log.debug("following the logs of %s ended", instance[:12], exc_info=True)

    def _add(self, stream: str, instance: str, line: str, stamp: float) -> None:
        fields: Fields = {"line": line, "instance": instance, "ts": f"{stamp:.6f}"}
        self.r.xadd(stream, fields, maxlen=KEEP, approximate=True)
