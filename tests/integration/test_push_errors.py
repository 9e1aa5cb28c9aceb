"""Bad pushes: each gets a clear message in the push output (and in the Space's stage) and breaks nothing else."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import api, output, runtime, space_url, wait_stage


def assert_space_absent(space_id: str) -> None:
    assert api("GET", f"/api/spaces/{space_id}").status_code == 404


def test_push_without_token_is_refused(user, worktree):
    worktree.commit()
    run = worktree.push(user.name, "anon", None)
    assert run.returncode != 0
    probe = httpx.get(f"http://spaces.localhost:8080/spaces/{user.name}/anon/info/refs?service=git-receive-pack")
    assert probe.status_code == 401
    assert probe.headers["www-authenticate"].startswith("Basic")
    assert "pushing needs an access token" in probe.text
    assert_space_absent(f"{user.name}/anon")


def test_push_with_wrong_token_is_refused(user, worktree):
    worktree.commit()
    user.token = "spc_not-a-real-token"
    run = worktree.push(user.name, "wrong", user)
    assert run.returncode != 0
    assert "remote: invalid or revoked access token" in output(run)
    assert "Authentication failed" in output(run)
    assert_space_absent(f"{user.name}/wrong")


def test_push_into_another_users_namespace_is_forbidden(user, other_user, worktree):
    worktree.commit()
    run = worktree.push(other_user.name, "mine", user)
    assert run.returncode != 0
    assert f"remote: {user.name} may not push to Spaces of '{other_user.name}'" in output(run)
    assert "403" in output(run)
    assert_space_absent(f"{other_user.name}/mine")


@pytest.mark.parametrize("bad", ["Bad_Name", "-leading", "has.dot", "x" * 64])
def test_push_with_invalid_name_names_the_rule(user, worktree, bad):
    worktree.commit()
    run = worktree.push(user.name, bad, user)
    assert run.returncode != 0
    text = output(run)
    assert f"invalid Space name '{bad}'" in text
    assert "lowercase letters a-z, digits 0-9 and '-'" in text


def push_broken(user, worktree, track, name: str, files: dict[str, str], remove: tuple[str, ...] = ()):
    for path in remove:
        (worktree.path / path).unlink()
    for path, content in files.items():
        worktree.write(path, content)
    worktree.commit("broken")
    space_id = track(f"{user.name}/{name}", user)
    run = worktree.push(user.name, name, user)
    return space_id, output(run)


def test_readme_without_front_matter_is_a_config_error(user, worktree, track):
    space_id, text = push_broken(user, worktree, track, "nofm", {"README.md": "# Just a title\n"})
    assert "error: CONFIG_ERROR" in text
    assert "README.md has no YAML front matter" in text
    rt = runtime(space_id)
    assert rt["stage"] == "CONFIG_ERROR" and "front matter" in rt["errorMessage"]


def test_invalid_yaml_names_the_line(user, worktree, track):
    readme = "---\ntitle: Broken\nsdk: gradio\napp_file: [app.py\n---\n"
    space_id, text = push_broken(user, worktree, track, "badyaml", {"README.md": readme})
    assert "error: CONFIG_ERROR" in text
    rt = runtime(space_id)
    assert rt["stage"] == "CONFIG_ERROR"
    assert "not valid YAML on line" in rt["errorMessage"]


def test_invalid_value_names_key_and_allowed_values(user, worktree, track):
    readme = "---\ntitle: Bad SDK\nsdk: flask\n---\n"
    space_id, text = push_broken(user, worktree, track, "badsdk", {"README.md": readme})
    rt = runtime(space_id)
    assert rt["stage"] == "CONFIG_ERROR"
    assert "'sdk' is 'flask'" in rt["errorMessage"] and "gradio" in rt["errorMessage"]
    assert "'sdk' is 'flask'" in text


def test_missing_app_file_is_no_app_file(user, worktree, track):
    space_id, text = push_broken(user, worktree, track, "noapp", {}, remove=("app.py",))
    assert "error: NO_APP_FILE" in text
    rt = runtime(space_id)
    assert rt["stage"] == "NO_APP_FILE" and "app file 'app.py' not found" in rt["errorMessage"]


def test_unresolvable_requirement_is_a_build_error_with_pips_message(user, worktree, track):
    files = {"requirements.txt": "this-package-does-not-exist-spaces-test==0.0.1\n"}
    space_id, text = push_broken(user, worktree, track, "badreq", files)
    assert "error: BUILD_ERROR" in text
    rt = runtime(space_id)
    assert rt["stage"] == "BUILD_ERROR"
    assert "could not resolve the Python requirements" in rt["errorMessage"]
    assert "No matching distribution found for this-package-does-not-exist-spaces-test" in rt["errorMessage"]


def test_binary_junk_in_requirements_is_a_build_error(user, worktree, track):
    worktree.write("requirements.txt", b"\x00\xff\xfe junk")
    space_id, text = push_broken(user, worktree, track, "junkreq", {})
    rt = runtime(space_id)
    assert rt["stage"] == "BUILD_ERROR"
    assert "requirements.txt" in rt["errorMessage"]


def test_app_that_crashes_at_start_is_a_runtime_error_with_its_logs(user, worktree, track):
    crash = 'print("loading the model...")\nraise SystemExit("model file weights.bin is missing")\n'
    space_id, text = push_broken(user, worktree, track, "crash", {"app.py": crash})
    assert "error: RUNTIME_ERROR" in text
    rt = runtime(space_id)
    assert rt["stage"] == "RUNTIME_ERROR"
    assert "exited with code 1" in rt["errorMessage"]
    assert "model file weights.bin is missing" in rt["errorMessage"]
    assert "loading the model..." in rt["errorMessage"]


def test_broken_push_keeps_the_previous_version_serving(user, worktree, track):
    space_id = track(f"{user.name}/keep", user)
    worktree.commit("good")
    assert worktree.push(user.name, "keep", user).returncode == 0
    url = space_url(api("GET", f"/api/spaces/{space_id}").json()["subdomain"])
    worktree.write("README.md", "no front matter\n")
    worktree.commit("broken")
    run = worktree.push(user.name, "keep", user)
    assert "CONFIG_ERROR" in output(run)
    assert wait_stage(space_id, {"CONFIG_ERROR"})["errorMessage"]
    assert httpx.get(url, timeout=10).status_code == 200


def test_other_spaces_keep_serving(platform):
    """Runs after the bad pushes above (file order): the example Space still answers."""
    demo = api("GET", "/api/spaces/demo/hello-gradio").json()
    assert demo["runtime"]["stage"] == "RUNNING"
    assert httpx.get(space_url(demo["subdomain"]), timeout=10).status_code == 200
