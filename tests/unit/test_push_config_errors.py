"""Pushes whose build stops at the Space's configuration (README.md front matter, the app file, the
Dockerfile's presence): the stage and reason the Space shows, and what ``git push`` prints.

Moved from tests/integration/test_push_errors.py and test_build_errors.py (their assertions
unchanged): these builds end before anything is built, so the real ``post-receive`` hook and the
real build job run here, in process, on the fast tier's Redis and a repository of the test's own
(tests/unit/inproc.py ``push``); the runtime is the controller's answer to an anonymous visitor.
Pushes that reach Docker, pip or apt, and the real git transport, stay in tests/integration."""

from __future__ import annotations

import pytest

from tests.unit.inproc import example_files, own_data_dir, platform_client
from tests.unit.inproc import push as push_in_process


@pytest.fixture
def client(redis_db, tmp_path):
    with own_data_dir(tmp_path / "data"), platform_client(redis_db) as test_client:
        yield test_client


@pytest.fixture
def runtime(client):
    """``runtime(space_id)``: the Space's runtime as the API shows it to anyone."""

    def get(space_id: str) -> dict:
        response = client.get(f"/api/spaces/{space_id}/runtime")
        response.raise_for_status()
        return response.json()

    return get


@pytest.fixture
def push_broken(redis_db, client, capsys):
    """As tests/integration/test_push_errors.py's: examples/hello-gradio with ``files`` written over
    it and ``remove`` deleted, pushed as ``alice/<name>``; returns (space_id, push output)."""

    def push(name: str, files: dict[str, str], remove: tuple[str, ...] = ()) -> tuple[str, str]:
        tree = {path: data for path, data in example_files("hello-gradio").items() if path not in remove}
        space_id = f"alice/{name}"
        return space_id, push_in_process(redis_db, space_id, {**tree, **files}, capsys)

    return push


@pytest.fixture
def push_files(redis_db, client, capsys):
    """As tests/integration/test_build_errors.py's: ``files`` alone (or over an example), pushed as ``alice/<name>``."""

    def push(name: str, files: dict[str, str], example: str | None = None) -> tuple[str, str]:
        space_id = f"alice/{name}"
        return space_id, push_in_process(redis_db, space_id, {**example_files(example), **files}, capsys)

    return push


# ---------------------------------------------------------------- from tests/integration/test_push_errors.py


def test_readme_without_front_matter_is_a_config_error(push_broken, runtime):
    space_id, text = push_broken("nofm", {"README.md": "# Just a title\n"})
    assert "error: CONFIG_ERROR" in text
    assert "README.md has no YAML front matter" in text
    rt = runtime(space_id)
    assert rt["stage"] == "CONFIG_ERROR" and "front matter" in rt["errorMessage"]


def test_invalid_yaml_names_the_line(push_broken, runtime):
    readme = "---\ntitle: Broken\nsdk: gradio\napp_file: [app.py\n---\n"
    space_id, text = push_broken("badyaml", {"README.md": readme})
    assert "error: CONFIG_ERROR" in text
    rt = runtime(space_id)
    assert rt["stage"] == "CONFIG_ERROR"
    assert "not valid YAML on line" in rt["errorMessage"]


def test_invalid_value_names_key_and_allowed_values(push_broken, runtime):
    readme = "---\ntitle: Bad SDK\nsdk: flask\n---\n"
    space_id, text = push_broken("badsdk", {"README.md": readme})
    rt = runtime(space_id)
    assert rt["stage"] == "CONFIG_ERROR"
    assert "'sdk' is 'flask'" in rt["errorMessage"] and "gradio" in rt["errorMessage"]
    assert "'sdk' is 'flask'" in text


def test_missing_app_file_is_no_app_file(push_broken, runtime):
    space_id, text = push_broken("noapp", {}, remove=("app.py",))
    assert "error: NO_APP_FILE" in text
    rt = runtime(space_id)
    assert rt["stage"] == "NO_APP_FILE" and "app file 'app.py' not found" in rt["errorMessage"]


# ---------------------------------------------------------------- from tests/integration/test_build_errors.py


def test_docker_space_without_dockerfile_is_no_app_file(push_files, runtime):
    space_id, _run = push_files("nodockerfile", {"README.md": "---\nsdk: docker\n---\n"})
    rt = runtime(space_id)
    assert rt["stage"] == "NO_APP_FILE" and "Dockerfile" in rt["errorMessage"]


def test_unoffered_python_version_lists_the_offered_ones(push_files, runtime):
    readme = '---\nsdk: gradio\npython_version: "3.9"\n---\n'
    space_id, _run = push_files("py39", {"README.md": readme}, example="hello-gradio")
    rt = runtime(space_id)
    assert rt["stage"] == "CONFIG_ERROR"
    assert "'python_version' is '3.9': allowed values: 3.11" in rt["errorMessage"]


def test_preload_from_hub_says_it_is_unavailable(push_files, runtime):
    readme = "---\nsdk: gradio\npreload_from_hub:\n  - openai-community/gpt2\n---\n"
    space_id, _run = push_files("preload", {"README.md": readme}, example="hello-gradio")
    rt = runtime(space_id)
    assert rt["stage"] == "CONFIG_ERROR"
    assert "'preload_from_hub' is not available" in rt["errorMessage"]


def test_wrong_types_and_ranges_name_the_key(push_files, runtime):
    readme = "---\nsdk: gradio\napp_port: 99999\ntags: just-one-tag\n---\n"
    space_id, _run = push_files("types", {"README.md": readme}, example="hello-gradio")
    message = runtime(space_id)["errorMessage"]
    assert "'app_port' is 99999" in message and "'tags' is 'just-one-tag'" in message


def test_app_file_outside_the_repo_is_refused(push_files, runtime):
    readme = "---\nsdk: gradio\napp_file: ../../etc/passwd\n---\n"
    space_id, _run = push_files("escape", {"README.md": readme}, example="hello-gradio")
    rt = runtime(space_id)
    assert rt["stage"] == "CONFIG_ERROR" and "must be a relative path inside the repository" in rt["errorMessage"]
