"""GET /metrics: Prometheus figures for admins — builds, deploys, wakes by tier, Spaces per stage
and requests per Space from Traefik's own counters."""

from __future__ import annotations

import re
import time

import docker
import httpx

from tests.helpers import api, create_user, space_url, wait_stage
from tests.integration.test_redeploy import APP


def scrape(admin) -> dict[str, float]:
    response = api("GET", "/metrics", admin)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def test_metrics_count_builds_deploys_wakes_and_requests(user, worktree, track):
    admin = create_user(admin=True)
    assert api("GET", "/metrics").status_code == 401
    assert api("GET", "/metrics", user).status_code == 403
    before = scrape(admin)
    space_id = track(f"{user.name}/counted", user)
    worktree.write("app.py", APP.format(version="v1"))
    worktree.commit("v1")
    assert worktree.push(user.name, "counted", user).returncode == 0
    url = space_url(api("GET", f"/api/spaces/{space_id}").json()["subdomain"])
    for _ in range(5):
        assert httpx.get(url, timeout=10).status_code == 200
    # 3 s: paused after 3 s, stopped 3 s later; the loop below catches it paused (with 1 s a loaded
    # machine sometimes saw it stopped already, and the wake below counted in the other tier).
    api("POST", f"/api/spaces/{space_id}/sleeptime", user, json={"seconds": 3})
    wait_stage(space_id, {"SLEEPING"}, timeout=30)
    (container,) = docker.from_env().containers.list(all=True, filters={"label": f"org.spaces.space={space_id}"}, ignore_removed=True)
    deadline = time.monotonic() + 10
    while container.status != "paused" and time.monotonic() < deadline:
        time.sleep(0.2)
        container.reload()
    api("POST", f"/api/spaces/{space_id}/sleeptime", user, json={"seconds": -1})
    assert httpx.get(url, timeout=30).text == "v1"  # wakes it from the paused tier

    after = scrape(admin)
    grew = lambda name: after.get(name, 0) - before.get(name, 0)  # noqa: E731
    assert grew('spaces_builds_total{result="succeeded"}') >= 1
    assert grew("spaces_build_duration_seconds_count{result=\"succeeded\"}") >= 1
    assert grew('spaces_deploys_total{result="running"}') >= 1
    # Counted in the tier it woke from: paused, unless a loaded machine had moved it on to stopped.
    woke = [tier for tier in ("paused", "stopped") if grew(f'spaces_wakes_total{{tier="{tier}"}}') >= 1]
    assert woke, "the wake was not counted"
    assert grew(f'spaces_wake_duration_seconds_bucket{{tier="{woke[0]}",le="+Inf"}}') >= 1
    assert after['spaces_spaces{stage="RUNNING"}'] >= 1
    assert after[f'spaces_space_requests_total{{space="{space_id}"}}'] >= 6
    buckets = [v for k, v in after.items() if re.match(r'spaces_build_duration_seconds_bucket\{result="succeeded",le=', k)]
    assert buckets == sorted(buckets), "histogram buckets must be cumulative"
