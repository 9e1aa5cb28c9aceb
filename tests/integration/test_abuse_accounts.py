"""Issue 17, findings 3 and 9, against the running platform (through Traefik, real git).

- **Lock-out by the bad**: a flood of wrong tokens from one address (on one host every client is
  127.0.0.1 or ::1 behind Traefik) gets 429, and meanwhile the admin's valid token and a
  ``git push`` with a valid token from that same address are answered at once.
- **Accounts can be removed**: deleting a user ends their tokens, sessions and memberships at once,
  deletes their Spaces through Space deletion (the real job), and frees the name only once those
  are gone. Deleting an organization, the ``spaces`` command's and the admin page's deletions need
  no running Space: they are checked in process in the fast tier (tests/unit/test_account_admin.py).
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid

import httpx
import pytest

from core import keys, store
from core.settings import get_settings
from tests.helpers import (
    User,
    WorkTree,
    api,
    base_url,
    create_org,
    create_user,
    eventually,
    output,
    space_url,
)
from tests.integration.test_abuse_config import EXAMPLE_SPACE

LOOPBACKS = ("127.0.0.1", "[::1]")


def from_loopback(address: str) -> httpx.Client:
    """A client reaching Traefik over one loopback address (the Host names the platform)."""
    s = get_settings()
    return httpx.Client(base_url=f"http://{address}:{s.http_port}", headers={"Host": f"{s.domain}:{s.http_port}"},
                        timeout=30)


def flood(address: str) -> list[int]:
    """100 wrong tokens from one loopback address; the statuses."""
    with from_loopback(address) as client:
        return [client.get("/api/whoami-v2", headers={"Authorization": f"Bearer spc_guess{i}"}).status_code
                for i in range(100)]


@pytest.fixture
def clear_counters(platform):
    """The counters the floods fill are cleared afterwards, so that later tests (all from these
    addresses) see a fresh window."""
    yield
    store.get_redis().delete(*(keys.failures("token-client", a) for a in ("127.0.0.1", "::1")))


def test_a_flood_of_bad_tokens_holds_back_only_bad_tokens(clear_counters, tmp_path, track):
    admin, pusher = create_user(admin=True), create_user()
    for address in LOOPBACKS:
        # Each address is checked right after its own flood: the count is per minute, and a loaded
        # machine can take most of a minute for both floods.
        flooded = flood(address)
        assert set(flooded) == {401, 429} and flooded[-1] == 429
        with from_loopback(address) as client:
            bad = client.get("/api/whoami-v2", headers={"Authorization": "Bearer spc_still-guessing"})
            assert bad.status_code == 429 and int(bad.headers["retry-after"]) <= 60
            # The limiter refuses, it never holds a request back: a valid token's cheap call is answered at once.
            started = time.monotonic()
            me = client.get("/api/whoami-v2", headers=admin.headers)
            assert me.status_code == 200 and me.json()["name"] == admin.name, me.text
            assert time.monotonic() - started < 2
            listed = client.get("/api/admin/users", headers=admin.headers)
            assert listed.status_code == 200, listed.text
    tree = WorkTree(tmp_path / "static", example="hello-static")
    tree.commit("first")
    pushed = tree.push(pusher.name, "after-flood", pusher, "-o", "nowait")
    track(f"{pusher.name}/after-flood", pusher)
    assert pushed.returncode == 0, output(pushed)


def test_during_a_flood_of_bad_tokens_others_are_answered_as_usual(platform):
    """While one client keeps sending wrong tokens (and gets 429s), a valid token's call and another
    tenant's Space answer in their usual time."""
    admin = create_user(admin=True)

    def timed(call) -> float:
        started = time.monotonic()
        assert call().status_code == 200
        return time.monotonic() - started

    def calls() -> tuple[list[float], list[float]]:
        me = [timed(lambda: httpx.get(base_url() + "/api/whoami-v2", headers=admin.headers, timeout=30)) for _ in range(10)]
        space = [timed(lambda: httpx.get(space_url(EXAMPLE_SPACE), timeout=30)) for _ in range(10)]
        return me, space

    usual_me, usual_space = calls()
    stop, statuses = threading.Event(), []

    # From 127.0.0.2 with a token of its own: the counters it fills are no other test's.
    guess = f"spc_guess-{uuid.uuid4().hex}"

    def flood() -> None:
        s = get_settings()
        with httpx.Client(base_url=f"http://127.0.0.1:{s.http_port}", headers={"Host": f"{s.domain}:{s.http_port}"},
                          transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=30) as client:
            while not stop.is_set():
                statuses.append(client.get("/api/whoami-v2", headers={"Authorization": f"Bearer {guess}"}).status_code)

    threads = [threading.Thread(target=flood) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        assert eventually(lambda: 429 in statuses, 30), "the flood was never held back"  # under way, and refused
        during_me, during_space = calls()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert 429 in statuses
    for usual, during in ((usual_me, during_me), (usual_space, during_space)):
        assert max(during) < max(1.0, 20 * statistics.median(usual)), (sorted(usual)[-3:], sorted(during)[-3:])


def test_deleting_a_user_deletes_their_spaces_and_frees_the_name_afterwards(platform, tmp_path):
    admin, victim, colleague = create_user(admin=True), create_user(), create_user()
    org = create_org(colleague, {victim.name: "write"})
    tree = WorkTree(tmp_path / "static", example="hello-static")
    tree.commit("first")
    assert tree.push(victim.name, "site", victim, "-o", "nowait").returncode == 0
    space_id = f"{victim.name}/site"
    refused = api("DELETE", f"/api/admin/users/{victim.name}", admin)
    assert refused.status_code == 409 and space_id in refused.json()["error"] and "spaces=delete" in refused.json()["error"]
    moved = api("DELETE", f"/api/admin/users/{victim.name}", admin, params={"spaces": "delete", "transfer_to": admin.name})
    assert moved.status_code == 400 and "not offered" in moved.json()["error"]
    assert api("GET", "/api/whoami-v2", victim).status_code == 200  # refusals change nothing
    started = api("DELETE", f"/api/admin/users/{victim.name}", admin, params={"spaces": "delete"})
    assert started.status_code in (200, 202), started.text
    assert started.json()["spaces"] == [space_id]
    # At once: the token is dead, git refuses it, the membership is gone.
    assert api("GET", "/api/whoami-v2", victim).status_code == 401
    tree.write("more.txt", "x")
    tree.commit("after")
    assert tree.push(victim.name, "site", victim, "-o", "nowait").returncode != 0
    members = api("GET", f"/api/organizations/{org}/members", colleague).json()["members"]
    assert [m["user"] for m in members] == [colleague.name]
    # The Space goes through deletion; then, and only then, the name is free.
    assert eventually(lambda: api("GET", f"/api/spaces/{space_id}", admin).status_code == 404, timeout=120, every=0.5)
    again = api("POST", "/api/admin/users", admin, json={"name": victim.name})
    assert again.status_code == 201, again.text
    newcomer = User(victim.name, again.json()["token"])
    assert api("GET", "/api/whoami-v2", newcomer).json()["orgs"] == []
    assert api("GET", "/api/spaces", newcomer, params={"author": victim.name}).json() == []
