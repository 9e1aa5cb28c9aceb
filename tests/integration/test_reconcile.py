"""The reconciler repairs what drifted — stopped containers, lost routes, orphans — and leaves healthy Spaces alone."""

from __future__ import annotations

import subprocess
import sys
import time

import docker
import httpx
import pytest
import redis

from core import keys, store
from core.settings import get_settings
from core.stages import Stage
from tests.helpers import api, create_user, output, space_url


def reconcile_once() -> None:
    run = subprocess.run([sys.executable, "-m", "worker.reconcile", "--interval", "0"], capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr


def wait_answers(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        reconcile_once()
    raise AssertionError(f"{url} did not answer within {timeout} s")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A running Space for this module: (space_id, url)."""
    from tests.helpers import WorkTree

    owner = create_user()
    tree = WorkTree(tmp_path_factory.mktemp("rec") / "repo")
    tree.commit("first")
    run = tree.push(owner.name, "rec", owner)
    assert run.returncode == 0, output(run)
    space_id = f"{owner.name}/rec"
    yield space_id, space_url(api("GET", f"/api/spaces/{space_id}").json()["subdomain"])
    api("DELETE", f"/api/spaces/{space_id}", owner)


def container_of(space_id: str):
    (container,) = docker.from_env().containers.list(all=True, filters={"label": f"org.spaces.space={space_id}"}, ignore_removed=True)
    return container


def test_healthy_space_is_adopted_not_restarted(served):
    space_id, url = served
    before = container_of(space_id).attrs["State"]["StartedAt"]
    reconcile_once()
    after = container_of(space_id)
    assert after.attrs["State"]["StartedAt"] == before
    assert httpx.get(url, timeout=5).status_code == 200


def test_stopped_container_is_started_again(served):
    space_id, url = served
    container = container_of(space_id)
    container.stop(timeout=2)
    assert httpx.get(url, timeout=5).status_code >= 500  # Traefik has nowhere to send it
    wait_answers(url)
    assert container_of(space_id).id == container.id  # the same container, re-adopted


def test_lost_route_is_rewritten(served):
    space_id, url = served
    r = redis.Redis.from_url(get_settings().redis_url, decode_responses=True)
    sub = r.hget(keys.space(space_id), "subdomain")
    lost = list(r.scan_iter(f"traefik/http/*/space-{sub}/*"))
    assert lost
    r.delete(*lost)
    # Traefik drops the route (404) — unless the background reconciler already wrote it back.
    deadline = time.monotonic() + 10
    while httpx.get(url, timeout=5).status_code != 404 and not r.exists(*lost):
        assert time.monotonic() < deadline, "Traefik kept serving a deleted route"
        time.sleep(0.05)
    wait_answers(url)
    assert set(r.scan_iter(f"traefik/http/*/space-{sub}/*")) == set(lost)


def test_orphan_container_of_a_deleted_space_is_removed(served):
    client = docker.from_env()
    orphan = client.containers.create(
        "spaces-python:3.11", ["sleep", "600"], name=f"space-orphan-{time.time_ns()}",
        labels={"org.spaces.managed": "1", "org.spaces.space": "nobody/gone", "org.spaces.build": "1"},
    )
    orphan.start()
    reconcile_once()
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(orphan.id)


def test_sleeping_space_after_a_reboot_is_routed_to_the_waker_and_wakes(served):
    """As after a reboot: the records say asleep in the paused tier, but the container is stopped
    and the route is gone. The reconciler routes visitors to the waker and marks the tier stopped
    (so a browser gets the wake page, not a long wait); a visit wakes the Space."""
    space_id, url = served
    r = redis.Redis.from_url(get_settings().redis_url, decode_responses=True)
    store.set_stage(r, space_id, Stage.SLEEPING, sleep_tier="paused")
    container_of(space_id).stop(timeout=2)
    sub = r.hget(keys.space(space_id), "subdomain")
    r.delete(*r.scan_iter(f"traefik/http/*/space-{sub}/*"))
    reconcile_once()
    assert r.hget(keys.space(space_id), "sleep_tier") == "stopped"
    assert r.get(f"traefik/http/services/space-{sub}/loadBalancer/servers/0/url") == get_settings().waker_url
    page = httpx.get(url, headers={"Accept": "text/html"}, timeout=30)
    assert page.status_code == 200 and "Waking up" in page.text
    deadline = time.monotonic() + 120
    while api("GET", f"/api/spaces/{space_id}/runtime").json()["stage"] != "RUNNING":
        assert time.monotonic() < deadline, "the Space did not wake"
        time.sleep(0.5)
    assert httpx.get(url, timeout=30).status_code == 200
