"""Unmodified ``huggingface_hub`` against the platform: the end-to-end script (tests/hub_e2e.py)
with the newest 2.x (the project's venv) and the newest 0.36.x (a venv of its own, made once in the
data directory's cache), uploads and git pushes sharing one repository, and listing page by page.
The traps the client is known to hit and the refusals of bad input are answered by the controller
alone: they run in process in the fast tier (tests/unit/test_hub_api.py)."""

from __future__ import annotations

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
