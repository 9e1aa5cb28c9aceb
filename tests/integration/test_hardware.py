"""Hardware tiers map to container limits: cpu-basic is the platform's default limits,
cpu-upgrade four times the memory and pids (and CPUs, up to the host's); GPU tiers are refused."""

from __future__ import annotations

import os
import time

import docker
import httpx

from tests.helpers import api, runtime, space_url, wait_stage

APP = '''
import http.server, os


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        data = f"{os.environ['CPU_CORES']} {os.environ['MEMORY']}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


http.server.ThreadingHTTPServer(("0.0.0.0", 7860), Handler).serve_forever()
'''


def limits_of(space_id: str) -> tuple[int, float, int]:
    """(memory MiB, CPUs, pids) of the Space's newest running container."""
    found = docker.from_env().containers.list(filters={"label": f"org.spaces.space={space_id}"}, ignore_removed=True)
    host = max(found, key=lambda c: c.attrs["Created"]).attrs["HostConfig"]
    return host["Memory"] // 2**20, host["NanoCpus"] / 1e9, host["PidsLimit"]


def test_hardware_tier_sets_the_container_limits(user, other_user, worktree, track):
    space_id = track(f"{user.name}/beefy", user)
    worktree.write("app.py", APP)
    worktree.commit("env")
    assert worktree.push(user.name, "beefy", user).returncode == 0
    url = space_url(api("GET", f"/api/spaces/{space_id}").json()["subdomain"])
    assert runtime(space_id)["hardware"] == {"current": "cpu-basic", "requested": "cpu-basic"}
    assert limits_of(space_id) == (2048, 2.0, 512)
    assert httpx.get(url, timeout=10).text == "2 2Gi"

    for bad in ("t4-small", "huge", None):
        response = api("POST", f"/api/spaces/{space_id}/hardware", user, json={"flavor": bad})
        assert response.status_code == 400 and "cpu-basic, cpu-upgrade" in response.json()["error"], response.text
    assert api("POST", f"/api/spaces/{space_id}/hardware", other_user, json={"flavor": "cpu-upgrade"}).status_code == 403

    response = api("POST", f"/api/spaces/{space_id}/hardware", user, json={"flavor": "cpu-upgrade"})
    assert response.status_code == 200 and response.json()["hardware"]["requested"] == "cpu-upgrade"
    cpus = min(8.0, float(os.cpu_count()))
    deadline = time.monotonic() + 60
    while httpx.get(url, timeout=10).text != f"{cpus:g} 8Gi" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert httpx.get(url, timeout=10).text == f"{cpus:g} 8Gi"
    wait_stage(space_id, {"RUNNING"})
    assert limits_of(space_id) == (8192, cpus, 2048)
