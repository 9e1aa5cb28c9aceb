"""The sleeper: watches each running Space's traffic and puts idle ones to sleep.

The monitor (:mod:`worker.monitor`) runs a check every ``SPACES_IDLE_CHECK_INTERVAL`` seconds. A Space is busy
while either

- Traefik's own request counter for its route (``traefik_service_requests_total``) moved, or
- a connection to its container is open (a websocket, an SSE stream, a long request). Traefik's
  metrics count open connections per entry point only, so these are read from the host's socket
  table: Traefik reaches each container on its own loopback port, and closes idle keep-alive
  connections after 2 s (``proxy.traefik``), so an open one is real work.

Idle for the Space's sleep time → paused; paused for ``min(sleep time, SPACES_PAUSED_KEEP)`` more →
stopped (see :mod:`worker.sleep`).
"""

from __future__ import annotations

import logging
import time
from urllib.parse import urlparse

import redis

from core import store
from core.models import Space
from core.settings import Settings
from core.stages import Stage
from core.store import sleep_seconds
from proxy.routes import space_route_name
from proxy.traefik import requests_by_service
from worker.backends import RuntimeBackend
from worker.health import open_connections
from worker.jobs import try_space_lock
from worker.sleep import TIER_PAUSED, deepen_sleep, idle_since, put_to_sleep, sleeps

log = logging.getLogger(__name__)



class Sleeper:
    def __init__(self, r: redis.Redis, backend: RuntimeBackend, settings: Settings) -> None:
        self.r, self.backend, self.settings = r, backend, settings
        self.seen: dict[str, float] = {}  # request counts at the previous check

    def check(self, spaces: list[Space], states: dict[str, tuple[str, str]]) -> None:
        counts = requests_by_service(self.settings)
        conns = open_connections()
        now = time.time()
        for space in spaces:
            stage = space.stage
            if stage == Stage.RUNNING.value and sleeps(space):
                self._check_running(space, counts, conns, now)
            elif stage == Stage.SLEEPING.value and space.sleep_tier == TIER_PAUSED:
                keep = min(max(sleep_seconds(space, self.settings), 0), self.settings.paused_keep)
                if now - float(space.slept_at or now) >= keep:
                    self._locked(space, lambda s: deepen_sleep(self.r, self.backend, s), Stage.SLEEPING)
        self.seen = counts

    def _check_running(self, space: Space, counts: dict[str, float], conns: dict[int, int], now: float) -> None:
        service = f"{space_route_name(space.subdomain)}@redis"
        port = urlparse(space.target).port
        moved = service in self.seen and counts.get(service) != self.seen[service]
        if moved or (port and conns.get(port)):
            store.update_space(self.r, space.id, last_active=str(now))
            return
        limit = sleep_seconds(space, self.settings)
        if limit >= 0 and now - idle_since(space) >= limit:
            self._locked(space, lambda s: put_to_sleep(self.r, self.backend, s, self.settings), Stage.RUNNING)

    def _locked(self, space: Space, action, expected: Stage) -> None:
        """Run ``action`` under the Space's lock if nobody else (deploy, wake, delete) holds it."""
        with try_space_lock(self.r, space.id, 60) as fresh:
            if fresh and fresh.stage == expected.value and fresh.instance == space.instance:
                if expected == Stage.RUNNING and idle_since(fresh) > idle_since(space):
                    return  # a visit arrived meanwhile
                action(fresh)
