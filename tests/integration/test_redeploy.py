"""Redeploys without downtime: under steady traffic through Traefik, three pushes in a row and a
restart switch versions without a single failed request, and the old container is drained, then removed."""

from __future__ import annotations

import threading
import time

import docker
import httpx

from tests.helpers import api, eventually, output, space_url


class Load:
    """About ``rate`` GET requests per second to ``url`` until stopped; keeps every failure."""

    def __init__(self, url: str, rate: float = 20) -> None:
        self.url, self.interval = url, 1 / rate
        self.ok = 0
        self.failures: list[str] = []
        self.latencies: list[float] = []
        self.bodies: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    response = client.get(self.url)
                    if response.status_code == 200:
                        self.ok += 1
                        self.bodies.add(response.text)
                    else:
                        self.failures.append(f"HTTP {response.status_code}: {response.text[:200]}")
                except httpx.HTTPError as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                self.latencies.append(time.monotonic() - started)
                self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


APP = '''
import http.server
import time

VERSION = "{version}"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/slow":
            time.sleep(8)
        body = VERSION.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("0.0.0.0", 7860), Handler).serve_forever()
'''


def _get(url: str) -> httpx.Response | Exception:
    try:
        return httpx.get(url, timeout=60)
    except httpx.HTTPError as exc:
        return exc


def test_three_redeploys_under_load_fail_no_request(user, worktree, track):
    space_id = track(f"{user.name}/steady", user)
    worktree.write("app.py", APP.format(version="v0"))
    worktree.commit("v0")
    first = worktree.push(user.name, "steady", user)
    assert first.returncode == 0, output(first)
    url = space_url(api("GET", f"/api/spaces/{space_id}").json()["subdomain"])
    with Load(url) as load:
        assert eventually(lambda: "v0" in load.bodies, 30), "the load got no answer from v0"
        slow: list[httpx.Response | Exception] = []
        for version in ("v1", "v2", "v3"):
            worktree.write("app.py", APP.format(version=version))
            worktree.commit(version)
            if version == "v2":  # an 8 s request to v1, still under way when v2 takes over
                waiter = threading.Thread(target=lambda: slow.append(_get(url + "slow")), daemon=True)
                waiter.start()
            run = worktree.push(user.name, "steady", user)
            assert run.returncode == 0 and "Your Space is running at" in output(run), output(run)
            assert eventually(lambda v=version: v in load.bodies, 30), f"the load never got an answer from {version}"
        waiter.join(timeout=30)
        # A restart runs the same build in a new container beside the serving one.
        before = {c.id for c in containers_of(space_id)}
        assert api("POST", f"/api/spaces/{space_id}/restart", user).status_code == 200
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and {c.id for c in containers_of(space_id)} & before:
            time.sleep(0.5)
        assert not {c.id for c in containers_of(space_id)} & before, "the restart did not replace the container"
    assert load.failures == [], f"{len(load.failures)} of {load.ok + len(load.failures)} requests failed: {load.failures[:5]}"
    assert load.ok >= 60, f"only {load.ok} requests were made"
    assert {"v0", "v1", "v2", "v3"} <= load.bodies, load.bodies
    assert httpx.get(url, timeout=10).text == "v3"
    # The old version finished the request it had when the route switched.
    assert len(slow) == 1 and isinstance(slow[0], httpx.Response), slow
    assert slow[0].status_code == 200 and slow[0].text == "v1", slow[0]
    deadline = time.monotonic() + 40
    while len(containers_of(space_id)) > 1 and time.monotonic() < deadline:  # the last old one may still be draining
        time.sleep(1)
    assert len(containers_of(space_id)) == 1, [c.name for c in containers_of(space_id)]


def containers_of(space_id: str) -> list:
    return docker.from_env().containers.list(all=True, filters={"label": f"org.spaces.space={space_id}"}, ignore_removed=True)
