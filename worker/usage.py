"""What the admin dashboard shows of each running Space: memory and CPU now, image size, the disk it
fills (outside and in /data, measured less often; an app over its limit is stopped by
:mod:`worker.diskguard`) and when its container started — sampled by the monitor every few seconds into ``keys.SPACE_USAGE`` — and the
monitor's own heartbeat (``keys.MONITOR_HEARTBEAT``), which tells the dashboard Docker answers.

Sampling asks Docker about each container, which can take seconds on a busy host; it runs in a
thread of its own so that it never delays the monitor's other checks (crashes, new containers' logs)."""

from __future__ import annotations

import json
import logging
import threading
import time

import redis

from core import keys, store
from core.hardware import space_limits
from core.models import Space
from core.replies import Fields
from core.settings import Settings
from worker import diskguard
from worker.backends import RuntimeBackend

log = logging.getLogger(__name__)

EVERY = 5.0
HEARTBEAT_TTL = 30


class UsageRecorder:
    def __init__(self, r: redis.Redis, runtime: RuntimeBackend, settings: Settings, *, thread: bool = True) -> None:
        self.r, self.runtime, self.settings = r, runtime, settings
        self.previous: dict[str, tuple[float, int]] = {}  # instance id -> (monotonic time, CPU ns)
        self.image_sizes: dict[str, int | None] = {}
        self.disk: dict[str, tuple[float, dict]] = {}  # instance id -> (monotonic time measured, figures)
        self.latest: tuple[list[Space], dict[str, tuple[str, str]]] = ([], {})
        if thread:  # tests call sample() themselves
            threading.Thread(target=self._loop, daemon=True, name="usage").start()

    def check(self, spaces: list[Space], states: dict[str, tuple[str, str]]) -> None:
        """Called every monitor tick: note the heartbeat and hand over the tick's view (no Docker calls here)."""
        self.r.set(keys.MONITOR_HEARTBEAT, json.dumps({"at": time.time(), "docker": "ok", "instances": len(states)}),
                   ex=HEARTBEAT_TTL)
        self.latest = (spaces, states)

    def _loop(self) -> None:
        while True:
            time.sleep(EVERY)
            try:
                self.sample(*self.latest)
            except Exception:  # a failed sample must not end the thread
                log.exception("sampling what the Spaces use failed")

    def sample(self, spaces: list[Space], states: dict[str, tuple[str, str]]) -> None:
        samples: Fields = {}
        for space in spaces:
            instance = space.instance or ""
            if states.get(instance, ("", ""))[0] != "running":
                continue
            try:
                sample = self._sample(space, instance)
            except Exception:  # one Space's surprise must not end the pass for the others
                log.exception("sampling %s failed", space.id)
                continue
            if sample:
                samples[space.id] = json.dumps(sample)
        with self.r.pipeline(transaction=True) as p:
            p.delete(keys.SPACE_USAGE)
            if samples:
                p.hset(keys.SPACE_USAGE, mapping=samples)
            p.execute()
        running = {s.instance for s in spaces}
        self.previous = {k: v for k, v in self.previous.items() if k in running}
        self.disk = {k: v for k, v in self.disk.items() if k in running}

    def _disk(self, space: Space, instance: str) -> dict:
        """The instance's disk figures, measured again every ``disk_check_seconds``; an app over its
        limits is stopped (:mod:`worker.diskguard`)."""
        now = time.monotonic()
        measured, figures = self.disk.get(instance, (0.0, {}))
        if figures and now - measured < self.settings.disk_check_seconds:
            return figures
        use = self.runtime.disk_usage(instance, max_files=space_limits(space, self.settings).files + 1)
        if use is None:
            return {}
        figures = {"disk": use.writable.bytes, "disk_files": use.writable.files,
                   "data": use.data.bytes if use.data else None}
        self.disk[instance] = (now, figures)
        diskguard.check(self.r, self.runtime, space, instance, use, self.settings)
        return figures

    def _sample(self, space: Space, instance: str) -> dict | None:
        used = self.runtime.usage(instance)
        if used is None:
            return None
        memory, cpu_ns = used
        now = time.monotonic()
        before = self.previous.get(instance)
        self.previous[instance] = (now, cpu_ns)
        cpu_percent = None
        if before and now > before[0]:
            cpu_percent = round(100 * (cpu_ns - before[1]) / ((now - before[0]) * 1e9), 1)
        build = store.get_build(self.r, space.running_build)
        image = build.image if build is not None else ""
        if image and image not in self.image_sizes:
            self.image_sizes[image] = self.runtime.image_size(image)
        polled = self.runtime.poll(instance)
        return {"memory": memory, "cpu_percent": cpu_percent, "image_size": self.image_sizes.get(image),
                "started_at": polled.started_at if polled else None, "at": time.time(), **self._disk(space, instance)}
