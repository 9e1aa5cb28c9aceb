"""The Hub API's answers to what ``huggingface_hub`` sends: the traps the client is known to hit,
refused commits and creations, and a private Space's file downloads. Moved from
tests/integration/test_hf_hub.py (their assertions unchanged), where each one made a Gradio Space
that the platform then built and ran for nothing: here the controller's own app answers in process,
on the fast tier's Redis, with the Space's real git repository in a data directory of the test's
own. ``HfApi.space_info(...).sha`` is the ``sha`` of ``GET /api/spaces/<id>``, which it reads.
What needs the real platform stays there: the end-to-end script with two huggingface_hub
versions, uploads and git pushes sharing one repository, and listing through ``HfApi``."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from core.settings import get_settings
from tests.helpers import EXAMPLES, User, unique
from tests.unit.inproc import bearer, create_user, example_files, own_data_dir, platform_client


@pytest.fixture
def client(redis_db, tmp_path):
    with own_data_dir(tmp_path / "data"), platform_client(redis_db) as test_client:
        yield test_client


@dataclass
class Hub:
    """What ``HfApi`` calls, made through the test client."""

    client: TestClient
    user: User

    def space_info_sha(self, repo_id: str) -> str:
        info = self.client.get(f"/api/spaces/{repo_id}", headers=bearer(self.user))
        assert info.status_code == 200, info.text
        return info.json()["sha"]


def commit(client: TestClient, user, repo_id: str, *lines: dict, revision: str = "main", summary: str = "x"):
    body = "\n".join(json.dumps(line) for line in [{"key": "header", "value": {"summary": summary}}, *lines])
    return client.post(f"/api/spaces/{repo_id}/commit/{revision}", content=body,
                       headers={**user.headers, "Content-Type": "application/x-ndjson"})


def add(path: str, content: bytes = b"x") -> dict:
    return {"key": "file", "value": {"path": path, "content": base64.b64encode(content).decode(), "encoding": "base64"}}


@pytest.fixture
def hub_space(client):
    """A gradio Space made through the API, with the example uploaded: (hub, user, repo_id) — as
    ``HfApi.create_repo`` and ``upload_folder(..., commit_message="app")`` make it."""
    user = create_user()
    repo_id = f"{user.name}/{unique('hub')}"
    made = client.post("/api/repos/create", headers=bearer(user), json={"name": repo_id.split("/")[1], "type": "space", "sdk": "gradio"})
    assert made.status_code == 200, made.text
    uploaded = commit(client, user, repo_id, *(add(path, data) for path, data in example_files("hello-gradio").items()), summary="app")
    assert uploaded.status_code == 200, uploaded.text
    return Hub(client, user), user, repo_id


def test_the_traps_huggingface_hub_is_known_to_hit(hub_space):
    hub, user, repo_id = hub_space
    api = hub.client
    again = api.post("/api/repos/create", headers=bearer(user), json={"name": repo_id.split("/")[1], "type": "space", "sdk": "gradio"})
    assert again.status_code == 409 and again.json()["url"].endswith(f"/spaces/{repo_id}")
    pre = api.post(f"/api/spaces/{repo_id}/preupload/main", headers=bearer(user),
                   json={"files": [{"path": "app.py", "sample": "", "size": 1}, {"path": "new.bin", "sample": "", "size": 1}]})
    entries = {f["path"]: f for f in pre.json()["files"]}
    assert all(f["uploadMode"] == "regular" and f["shouldIgnore"] is False for f in entries.values())
    assert entries["app.py"]["oid"] and entries["new.bin"]["oid"] is None
    missing = api.get(f"/api/spaces/{user.name}/{unique('absent')}")
    assert missing.status_code == 404 and missing.headers["x-error-code"] == "RepoNotFound"
    info = api.get(f"/api/spaces/{repo_id}", headers=bearer(user)).json()
    assert isinstance(info["runtime"]["hardware"], dict)
    assert info["createdAt"].endswith("Z") and info["lastModified"].endswith("Z")
    good = api.post("/api/validate-yaml", json={"content": "---\nsdk: gradio\ncolour: red\n---\n", "repoType": "space"})
    assert good.status_code == 200 and good.json() == {"errors": [], "warnings": [{"message": "unknown README.md key 'colour' is ignored"}]}
    bad = api.post("/api/validate-yaml", json={"content": "---\nsdk: [1\n---\n", "repoType": "space"})
    assert bad.status_code == 400 and "not valid YAML on line 2" in bad.json()["errors"][0]["message"]


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
    before = hub.space_info_sha(repo_id)
    refused = commit(hub.client, user, repo_id, *lines, revision=revision)
    assert refused.status_code == 400 and message in refused.json()["error"], refused.text
    assert hub.space_info_sha(repo_id) == before


def test_commit_over_the_file_limit_is_refused(hub_space):
    hub, user, repo_id = hub_space
    before = hub.space_info_sha(repo_id)
    limit = get_settings().max_repo_files
    lines = [add(f"many/{i}.txt", b"") for i in range(limit + 1)]
    refused = commit(hub.client, user, repo_id, *lines)
    assert refused.status_code == 400 and f"the limit is {limit}" in refused.json()["error"]
    assert hub.space_info_sha(repo_id) == before


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"name": "x1", "type": "model"}, 400, "the repo type must be 'space'"),
    ({"name": "x2", "type": "space", "sdk": "flask"}, 400, "sdk must be one of gradio, streamlit, docker, static"),
    ({"name": "Bad_Name", "type": "space", "sdk": "gradio"}, 400, "invalid Space name 'Bad_Name'"),
    ({"name": "x3", "type": "space", "sdk": "gradio", "hardware": "a100-large"}, 400, "hardware must be one of"),
    ({"name": "x4", "type": "space", "sdk": "gradio", "secrets": [{"key": "bad-key", "value": "v"}]}, 400, "invalid secret name"),
    ({"name": "x5", "type": "space", "sdk": "gradio", "organization": "someone-else"}, 403, "may not change Spaces of 'someone-else'"),
])
def test_bad_create_requests_are_refused_and_create_nothing(client, body, status, message):
    user = create_user()
    refused = client.post("/api/repos/create", headers=bearer(user), json=body)
    assert refused.status_code == status and message in refused.json()["error"], refused.text
    owner = body.get("organization", user.name)
    assert client.get(f"/api/spaces/{owner}/{body['name']}", headers=bearer(user)).status_code in (400, 404)


def test_download_of_a_private_space_file_needs_access(hub_space):
    hub, user, repo_id = hub_space
    api = hub.client
    assert api.put(f"/api/spaces/{repo_id}/settings", headers=bearer(user), json={"private": True}).status_code == 200  # update_repo_settings
    url = f"/spaces/{repo_id}/resolve/main/app.py"
    assert api.get(url).status_code == 404
    got = api.get(url, headers=user.headers)
    assert got.status_code == 200 and got.headers["x-repo-commit"] == hub.space_info_sha(repo_id)
    assert got.text == (EXAMPLES / "hello-gradio" / "app.py").read_text()
    absent = api.get(f"/spaces/{repo_id}/resolve/main/nope.py", headers=user.headers)
    assert absent.status_code == 404 and absent.headers["x-error-code"] == "EntryNotFound"
