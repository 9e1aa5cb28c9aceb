"""Bad pushes: each gets a clear message in the push output (and in the Space's stage) and breaks
nothing else (checked after each push that gets as far as a build: :func:`push_broken`). Pushes that
fail on their README.md or app file alone are checked in process in the fast tier
(tests/unit/test_push_config_errors.py)."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from core.settings import get_settings
from tests.helpers import api, output, runtime, serving_container, settled_container, space_url, wait_stage


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


NEIGHBOUR = "demo/hello-gradio"  # another tenant's Space, deployed by make up


def push_broken(user, worktree, track, name: str, files: dict[str, str], remove: tuple[str, ...] = ()):
    """Push the broken tree; ``git push`` returns once the platform has reported the build's outcome.
    By then the bad push has broken nothing else: another tenant's Space is RUNNING, answers, and
    is served by the same container as before the push (a restart would have replaced it)."""
    for path in remove:
        (worktree.path / path).unlink()
    for path, content in files.items():
        worktree.write(path, content)
    worktree.commit("broken")
    space_id = track(f"{user.name}/{name}", user)
    neighbour = settled_container(NEIGHBOUR)
    run = worktree.push(user.name, name, user)
    other = api("GET", f"/api/spaces/{NEIGHBOUR}").json()
    assert other["runtime"]["stage"] == "RUNNING"
    assert httpx.get(space_url(other["subdomain"]), timeout=10).status_code == 200
    assert serving_container(NEIGHBOUR) == neighbour, f"{NEIGHBOUR} was restarted during a bad push"
    return space_id, output(run)


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
    space_id, _text = push_broken(user, worktree, track, "junkreq", {})
    rt = runtime(space_id)
    assert rt["stage"] == "BUILD_ERROR"
    assert "requirements.txt" in rt["errorMessage"]


def test_app_that_crashes_at_start_is_a_runtime_error_with_its_logs(user, worktree, track):
    crash = 'print("loading the model...")\nraise SystemExit("model file weights.bin is missing")\n'
    space_id, text = push_broken(user, worktree, track, "crash", {"app.py": crash})
    assert "error: RUNTIME_ERROR" in text
    rt = runtime(space_id, user)  # the app's log lines are for its owners (issue 17, finding 6)
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


def git_backends_of(space_id: str) -> list[int]:
    """Pids of git http-backend processes serving ``space_id``'s repository."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if f"PATH_INFO=/{space_id}.git/".encode() in environ:
            found.append(int(proc.name))
    return found


@pytest.mark.parametrize("sent", [0, 2])
def test_a_push_cut_off_mid_body_leaves_no_git_process_behind(user, worktree, track, sent):
    """git http-backend loops forever (a core at 100%) reading a body shorter than its Content-Length;
    a client that goes away mid-request must not leave one behind. Seen in CI with git's 4-byte probe."""
    worktree.commit("first")
    space_id = track(f"{user.name}/cutoff{sent}", user)
    assert worktree.push(user.name, f"cutoff{sent}", user, "-o", "nowait").returncode == 0
    settings = get_settings()
    auth = base64.b64encode(f"{user.name}:{user.token}".encode()).decode()
    with socket.create_connection(("127.0.0.1", settings.http_port), timeout=10) as conn:
        conn.sendall((f"POST /spaces/{space_id}.git/git-receive-pack HTTP/1.1\r\nHost: {settings.domain}:{settings.http_port}\r\n"
                      f"Authorization: Basic {auth}\r\nContent-Type: application/x-git-receive-pack-request\r\n"
                      f"Content-Length: 4\r\n\r\n").encode() + b"00"[:sent])
        deadline = time.monotonic() + 10
        while not git_backends_of(space_id) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert git_backends_of(space_id), "the request never reached git http-backend"
    deadline = time.monotonic() + 15
    while git_backends_of(space_id) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert git_backends_of(space_id) == [], "git http-backend was left running after the client went away"
    # The repository still takes pushes.
    worktree.write("after.txt", "still fine\n")
    worktree.commit("after the cut")
    run = worktree.push(user.name, f"cutoff{sent}", user, "-o", "nowait")
    assert run.returncode == 0, output(run)


def test_git_processes_left_by_a_dead_controller_are_stopped(user, worktree, track):
    """A controller killed mid-push leaves git http-backend reading an input at its end, forever; the
    reconciler stops such orphans (here: one started by hand, its input already at an end)."""
    worktree.commit("first")
    space_id = track(f"{user.name}/orphaned", user)
    assert worktree.push(user.name, "orphaned", user, "-o", "nowait").returncode == 0
    env = {**os.environ, "GIT_PROJECT_ROOT": str(get_settings().repos_dir), "GIT_HTTP_EXPORT_ALL": "1",
           "REQUEST_METHOD": "POST", "PATH_INFO": f"/{space_id}.git/git-receive-pack", "CONTENT_LENGTH": "4",
           "CONTENT_TYPE": "application/x-git-receive-pack-request", "REMOTE_USER": user.name}
    # Started from a shell that exits at once: its parent is gone, as after the controller died.
    subprocess.run(["sh", "-c", "git http-backend </dev/null >/dev/null 2>&1 &"], env=env, check=True, start_new_session=True)
    deadline = time.monotonic() + 10
    while not git_backends_of(space_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert git_backends_of(space_id), "the orphan did not start"
    deadline = time.monotonic() + 30  # the reconciler looks every 10 s
    while git_backends_of(space_id) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert git_backends_of(space_id) == [], "the orphaned git http-backend is still running"
