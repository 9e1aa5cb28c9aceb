"""The run-log collector follows a container the moment the backend reports its start — not at the
monitor's next tick, which a slow check (a ``docker stop`` of a Space put to sleep) can delay for
seconds, long enough for a redeploy to retire the container and lose its output."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator

from core import keys
from worker.backends.base import Instance, RuntimeBackend
from worker.runlogs import RunLogCollector


class FakeBackend(RuntimeBackend):
    """Containers that print fixed lines; ``starts`` is the event feed the collector watches."""

    def __init__(self) -> None:
        self.starts: queue.Queue[tuple[str, str]] = queue.Queue()
        self.containers: dict[str, tuple[float, list[str]]] = {}  # id -> (started at, output)
        self.early = -0.001  # how long before Docker's StartedAt the first line is stamped

    def watch_starts(self) -> Iterator[tuple[str, str]]:
        while True:
            yield self.starts.get()

    def poll(self, instance_id: str) -> Instance | None:
        if instance_id not in self.containers:
            return None
        return Instance(id=instance_id, space_id="alice/demo", build_id="b1", running=True,
                        started_at=self.containers[instance_id][0])

    def follow_logs(self, instance_id: str, *, since: float | None = None) -> Iterator[tuple[float, str]]:
        started, lines = self.containers.get(instance_id, (0.0, []))
        for i, line in enumerate(lines):
            yield started + 0.001 * i - self.early, line

    def start(self, spec): raise NotImplementedError
    def resume(self, instance_id): raise NotImplementedError
    def pause(self, instance_id): raise NotImplementedError
    def unpause(self, instance_id): raise NotImplementedError
    def stop(self, instance_id, *, timeout=10): raise NotImplementedError
    def remove(self, instance_id): raise NotImplementedError
    def logs(self, instance_id, *, tail=50): raise NotImplementedError
    def list_instances(self): return []


def stored(r) -> list[str]:
    return [fields["line"] for _, fields in r.xrange(keys.space_run_log("alice/demo"))]


def wait_until(check, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_started_container_is_followed_without_waiting_for_a_tick(redis_db):
    backend = FakeBackend()
    RunLogCollector(redis_db, backend)  # no check() call below: only the start event
    backend.containers["c1"] = (time.time(), ["the key is None", "listening"])
    backend.starts.put(("c1", "alice/demo"))
    wait_until(lambda: len(stored(redis_db)) == 3)
    lines = stored(redis_db)
    assert lines[0].startswith("===== Application Startup at ")
    assert lines[1:] == ["the key is None", "listening"]


def test_a_container_gone_before_it_is_followed_adds_no_startup_line(redis_db):
    backend = FakeBackend()
    collector = RunLogCollector(redis_db, backend)
    collector.check([], {"gone": ("running", "alice/demo")})  # listed, then removed before the follower looked
    backend.containers["c2"] = (time.time(), ["hello"])
    backend.starts.put(("c2", "alice/demo"))
    wait_until(lambda: "hello" in stored(redis_db))
    assert sum(line.startswith("===== Application Startup") for line in stored(redis_db)) == 1, stored(redis_db)


def test_a_container_seen_twice_is_copied_once(redis_db):
    backend = FakeBackend()
    collector = RunLogCollector(redis_db, backend)
    backend.containers["c3"] = (time.time(), ["once"])
    backend.starts.put(("c3", "alice/demo"))
    wait_until(lambda: "once" in stored(redis_db))
    first = collector.followers["c3"]
    first.join(timeout=5)  # its stream has ended
    assert not first.is_alive()
    collector.check([], {"c3": ("running", "alice/demo")})  # the next tick finds the stream ended
    second = collector.followers["c3"]
    assert second is not first, "the tick started no follower: nothing was tried twice"
    second.join(timeout=5)  # it has read the stream again and copied what it found new
    assert not second.is_alive()
    assert stored(redis_db).count("once") == 1, stored(redis_db)
    assert sum(line.startswith("===== Application Startup") for line in stored(redis_db)) == 1


def test_first_lines_stamped_before_docker_s_start_time_are_kept(redis_db):
    """Docker records StartedAt after the process is running: its first lines can be older."""
    backend = FakeBackend()
    backend.early = 0.005
    RunLogCollector(redis_db, backend)
    backend.containers["c5"] = (time.time(), ["the key is None", "listening"])
    backend.starts.put(("c5", "alice/demo"))
    wait_until(lambda: "listening" in stored(redis_db))
    assert stored(redis_db)[1:] == ["the key is None", "listening"], stored(redis_db)
