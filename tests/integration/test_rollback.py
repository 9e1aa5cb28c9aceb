"""Rolling back to an earlier build: through the API and with one click on the Builds tab. The
roll-back is a new commit with the old files (history kept), built and served like a push."""

from __future__ import annotations

import re

import httpx

from tests.helpers import WorkTree, api, base_url, create_user, eventually, output, set_password, signed_in, space_url, wait_stage

PASSWORD = "a password to roll back"


def static_space(tmp_path, owner, versions: list[str]) -> tuple[str, str, WorkTree]:
    tree = WorkTree(tmp_path / "repo", example=None)
    tree.write("README.md", "---\nsdk: static\n---\n")
    for text in versions:
        tree.write("index.html", text)
        tree.commit(text)
        run = tree.push(owner.name, "rolled", owner)
        assert run.returncode == 0, output(run)
    space_id = f"{owner.name}/rolled"
    return space_id, space_url(api("GET", f"/api/spaces/{space_id}").json()["subdomain"]), tree


def serves(url: str, text: str, timeout: float = 60) -> bool:
    return eventually(lambda: httpx.get(url, timeout=30).text == text, timeout, every=0.3)


def test_rollback_through_the_api(platform, tmp_path):
    owner = create_user()
    space_id, url, tree = static_space(tmp_path, owner, ["v1", "v2"])
    first, _second = reversed(api("GET", f"/api/spaces/{space_id}/builds").json()[:2])
    assert httpx.get(url, timeout=30).text == "v2"
    rolled = api("POST", f"/api/spaces/{space_id}/rollback", owner, json={"build": first["id"]})
    assert rolled.status_code == 200, rolled.text
    assert serves(url, "v1")
    wait_stage(space_id, {"RUNNING"})
    assert api("GET", f"/api/spaces/{space_id}", owner).json()["sha"] == rolled.json()["commit"]
    tree.git("pull", "-q", f"http://{owner.name}:{owner.token}@{httpx.URL(base_url()).host}:{httpx.URL(base_url()).port}/spaces/{space_id}", "main")
    assert (tree.path / "index.html").read_text() == "v1"
    assert tree.git("log", "-1", "--format=%s").stdout.strip() == f"Roll back to build #{first['id']} (commit {first['commit'][:12]})"
    missing = api("POST", f"/api/spaces/{space_id}/rollback", owner, json={"build": "999999"})
    assert missing.status_code == 404 and "has no build '999999'" in missing.json()["error"]
    other = api("POST", f"/api/spaces/{space_id}/rollback", create_user(), json={"build": first["id"]})
    assert other.status_code == 403
    assert httpx.get(url, timeout=30).text == "v1"
    api("DELETE", f"/api/spaces/{space_id}", owner)


def test_rollback_with_one_click_on_the_builds_tab(platform, tmp_path):
    owner = create_user()
    set_password(owner, PASSWORD)
    space_id, url, _ = static_space(tmp_path, owner, ["first page", "second page"])
    first = api("GET", f"/api/spaces/{space_id}/builds").json()[1]
    with signed_in(owner, PASSWORD) as browser:
        tab = browser.get(f"/spaces/{space_id}/builds").text
        assert f'id="rollback-{first["id"]}"' in tab
        csrf = re.search(r'name="csrf" value="([^"]+)"', tab).group(1)
        done = browser.post(f"/spaces/{space_id}/settings/rollback", data={"csrf": csrf, "build": first["id"]},
                            headers={"Origin": base_url()}, follow_redirects=True)
        assert done.status_code == 200 and f"Rolling back to build #{first['id']}" in done.text
    assert serves(url, "first page")
    assert f'id="rollback-{first["id"]}"' not in httpx.get(f"{base_url()}/spaces/{space_id}/builds", timeout=30).text
    api("DELETE", f"/api/spaces/{space_id}", owner)


def test_files_tab_browses_any_commit(platform, tmp_path):
    owner = create_user()
    space_id, _url, tree = static_space(tmp_path, owner, ["<b>v1</b>", "<b>v2</b>"])
    first = tree.git("rev-list", "--max-parents=0", "HEAD").stdout.strip()
    listing = httpx.get(f"{base_url()}/spaces/{space_id}/files", timeout=30).text
    assert "README.md" in listing and "index.html" in listing and first[:12] in listing  # the commit picker
    latest = httpx.get(f"{base_url()}/spaces/{space_id}/files", params={"path": "index.html"}, timeout=30).text
    assert "&lt;b&gt;v2&lt;/b&gt;" in latest  # shown as text, escaped
    old = httpx.get(f"{base_url()}/spaces/{space_id}/files", params={"rev": first, "path": "index.html"}, timeout=30).text
    assert "&lt;b&gt;v1&lt;/b&gt;" in old
    missing = httpx.get(f"{base_url()}/spaces/{space_id}/files", params={"path": "nope.txt"}, timeout=30)
    assert missing.status_code == 404 and "has no file &#39;nope.txt&#39;" in missing.text
    assert "Nothing here yet" in httpx.get(f"{base_url()}/spaces/{space_id}/files", params={"rev": "no-such-rev"}, timeout=30).text
    api("DELETE", f"/api/spaces/{space_id}", owner)
