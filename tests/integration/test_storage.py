"""Persistent storage: a /data volume per Space that keeps its files across restarts and
redeploys, goes away when the owner deletes it or the Space, and belongs to the Space alone."""

from __future__ import annotations

import time

import docker
import httpx

from tests.helpers import (
    ContainerStarts,
    api,
    data_file_systems,
    eventually,
    output,
    replaced_container,
    runtime,
    settled_container,
    space_url,
    wait_stage,
)

# Counts visits in /data/visits (or says there is no /data); VERSION shows which deploy answered.
APP = '''
import http.server, os

VERSION = "{version}"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/size":
            fs = os.statvfs("/data")
            body = str(fs.f_blocks * fs.f_frsize)  # bytes the file system holds
        elif self.path == "/visit":
            if not os.path.isdir("/data"):
                body = "no /data"
            else:
                path = "/data/visits"
                count = int(open(path).read()) + 1 if os.path.exists(path) else 1
                open(path, "w").write(str(count))
                body = f"{{VERSION}} {{count}} {{os.environ.get('HF_HOME')}}"
        else:
            body = VERSION
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


http.server.ThreadingHTTPServer(("0.0.0.0", 7860), Handler).serve_forever()
'''


def volumes_of(space_id: str) -> list:
    """The Space's /data file systems and Docker volumes (of the earlier kind)."""
    return data_file_systems(space_id) + docker.from_env().volumes.list(filters={"label": f"org.spaces.space={space_id}"})


def holds(url: str, gib: int) -> bool:
    """The Space's /data is a file system of about ``gib`` GiB (ext4 keeps a little for itself)."""
    try:
        size = int(httpx.get(url + "size", timeout=10).text)
    except (httpx.HTTPError, ValueError):
        return False
    return 0.95 * gib * 2**30 <= size <= gib * 2**30


def wait_version(url: str, version: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=10).text == version:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} never answered {version}")


def wait_visit(url: str, expected_prefix: str, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        last = httpx.get(url + "visit", timeout=10).text
        if last.startswith(expected_prefix):
            return last
        time.sleep(0.5)
    raise AssertionError(f"{url}visit answered {last!r}, not {expected_prefix!r}...")


def test_data_volume_survives_restarts_and_redeploys_and_goes_with_the_space(user, other_user, worktree, track):
    space_id = track(f"{user.name}/keeper", user)
    worktree.write("app.py", APP.format(version="v1"))
    worktree.commit("v1")
    assert worktree.push(user.name, "keeper", user).returncode == 0
    url = space_url(api("GET", f"/api/spaces/{space_id}").json()["subdomain"])
    assert httpx.get(url + "visit", timeout=10).text == "no /data"
    assert runtime(space_id)["storage"] is None

    # Refused tier requests change nothing; the accepted one restarts the Space with /data. Docker's
    # own record of the Space's container starts shows it: the new container's, and no other.
    first = settled_container(space_id)
    with ContainerStarts(space_id) as starts:
        for bad in ("huge", 5, None):
            response = api("POST", f"/api/spaces/{space_id}/storage", user, json={"tier": bad})
            assert response.status_code == 400 and "small, medium, large" in response.json()["error"], response.text
        assert api("POST", f"/api/spaces/{space_id}/storage", other_user, json={"tier": "small"}).status_code == 403
        response = api("POST", f"/api/spaces/{space_id}/storage", user, json={"tier": "small"})
        assert response.status_code == 200 and response.json()["storage"] == "small"
        assert wait_visit(url, "v1 ") == "v1 1 /data/.huggingface"
        with_storage = replaced_container(space_id, first)
        starts.wait_for(with_storage)
    assert starts.ids == [with_storage], "a refused storage request restarted the Space"
    assert httpx.get(url + "visit", timeout=10).text == "v1 2 /data/.huggingface"

    # A restart runs a new container (not the same one started again), which finds the count.
    assert api("POST", f"/api/spaces/{space_id}/restart", user).status_code == 200
    restarted = replaced_container(space_id, with_storage)
    wait_stage(space_id, {"RUNNING"})
    assert wait_visit(url, "v1 ").startswith("v1 3")  # the restarted container found the count

    worktree.write("app.py", APP.format(version="v2"))
    worktree.commit("v2")
    run = worktree.push(user.name, "keeper", user)
    assert run.returncode == 0, output(run)
    assert httpx.get(url + "visit", timeout=10).text.startswith("v2 4")
    assert len(volumes_of(space_id)) == 1
    assert holds(url, 20), "small: a 20 GiB file system"

    redeployed = replaced_container(space_id, restarted)

    # A larger tier grows it, keeping the data (in a new container); a smaller one is refused,
    # naming what to do, and restarts nothing: the only start until the storage is deleted is the
    # deletion's.
    assert api("POST", f"/api/spaces/{space_id}/storage", user, json={"tier": "medium"}).status_code == 200
    assert eventually(lambda: holds(url, 150), 120, every=1), "medium: grown to 150 GiB"
    assert httpx.get(url + "visit", timeout=10).text.startswith("v2 5")
    grown = replaced_container(space_id, redeployed)
    with ContainerStarts(space_id) as starts:
        refused = api("POST", f"/api/spaces/{space_id}/storage", user, json={"tier": "small"})
        assert refused.status_code == 409 and "delete the storage first" in refused.json()["error"], refused.text
        response = api("DELETE", f"/api/spaces/{space_id}/storage", user)
        assert response.status_code == 200 and response.json()["storage"] is None
        assert wait_visit(url, "no /data") == "no /data"
        without = replaced_container(space_id, grown)
        starts.wait_for(without)
    assert starts.ids == [without], "the refused smaller tier restarted the Space"
    deadline = time.monotonic() + 60
    while volumes_of(space_id) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert volumes_of(space_id) == [], "the dropped volume is still there"

    # Storage again, then delete the Space: the volume goes with it.
    api("POST", f"/api/spaces/{space_id}/storage", user, json={"tier": "small"})
    assert wait_visit(url, "v2 ") == "v2 1 /data/.huggingface"  # a fresh, empty volume
    assert api("DELETE", f"/api/spaces/{space_id}", user).status_code == 202
    deadline = time.monotonic() + 60
    while volumes_of(space_id) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert volumes_of(space_id) == []
