"""The admin dashboard: every Space with its figures, sorting, filtering, bulk pause and restart,
users and organizations, and the health of the platform's parts. Checked over HTTP and in real
Chromium (which saves a screenshot of the table under tests/artifacts/). Who may see the pages and
what the user and organization forms do are checked in process in the fast tier
(tests/unit/test_account_admin.py)."""

from __future__ import annotations

import io
import json
import re
import tarfile
import time
from pathlib import Path

import docker
import httpx
import pytest

from tests.browser import Browser
from tests.helpers import WorkTree, api, base_url, create_org, create_user, output, set_password, signed_in, space_url, unique, wait_stage

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
PASSWORD = "admin pages password"


@pytest.fixture(scope="module")
def fleet(platform, tmp_path_factory):
    """An admin, and a user with a running Gradio Space and two static ones: (admin, owner, gradio id, static ids)."""
    admin, owner = create_user(admin=True), create_user()
    set_password(admin, PASSWORD)
    set_password(owner, PASSWORD)
    create_org(owner)
    base = tmp_path_factory.mktemp("fleet")
    tree = WorkTree(base / "gradio")
    tree.commit("gradio")
    assert tree.push(owner.name, "busy", owner).returncode == 0
    statics = []
    for name in ("calm-a", "calm-b"):
        site = WorkTree(base / name, example=None)
        site.write("README.md", "---\nsdk: static\n---\n")
        site.write("index.html", name)
        site.commit(name)
        run = site.push(owner.name, name, owner)
        assert run.returncode == 0, output(run)
        statics.append(f"{owner.name}/{name}")
    yield admin, owner, f"{owner.name}/busy", statics
    for space_id in [f"{owner.name}/busy", *statics]:
        api("DELETE", f"/api/spaces/{space_id}", owner)


def row(html: str, space_id: str) -> str:
    found = re.search(rf'<tr data-space="{re.escape(space_id)}">(.*?)</tr>', html, re.S)
    assert found, f"{space_id} is not in the table"
    return found.group(1)


def test_spaces_table_has_the_figures_sorts_and_filters(fleet):
    admin, owner, busy, statics = fleet
    with signed_in(admin, PASSWORD) as client:
        deadline = time.monotonic() + 30  # the monitor samples every 5 s
        while "MiB" not in row(client.get("/admin").text, busy).split("</td>")[6] and time.monotonic() < deadline:
            time.sleep(1)
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in row(client.get("/admin").text, busy).split("</td>")[:-1]]
        assert cells[2:5] == [owner.name, "gradio", "RUNNING"], cells
        assert cells[6].endswith("MiB") and int(cells[6].split()[0]) > 20, cells  # memory now
        assert cells[9].endswith("MiB") and int(cells[9].split()[0]) > 100, cells  # the image
        assert re.match(r"^\d+(\.\d)? (s|min|h|d)$", cells[5]), cells  # uptime
        by_memory = re.findall(r'<tr data-space="([^"]+)">', client.get("/admin", params={"sort": "memory", "q": owner.name}).text)
        assert by_memory[0] == busy and set(by_memory) == {busy, *statics}
        only = re.findall(r'<tr data-space="([^"]+)">', client.get("/admin", params={"q": statics[0]}).text)
        assert only == [statics[0]]


def test_bulk_pause_and_restart(fleet):
    admin, _owner, _busy, statics = fleet
    with signed_in(admin, PASSWORD) as client:
        page = client.get("/admin")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        forged = client.post("/admin/bulk", data={"csrf": "forged", "action": "pause", "space": statics}, headers={"Origin": base_url()})
        assert forged.status_code == 403
        done = client.post("/admin/bulk", data={"csrf": csrf, "action": "pause", "space": statics},
                           headers={"Origin": base_url()}, follow_redirects=True)
        assert done.status_code == 200 and f"{statics[0]}: pause queued" in done.text
        for space_id in statics:
            wait_stage(space_id, {"PAUSED"}, timeout=60)
        client.post("/admin/bulk", data={"csrf": csrf, "action": "restart", "space": statics}, headers={"Origin": base_url()})
        for space_id in statics:
            wait_stage(space_id, {"RUNNING"}, timeout=120)


def test_users_and_system_pages(fleet):
    admin, owner, _busy, _statics = fleet
    with signed_in(admin, PASSWORD) as client:
        users = client.get("/admin/users").text
        assert f'href="/?owner={owner.name}"' in users and "cli" in users  # its token's name
        assert re.search(rf'<a href="/\?owner=org[0-9a-f]+">org[0-9a-f]+</a></td>\s*<td>{owner.name} \(admin\)', users)
        system = client.get("/admin/system").text
        for part in ("Redis", "Traefik", "Docker (seen by the monitor)", "builder workers", "run workers"):
            assert re.search(rf"<td>{re.escape(part)}</td><td><span class=\"badge ok outlined\">ok</span>", system), part


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def load_image(client, tag: str, created: str) -> None:
    """An empty image named ``tag`` that Docker believes was made at ``created`` (``docker load``
    keeps an image's own creation time; ``docker build`` would stamp it now)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "created": created, "config": {"Labels": {"test": tag}},
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    manifest = json.dumps([{"Config": "config.json", "RepoTags": [tag], "Layers": []}]).encode()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for name, data in (("config.json", config), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    client.images.load(archive.getvalue())


def test_system_page_shows_the_disk_and_cleans_up(fleet):
    admin, _owner, busy, _statics = fleet
    client_docker = docker.from_env()
    leftover = f"spaces-app/{unique('gone')}-space:0123456789ab"  # the image of a Space deleted long ago
    load_image(client_docker, leftover, "2020-01-01T00:00:00Z")
    fresh = f"spaces-app/{unique('new')}-space:0123456789ab"  # just built: a deploy may be about to start it
    client_docker.images.build(fileobj=io.BytesIO(f"FROM scratch\nLABEL test={fresh}\n".encode()), tag=fresh, rm=True)
    shared = "spaces-static-server:1"  # the static Spaces' server: in use, tagged like the platform's own images
    (container,) = client_docker.containers.list(filters={"label": f"org.spaces.space={busy}"}, ignore_removed=True)
    serving = container.image.id
    with signed_in(admin, PASSWORD) as client:
        deadline = time.monotonic() + 90  # the monitor measures once a minute
        while 'data-disk="images"' not in (system := client.get("/admin/system").text) and time.monotonic() < deadline:
            time.sleep(2)
        images = re.search(r'<tr data-disk="images"><td>Docker images</td><td>([\d.]+) (MiB|GiB)</td>', system)
        assert images and float(images.group(1)) > 0, system
        assert 'data-disk="wheel cache"' in system and 'data-disk="repositories"' in system
        forged = client.post("/admin/system/clean-up", data={"csrf": "forged"}, headers={"Origin": base_url()})
        assert forged.status_code == 403 and client_docker.images.list(name=leftover.split(":")[0])
        done = client.post("/admin/system/clean-up", data={"csrf": csrf_of(system)}, headers={"Origin": base_url()},
                           follow_redirects=True)
        assert "Clean-up queued" in done.text
        deadline = time.monotonic() + 120
        while leftover not in (system := client.get("/admin/system").text) and time.monotonic() < deadline:
            time.sleep(1)
        assert re.search(r'id="cleanup-result".*?removed \d+ image tag\(s\)', system, re.S) and leftover in system, system
    assert client_docker.images.list(name=leftover.split(":")[0]) == []
    client_docker.images.get(shared)  # in use: stays
    client_docker.images.remove(client_docker.images.get(fresh).id)  # young: stayed
    client_docker.images.get(serving)  # the serving build's image stayed
    assert httpx.get(space_url(api("GET", f"/api/spaces/{busy}").json()["subdomain"]), timeout=30).status_code == 200


def test_real_browser_shows_the_admin_table(fleet):
    admin, _owner, busy, _statics = fleet
    with Browser() as browser:
        page = browser.open(f"{base_url()}/admin")
        page.sign_in(admin.name, PASSWORD)
        page.wait_for("document.querySelector('#admin-spaces') !== null")
        page.evaluate("document.querySelector('a[href^=\"/admin?sort=memory\"]').click(); true")
        page.wait_for("location.search.includes('sort=memory')")
        page.screenshot(ARTIFACTS / "admin-table.png")
        assert busy in page.evaluate("document.querySelector('#admin-spaces').innerText")
        assert page.layout_problems() == [], page.layout_problems()
        # At phone width the wide table scrolls inside its box; the page itself does not.
        page.set_viewport(390, 844, mobile=True)
        for path in ("/admin", "/admin/users", "/admin/system"):
            page.goto(base_url() + path)
            assert page.layout_problems() == [], (path, page.layout_problems())
        page.goto(base_url() + "/admin")
        page.screenshot(ARTIFACTS / "admin-phone.png", 390, 844, mobile=True)
        page.goto(base_url() + "/admin/system")
        page.screenshot(ARTIFACTS / "admin-system.png")
