"""Unmodified ``huggingface_hub`` against the platform: the end-to-end script (tests/hub_e2e.py)
with the newest 2.x (the project's venv) and the newest 0.36.x (a venv of its own, made once in the
data directory's cache), plus the traps the client is known to hit and the refusals of bad input."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import httpx
import pytest
from huggingface_hub import HfApi

from core.settings import get_settings
from tests.helpers import EXAMPLES, ROOT, WorkTree, api, base_url, create_user, unique, wait_stage

OLD_HUB = "0.36.2"


def old_hub_python() -> str:
    """A venv with huggingface_hub 0.36.x and a gradio_client that goes with it (made once)."""
    venv = get_settings().data_dir / "cache" / f"venv-hub-{OLD_HUB}"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", f"huggingface_hub=={OLD_HUB}", "gradio_client<2"],
                       check=True)
    return str(python)


@pytest.mark.parametrize("python", ["newest 2.x", f"{OLD_HUB}"])
def test_end_to_end_script(platform, python):
    user = create_user()
    interpreter = sys.executable if python == "newest 2.x" else old_hub_python()
    run = subprocess.run([interpreter, str(ROOT / "tests" / "hub_e2e.py"), base_url(), user.token, user.name,
                          str(EXAMPLES / "hello-gradio")],
                         env={**os.environ, "HF_ENDPOINT": base_url(), "HF_HUB_DISABLE_TELEMETRY": "1"},
                         capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == 0 and "all steps passed" in run.stdout, run.stdout + run.stderr
    if python != "newest 2.x":
        assert f"huggingface_hub {OLD_HUB}" in run.stdout


@pytest.fixture
def hub_space(platform, tmp_path):
    """A gradio Space made through the API, with the example uploaded: (api, user, repo_id)."""
    user = create_user()
    hub = HfApi(endpoint=base_url(), token=user.token)
    repo_id = f"{user.name}/{unique('hub')}"
    hub.create_repo(repo_id, repo_type="space", space_sdk="gradio")
    hub.upload_folder(repo_id=repo_id, repo_type="space", folder_path=str(EXAMPLES / "hello-gradio"), commit_message="app")
    yield hub, user, repo_id
    api("DELETE", f"/api/spaces/{repo_id}", user)


def test_uploads_and_git_pushes_share_one_repository(hub_space, tmp_path):
    hub, user, repo_id = hub_space
    s = get_settings()
    remote = f"http://{user.name}:{user.token}@{s.domain}:{s.http_port}/spaces/{repo_id}"
    tree = WorkTree(tmp_path / "clone", example=None)
    tree.git("pull", "-q", remote, "main")
    assert (tree.path / "app.py").read_text() == (EXAMPLES / "hello-gradio" / "app.py").read_text()
    assert tree.git("log", "-1", "--format=%s%n%an").stdout.split("\n")[:2] == ["app", user.name]
    tree.write("extra.txt", "pushed with git\n")
    tree.commit("git push after an upload")
    assert tree.push(*repo_id.split("/"), user, "-o", "nowait").returncode == 0
    info = hub.space_info(repo_id)
    assert "extra.txt" in {s.rfilename for s in info.siblings}
    assert info.sha == tree.git("rev-parse", "HEAD").stdout.strip()
    wait_stage(repo_id, {"RUNNING"}, timeout=180)


def test_the_traps_huggingface_hub_is_known_to_hit(hub_space):
    _hub, user, repo_id = hub_space
    again = api("POST", "/api/repos/create", user, json={"name": repo_id.split("/")[1], "type": "space", "sdk": "gradio"})
    assert again.status_code == 409 and again.json()["url"].endswith(f"/spaces/{repo_id}")
    pre = api("POST", f"/api/spaces/{repo_id}/preupload/main", user,
              json={"files": [{"path": "app.py", "sample": "", "size": 1}, {"path": "new.bin", "sample": "", "size": 1}]})
    entries = {f["path"]: f for f in pre.json()["files"]}
    assert all(f["uploadMode"] == "regular" and f["shouldIgnore"] is False for f in entries.values())
    assert entries["app.py"]["oid"] and entries["new.bin"]["oid"] is None
    missing = api("GET", f"/api/spaces/{user.name}/{unique('absent')}")
    assert missing.status_code == 404 and missing.headers["x-error-code"] == "RepoNotFound"
    info = api("GET", f"/api/spaces/{repo_id}", user).json()
    assert isinstance(info["runtime"]["hardware"], dict)
    assert info["createdAt"].endswith("Z") and info["lastModified"].endswith("Z")
    good = api("POST", "/api/validate-yaml", None, json={"content": "---\nsdk: gradio\ncolour: red\n---\n", "repoType": "space"})
    assert good.status_code == 200 and good.json() == {"errors": [], "warnings": [{"message": "unknown README.md key 'colour' is ignored"}]}
    bad = api("POST", "/api/validate-yaml", None, json={"content": "---\nsdk: [1\n---\n", "repoType": "space"})
    assert bad.status_code == 400 and "not valid YAML on line 2" in bad.json()["errors"][0]["message"]


def commit(user, repo_id: str, *lines: dict, revision: str = "main") -> httpx.Response:
    body = "\n".join(json.dumps(line) for line in [{"key": "header", "value": {"summary": "x"}}, *lines])
    return httpx.post(f"{base_url()}/api/spaces/{repo_id}/commit/{revision}", content=body, timeout=60,
                      headers={**user.headers, "Content-Type": "application/x-ndjson"})


def add(path: str, content: bytes = b"x") -> dict:
    return {"key": "file", "value": {"path": path, "content": base64.b64encode(content).decode(), "encoding": "base64"}}


@pytest.mark.parametrize(("lines", "revision", "message"), [
    ([add("../escape.txt")], "main", "invalid file path '../escape.txt'"),
    ([add(".git/config")], "main", "invalid file path '.git/config'"),
    ([add("/etc/passwd")], "main", "invalid file path '/etc/passwd'"),
    ([{"key": "lfsFile", "value": {"path": "big.bin", "algo": "sha256", "oid": "0" * 64}}], "main", "LFS uploads are not accepted"),
    ([{"key": "file", "value": {"path": "a.txt", "content": "%%%", "encoding": "base64"}}], "main", "not valid base64"),
    ([{"key": "rename", "value": {}}], "main", "unknown commit entry 'rename'"),
    ([add("a.txt")], "dev", "commits go to 'main'"),
])
def test_bad_commits_are_refused_and_store_nothing(hub_space, lines, revision, message):
    hub, user, repo_id = hub_space
    before = hub.space_info(repo_id).sha
    refused = commit(user, repo_id, *lines, revision=revision)
    assert refused.status_code == 400 and message in refused.json()["error"], refused.text
    assert hub.space_info(repo_id).sha == before


def test_commit_over_the_file_limit_is_refused(hub_space):
    hub, user, repo_id = hub_space
    before = hub.space_info(repo_id).sha
    limit = get_settings().max_repo_files
    lines = [add(f"many/{i}.txt", b"") for i in range(limit + 1)]
    refused = commit(user, repo_id, *lines)
    assert refused.status_code == 400 and f"the limit is {limit}" in refused.json()["error"]
    assert hub.space_info(repo_id).sha == before


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"name": "x1", "type": "model"}, 400, "the repo type must be 'space'"),
    ({"name": "x2", "type": "space", "sdk": "flask"}, 400, "sdk must be one of gradio, streamlit, docker, static"),
    ({"name": "Bad_Name", "type": "space", "sdk": "gradio"}, 400, "invalid Space name 'Bad_Name'"),
    ({"name": "x3", "type": "space", "sdk": "gradio", "hardware": "a100-large"}, 400, "hardware must be one of"),
    ({"name": "x4", "type": "space", "sdk": "gradio", "secrets": [{"key": "bad-key", "value": "v"}]}, 400, "invalid secret name"),
    ({"name": "x5", "type": "space", "sdk": "gradio", "organization": "someone-else"}, 403, "may not change Spaces of 'someone-else'"),
])
def test_bad_create_requests_are_refused_and_create_nothing(platform, body, status, message):
    user = create_user()
    refused = api("POST", "/api/repos/create", user, json=body)
    assert refused.status_code == status and message in refused.json()["error"], refused.text
    owner = body.get("organization", user.name)
    assert api("GET", f"/api/spaces/{owner}/{body['name']}", user).status_code in (400, 404)


def test_download_of_a_private_space_file_needs_access(hub_space):
    hub, user, repo_id = hub_space
    hub.update_repo_settings(repo_id, private=True, repo_type="space")
    url = f"{base_url()}/spaces/{repo_id}/resolve/main/app.py"
    assert httpx.get(url, timeout=30).status_code == 404
    got = httpx.get(url, headers=user.headers, timeout=30)
    assert got.status_code == 200 and got.headers["x-repo-commit"] == hub.space_info(repo_id).sha
    assert got.text == (EXAMPLES / "hello-gradio" / "app.py").read_text()
    absent = httpx.get(f"{base_url()}/spaces/{repo_id}/resolve/main/nope.py", headers=user.headers, timeout=30)
    assert absent.status_code == 404 and absent.headers["x-error-code"] == "EntryNotFound"


def test_list_spaces_pages_by_link_header(platform):
    user = create_user()
    made = [f"{user.name}/{unique('page')}" for _ in range(3)]
    for space_id in made:
        _owner, name = space_id.split("/")
        assert api("POST", "/api/repos/create", user, json={"name": name, "type": "space", "sdk": "static"}).status_code == 200
    seen, url = [], f"{base_url()}/api/spaces?author={user.name}&limit=1"
    while url:
        page = httpx.get(url, timeout=30)
        seen += [s["id"] for s in page.json()]
        url = page.links.get("next", {}).get("url")
    assert seen == list(reversed(made))  # newest first, one per page
    assert [s.id for s in HfApi(endpoint=base_url()).list_spaces(author=user.name)] == seen
