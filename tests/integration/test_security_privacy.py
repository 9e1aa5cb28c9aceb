"""Privacy cannot slip while a Space changes (issue 11, item 5), through the real Traefik.

A Space is made private (``PUT …/settings``) while a deploy, a wake from the stopped tier or a
crash restart of it is under way — each of which ends by writing the Space's route. From the
moment the PUT has returned, an anonymous visitor must never get the app's answer again, however
the operation ends; its owner, with a token, still gets it. Before the fix each of these wrote the
route from a copy of the Space read before the change, without the access check, and the Space
was served to everyone until the reconciler's next pass.

The app is a plain HTTP server that waits before it listens, so each operation is still waiting
for it when the visibility changes; its answer carries a random marker that anonymous visitors
must never see.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid

import docker
import httpx
import pytest

from core.store import get_redis
from proxy.routes import RedisRouteTable, space_route_name
from tests.helpers import User, WorkTree, api, create_user, output, runtime, space_url

MARKER = f"privacy-marker-{uuid.uuid4().hex}"
START_DELAY = 1.5  # seconds the app takes before it listens: the window in which the visibility changes
LONG_START = 12  # seconds, for the one test that must tell a slow answer from one that waited for a deploy
ROUNDS = 2

APP = f'''
import http.server, os, time

time.sleep(float(os.environ.get("START_DELAY", "{START_DELAY}")))  # a variable may make it longer


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/crash":
            os._exit(3)
        body = b"{MARKER}"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("0.0.0.0", 7860), Handler).serve_forever()
'''


class AnonymousWatch:
    """Visits the Space without credentials, as fast as it answers, until stopped; keeps every
    answer that carried the app's marker (or a 200)."""

    def __init__(self, url: str) -> None:
        self.url, self.leaks, self.visits = url, [], 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                try:
                    response = client.get(self.url)
                except httpx.HTTPError:
                    continue
                self.visits += 1
                if response.status_code == 200 or MARKER in response.text:
                    self.leaks.append((time.monotonic(), response.status_code, response.text[:120]))
                time.sleep(0.02)

    def __enter__(self) -> AnonymousWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


@pytest.fixture(scope="module")
def delayed(tmp_path_factory):
    """A running public Space whose app takes START_DELAY s to listen: (space_id, url, owner)."""
    owner = create_user()
    tree = WorkTree(tmp_path_factory.mktemp("privacy") / "repo")
    tree.write("app.py", APP)
    tree.commit("slow to start")
    name = f"flip{uuid.uuid4().hex[:6]}"
    run = tree.push(owner.name, name, owner)
    space_id = f"{owner.name}/{name}"
    assert "Your Space is running at" in output(run), output(run)
    yield space_id, space_url(api("GET", f"/api/spaces/{space_id}").json()["subdomain"]), owner
    api("DELETE", f"/api/spaces/{space_id}", owner)


def poll_until(check, timeout: float, what: str, every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


def stage_of(space_id: str, owner: User) -> str:
    return runtime(space_id, owner)["stage"]


def containers_of(space_id: str) -> list:
    return docker.from_env().containers.list(all=True, filters={"label": f"org.spaces.space={space_id}"},
                                             ignore_removed=True)


def set_visibility(space_id: str, owner: User, value: str) -> None:
    response = api("PUT", f"/api/spaces/{space_id}/settings", owner, json={"visibility": value})
    assert response.status_code == 200 and response.json()["visibility"] == value, response.text


def make_public(space_id: str, url: str, owner: User) -> None:
    set_visibility(space_id, owner, "public")
    poll_until(lambda: MARKER in httpx.get(url, timeout=10).text, 30, "the public Space to answer anonymously")


def flip_private_during(space_id: str, url: str, owner: User, started, done, what: str) -> None:
    """Make the Space private once ``started()`` says the operation is under way, then watch
    anonymous visits until ``done()`` and a while after: none may get the app."""
    poll_until(started, 60, f"the {what} to begin")
    assert stage_of(space_id, owner) != "RUNNING", f"the {what} ended before the change"
    set_visibility(space_id, owner, "private")
    name = space_route_name(api("GET", f"/api/spaces/{space_id}", owner).json()["subdomain"])
    with AnonymousWatch(url) as watch:
        poll_until(done, 90, f"the {what} to end", every=0.1)
        # The route written at the end is what Traefik serves now (it takes a tenth of a second to
        # pick one up); the watch goes on for ten more anonymous visits to it.
        target = RedisRouteTable(get_redis()).target_of(name)
        assert target, f"the {what} left no route"
        RedisRouteTable.wait_live(name, target)
        seen = watch.visits
        poll_until(lambda: watch.visits >= seen + 10, 30, "ten anonymous visits to the final route")
    assert watch.visits > 10, f"too few anonymous visits were made during the {what} ({watch.visits})"
    assert watch.leaks == [], f"the app was served anonymously after the Space was made private during a {what}: {watch.leaks[:3]}"
    assert RedisRouteTable(get_redis()).is_private(name), f"the route lost its access check during the {what}"
    anonymous = httpx.get(url, timeout=10)
    assert anonymous.status_code == 401 and MARKER not in anonymous.text
    with_token = httpx.get(url, headers=owner.headers, timeout=30)
    assert with_token.status_code == 200 and with_token.text == MARKER, (with_token.status_code, with_token.text[:200])


def during_deploy(space_id: str, url: str, owner: User) -> None:
    make_public(space_id, url, owner)
    assert api("POST", f"/api/spaces/{space_id}/restart", owner).status_code == 200
    flip_private_during(space_id, url, owner,
                        lambda: stage_of(space_id, owner) == "RUNNING_APP_STARTING",
                        lambda: stage_of(space_id, owner) == "RUNNING" and len(containers_of(space_id)) == 1,
                        "deploy")


def during_wake(space_id: str, url: str, owner: User) -> None:
    make_public(space_id, url, owner)
    assert api("POST", f"/api/spaces/{space_id}/sleeptime", owner, json={"seconds": 1}).status_code == 200
    poll_until(lambda: stage_of(space_id, owner) == "SLEEPING", 30, "the Space to sleep", every=0.2)
    poll_until(lambda: [c.status for c in containers_of(space_id)] == ["exited"], 30, "the stopped tier", every=0.2)
    assert api("POST", f"/api/spaces/{space_id}/sleeptime", owner, json={"seconds": -1}).status_code == 200
    visitor: dict = {}
    waking = threading.Thread(target=lambda: visitor.update(r=httpx.get(url, headers=owner.headers, timeout=60)))
    waking.start()  # the owner's visit wakes it; the waker holds it until the app answers
    try:
        flip_private_during(space_id, url, owner,
                            lambda: [c.status for c in containers_of(space_id)] == ["running"],
                            lambda: not waking.is_alive() and stage_of(space_id, owner) == "RUNNING",
                            "wake")
    finally:
        waking.join(timeout=60)
    assert visitor["r"].status_code == 200 and visitor["r"].text == MARKER


def during_crash_restart(space_id: str, url: str, owner: User) -> None:
    make_public(space_id, url, owner)
    with contextlib.suppress(httpx.HTTPError):
        httpx.get(url + "crash", timeout=10)  # the app dies mid-request (Traefik answers 502)
    poll_until(lambda: stage_of(space_id, owner) == "RUNTIME_ERROR", 30, "the crash to be seen", every=0.1)
    flip_private_during(space_id, url, owner,
                        lambda: [c.status for c in containers_of(space_id)] == ["running"],
                        lambda: stage_of(space_id, owner) == "RUNNING",
                        "crash restart")


def test_a_space_made_private_during_deploys_wakes_and_restarts_is_never_served_anonymously(delayed):
    space_id, url, owner = delayed
    started = time.monotonic()
    for _ in range(ROUNDS):
        during_deploy(space_id, url, owner)  # (a deploy also resets the crash count)
        during_crash_restart(space_id, url, owner)
        during_wake(space_id, url, owner)
    assert time.monotonic() - started < 120


def test_a_visibility_change_is_not_held_up_by_a_deploy(delayed):
    """The visibility change and route writes share a lock held for moments, not the deploy's: a
    PUT during a deploy is answered while the deploy is still under way. (This deploy's app takes
    LONG_START s to listen — a variable says so, and setting it is what starts the deploy — so an
    answer slowed by a loaded machine is not taken for one that waited for the deploy.)"""
    space_id, url, owner = delayed
    make_public(space_id, url, owner)
    response = api("POST", f"/api/spaces/{space_id}/variables", owner, json={"key": "START_DELAY", "value": str(LONG_START)})
    assert response.status_code == 200, response.text
    poll_until(lambda: stage_of(space_id, owner) == "RUNNING_APP_STARTING", 60, "the deploy to begin")
    set_visibility(space_id, owner, "private")
    # Had the change waited for the deploy (which holds the Space's lock until its app answers and
    # the route is switched), the deploy would have ended before the answer.
    assert stage_of(space_id, owner) == "RUNNING_APP_STARTING", "the visibility change waited for the deploy"
    poll_until(lambda: stage_of(space_id, owner) == "RUNNING", 60, "the deploy to end")
    assert httpx.get(url, timeout=10).status_code == 401
