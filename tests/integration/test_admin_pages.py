"""The admin dashboard: every Space with its figures, sorting, filtering, bulk pause and restart,
users and organizations, and the health of the platform's parts — for admins only. Checked over
HTTP and in real Chromium (which saves a screenshot of the table under tests/artifacts/)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from tests.browser import Browser
from tests.helpers import WorkTree, api, base_url, create_org, create_user, output, set_password, signed_in, wait_stage

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


def test_only_admins_see_the_dashboard(fleet):
    admin, owner, busy, statics = fleet
    assert httpx.get(f"{base_url()}/admin", timeout=30).status_code == 302
    with signed_in(owner, PASSWORD) as client:
        for path in ("/admin", "/admin/users", "/admin/system"):
            refused = client.get(path)
            assert refused.status_code == 403 and "Admins only" in refused.text
        assert 'href="/admin"' not in client.get("/").text


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
    admin, owner, busy, statics = fleet
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
    admin, owner, busy, statics = fleet
    with signed_in(admin, PASSWORD) as client:
        users = client.get("/admin/users").text
        assert f'href="/?owner={owner.name}"' in users and "cli" in users  # its token's name
        assert re.search(rf'<a href="/\?owner=org[0-9a-f]+">org[0-9a-f]+</a></td>\s*<td>{owner.name} \(admin\)', users)
        system = client.get("/admin/system").text
        for part in ("Redis", "Traefik", "Docker (seen by the monitor)", "builder workers", "run workers"):
            assert re.search(rf"<td>{re.escape(part)}</td><td><span class=\"badge ok outlined\">ok</span>", system), part


def test_real_browser_shows_the_admin_table(fleet):
    admin, owner, busy, statics = fleet
    with Browser() as browser:
        page = browser.open(f"{base_url()}/admin")
        page.wait_for("document.querySelector('#password') !== null")
        page.evaluate(f"""document.querySelector('#username').value = {admin.name!r};
            document.querySelector('#password').value = {PASSWORD!r}; document.querySelector('form').submit(); true""")
        page.wait_for("document.querySelector('#admin-spaces') !== null")
        page.evaluate("document.querySelector('a[href^=\"/admin?sort=memory\"]').click(); true")
        page.wait_for("location.search.includes('sort=memory')")
        page.screenshot(ARTIFACTS / "admin-table.png")
        assert busy in page.evaluate("document.querySelector('#admin-spaces').innerText")
