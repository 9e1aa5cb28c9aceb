"""Per-Space Docker names are one-to-one (issue 11).

Owner and name used to be joined with ``--``: user ``ab`` + Space ``x--vol`` and user ``ab--x`` +
Space ``vol`` shared one ``/data`` volume and one image repository, so one read the other's
private data, and deleting one went after the other's images. Here that pair (with a random
prefix) gets distinct images and /data file systems, one's /data marker never reaches the other, a
Docker volume of the old name is moved into the file system of the Space its label names (so data
made before the change is kept), and deleting one leaves the other serving with its images and data.
"""

from __future__ import annotations

import time
import uuid

import docker
import httpx
import pytest

from builder.base_images import root_image
from core.settings import get_settings
from tests.helpers import WorkTree, api, create_user, data_file_systems, eventually, output, settled_container, space_url, unique, wait_stage

# Answers /data/marker's text ("empty" if none, "no /data" without storage); /put/<text> writes it.
APP = '''
import http.server, os


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        path = "/data/marker"
        if not os.path.isdir("/data"):
            body = "no /data"
        elif self.path.startswith("/put/"):
            open(path, "w").write(self.path[len("/put/"):])
            body = "ok"
        else:
            body = open(path).read() if os.path.exists(path) else "empty"
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


http.server.ThreadingHTTPServer(("0.0.0.0", 7860), Handler).serve_forever()
'''

SPACE_LABEL = "org.spaces.space"


def push_app(user, name: str, tmp_path) -> tuple[str, str]:
    tree = WorkTree(tmp_path / name)
    tree.write("app.py", APP)
    tree.commit("data app")
    run = tree.push(user.name, name, user)
    assert "Your Space is running" in output(run), output(run)
    space_id = f"{user.name}/{name}"
    return space_id, space_url(api("GET", f"/api/spaces/{space_id}").json()["subdomain"])


def wait_answer(url: str, wanted: str | None = None, *, not_this: str | None = None, timeout: float = 120) -> str:
    """What ``url`` answers once it is ``wanted`` (or anything but ``not_this``)."""
    deadline, last = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        try:
            last = httpx.get(url, timeout=10).text
        except httpx.HTTPError:
            last = ""
        if (wanted is not None and last == wanted) or (not_this is not None and last and last != not_this):
            return last
        time.sleep(0.5)
    raise AssertionError(f"{url} answered {last!r}")


def volumes_of(space_id: str) -> list:
    return docker.from_env().volumes.list(filters={"label": f"{SPACE_LABEL}={space_id}"})


def serving_image(space_id: str) -> str:
    """The image of the Space's one serving container (the old one of a restart is waited out)."""
    container_id = settled_container(space_id)
    return docker.from_env().containers.get(container_id).attrs["Config"]["Image"]


def add_storage(space_id: str, user, url: str) -> None:
    response = api("POST", f"/api/spaces/{space_id}/storage", user, json={"tier": "small"})
    assert response.status_code == 200, response.text
    wait_answer(url, not_this="no /data")
    wait_stage(space_id, {"RUNNING"})


def legacy_volume(space_id: str, owner_label: str, marker: str) -> str:
    """A /data volume as the code before made it: ``spaces-data-owner--name``, labelled with its Space."""
    name = f"spaces-data-{space_id.replace('/', '--')}"
    client = docker.from_env()
    client.volumes.create(name, labels={"org.spaces.managed": "1", SPACE_LABEL: owner_label})
    client.containers.run(root_image(get_settings()), ["sh", "-c", f"printf %s {marker} > /data/marker && chown -R 1000:1000 /data"],
                          volumes={name: {"bind": "/data", "mode": "rw"}}, network_mode="none", remove=True)
    return name


@pytest.fixture
def pair(platform, tmp_path):
    """The colliding pair: user P + Space x--vol, user P--x + Space vol (P random)."""
    prefix = unique("n")
    a, b = create_user(prefix), create_user(f"{prefix}--x")
    made = []
    try:
        a_id, a_url = push_app(a, "x--vol", tmp_path)
        made.append((a_id, a))
        b_id, b_url = push_app(b, "vol", tmp_path)
        made.append((b_id, b))
        yield (a, a_id, a_url), (b, b_id, b_url)
    finally:
        for space_id, owner in made:
            api("DELETE", f"/api/spaces/{space_id}", owner)


def test_colliding_ids_get_their_own_images_volumes_and_data(pair):
    (a, a_id, a_url), (b, b_id, b_url) = pair
    old_shared = f"spaces-data-{a_id.replace('/', '--')}"
    assert old_shared == f"spaces-data-{b_id.replace('/', '--')}"  # the pair the old names could not tell apart

    # A's volume from before the change (labelled A's by the old code) holds A's data.
    legacy_marker = f"legacy-{uuid.uuid4().hex}"
    legacy_volume(a_id, a_id, legacy_marker)
    # As the code before left it: a container of A still running on that volume (it is stopped for
    # the copy, so nothing is written to the volume while it is copied, and removed with the volume).
    writer = docker.from_env().containers.run(root_image(get_settings()), ["sleep", "600"], detach=True, network_mode="none",
                                              volumes={old_shared: {"bind": "/data", "mode": "rw"}})
    try:
        add_storage(a_id, a, a_url)
        assert httpx.get(a_url, timeout=10).text == legacy_marker  # A keeps its data made before the change
        with pytest.raises(docker.errors.NotFound):
            writer.reload()
        add_storage(b_id, b, b_url)
        assert httpx.get(b_url, timeout=10).text == "empty"  # B does not get A's old volume

        marker = f"marker-{uuid.uuid4().hex}"
        assert httpx.get(f"{a_url}put/{marker}", timeout=10).text == "ok"
        assert httpx.get(a_url, timeout=10).text == marker
        assert httpx.get(b_url, timeout=10).text == "empty"

        # Each has a /data file system of its own; A's old volume was moved into A's and removed.
        (a_fs,), (b_fs,) = data_file_systems(a_id), data_file_systems(b_id)
        assert a_fs != b_fs and volumes_of(a_id) == [] and volumes_of(b_id) == []
        a_image, b_image = serving_image(a_id), serving_image(b_id)
        assert a_image.rsplit(":", 1)[0] != b_image.rsplit(":", 1)[0], (a_image, b_image)

        # An image of B under the old shared repository name: deleting A must not touch it.
        client = docker.from_env()
        b_legacy_tag = f"spaces-app/{a_id.replace('/', '--')}:0123456789ab"
        client.images.get(b_image).tag(b_legacy_tag)

        assert api("DELETE", f"/api/spaces/{a_id}", a).status_code == 202
        assert eventually(lambda: api("GET", f"/api/spaces/{a_id}").status_code == 404, 120, every=0.5)
        assert eventually(lambda: data_file_systems(a_id) == [], 60, every=0.5), "A's /data outlived A"
        assert data_file_systems(b_id) == [b_fs]
        client.images.get(b_image)  # raises if gone
        client.images.get(b_legacy_tag)
        assert httpx.get(b_url, timeout=10).text == "empty"
        assert wait_stage(b_id, {"RUNNING"})["stage"] == "RUNNING"
        assert not client.images.list(name=a_image.rsplit(":", 1)[0]), "A's images outlived A"
    finally:
        cleanup = docker.from_env()
        for remove in (lambda: writer.remove(force=True), lambda: cleanup.volumes.get(old_shared).remove(force=True),
                       lambda: cleanup.images.remove(f"spaces-app/{a_id.replace('/', '--')}:0123456789ab")):
            try:
                remove()
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:  # e.g. still in use after an earlier failure: never mask it
                print(f"cleanup: {exc}")
