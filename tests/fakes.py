"""In-memory stand-ins for the fast tier: a runtime backend whose "containers" are entries in a
dict, each answering HTTP (or not) from one small server in this process, and a record of what
Traefik was asked to confirm. Fakes are for the fast tier only; tests/integration uses the real parts."""

from __future__ import annotations

import http.server
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest

import worker.backends
from worker.backends.base import Capability, Instance, RunSpec, RuntimeBackend
from worker.diskuse import DiskUse


class _Answers(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


class AppServer:
    """One HTTP server that every healthy fake app's target points at, and one listening socket
    that accepts connections and never answers (a hanging app)."""

    def __init__(self) -> None:
        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.silent = socket.socket()
        self.silent.bind(("127.0.0.1", 0))
        self.silent.listen(64)
        self.held: list[socket.socket] = []  # accepted, never answered (a full backlog would refuse new ones)
        threading.Thread(target=self._hold, daemon=True).start()

    def _hold(self) -> None:
        while True:
            try:
                conn, _ = self.silent.accept()
            except OSError:  # closed
                return
            self.held.append(conn)

    @property
    def answering_url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}"

    @property
    def hanging_url(self) -> str:
        return f"http://127.0.0.1:{self.silent.getsockname()[1]}"

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.silent.close()
        for conn in self.held:
            conn.close()


@dataclass
class FakeApp:
    """How an app of a given image behaves: it answers, hangs, or exits at once with ``exit_code``."""

    behaviour: str = "answers"  # answers | hangs | exits
    exit_code: int = 1
    log: str = ""


class FakeBackend(RuntimeBackend):
    """A runtime backend kept in memory. ``apps`` maps an image to how its app behaves."""

    name = "fake"
    capabilities = frozenset(Capability)

    def __init__(self, server: AppServer) -> None:
        self.server = server
        self.apps: dict[str, FakeApp] = {}
        self.instances: dict[str, Instance] = {}
        self.specs: dict[str, RunSpec] = {}
        self.removed: list[str] = []
        self.disk: dict[str, DiskUse] = {}  # instance id -> what it is said to fill on disk
        self._ids = itertools.count(1)

    def start(self, spec: RunSpec) -> Instance:
        app = self.apps.get(spec.image, FakeApp())
        instance_id = f"fake{next(self._ids):04d}"
        target = self.server.hanging_url if app.behaviour == "hangs" else self.server.answering_url
        inst = Instance(id=instance_id, space_id=spec.space_id, build_id=spec.build_id,
                        running=app.behaviour != "exits", target=target if app.behaviour != "exits" else "",
                        exit_code=app.exit_code if app.behaviour == "exits" else None, started_at=time.time())
        self.instances[instance_id] = inst
        self.specs[instance_id] = spec
        return inst

    def poll(self, instance_id: str) -> Instance | None:
        return self.instances.get(instance_id)

    def resume(self, instance_id: str) -> Instance:
        inst = replace(self.instances[instance_id], running=True, paused=False)
        self.instances[instance_id] = inst
        return inst

    def pause(self, instance_id: str) -> None:
        self.instances[instance_id] = replace(self.instances[instance_id], paused=True)

    def unpause(self, instance_id: str) -> Instance:
        return self.resume(instance_id)

    def stop(self, instance_id: str, *, timeout: float = 10) -> None:
        if instance_id in self.instances:
            self.instances[instance_id] = replace(self.instances[instance_id], running=False, target="")

    def remove(self, instance_id: str) -> None:
        if self.instances.pop(instance_id, None) is not None:
            self.removed.append(instance_id)

    def logs(self, instance_id: str, *, tail: int = 50) -> str:
        spec = self.specs.get(instance_id)
        return self.apps.get(spec.image, FakeApp()).log if spec else ""

    def follow_logs(self, instance_id: str, *, since: float | None = None) -> Iterator[tuple[float, str]]:
        return iter(())

    def list_instances(self) -> list[Instance]:
        return list(self.instances.values())

    def usage(self, instance_id: str) -> tuple[int, int] | None:
        inst = self.instances.get(instance_id)
        return (64 << 20, 0) if inst and inst.running else None

    def disk_usage(self, instance_id: str, *, max_files: int) -> DiskUse | None:
        return self.disk.get(instance_id) if instance_id in self.instances else None

    def of(self, space_id: str) -> list[Instance]:
        return [i for i in self.instances.values() if i.space_id == space_id]


def use_backend(monkeypatch: pytest.MonkeyPatch, fake: RuntimeBackend) -> None:
    """Run container Spaces on ``fake`` (static ones stay on the real static backend), for one test."""
    real = worker.backends.get_backend
    monkeypatch.setitem(worker.backends.BACKENDS, fake.name, type(fake))
    monkeypatch.setattr(worker.backends, "get_backend",
                        lambda name=None: real(name) if name == worker.backends.StaticBackend.name else fake)
