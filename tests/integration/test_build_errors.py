"""Builds that cannot succeed: each ends in a stage whose reason says what to fix."""

from __future__ import annotations

import os

from tests.helpers import WorkTree, api, output, runtime


def push_files(user, track, tmp_path, name: str, files: dict[str, str], example: str | None = None):
    space_id = track(f"{user.name}/{name}", user)
    tree = WorkTree(tmp_path / name, example=example)
    for path, content in files.items():
        tree.write(path, content)
    tree.commit(name)
    return space_id, tree, tree.push(user.name, name, user)


def test_unavailable_docker_base_lists_what_is_available(user, track, tmp_path):
    files = {"README.md": "---\nsdk: docker\n---\n", "Dockerfile": "FROM ubuntu:22.04\nCMD [\"true\"]\n"}
    space_id, _, run = push_files(user, track, tmp_path, "ubuntu", files)
    rt = runtime(space_id)
    assert rt["stage"] == "BUILD_ERROR"
    assert "base image ubuntu:22.04 cannot be had here" in rt["errorMessage"]
    assert "python:3.11-slim" in rt["errorMessage"] and "spaces-python-slim:3.11" in rt["errorMessage"]
    assert "error: BUILD_ERROR" in output(run)


def test_failing_dockerfile_step_is_a_build_error_with_its_output(user, track, tmp_path):
    dockerfile = "FROM python:3.11-slim\nRUN echo 'compiling the widget' && exit 3\n"
    space_id, _, _run = push_files(user, track, tmp_path, "failstep", {"README.md": "---\nsdk: docker\n---\n", "Dockerfile": dockerfile})
    rt = runtime(space_id)
    assert rt["stage"] == "BUILD_ERROR"
    assert "exit code: 3" in rt["errorMessage"]  # BuildKit: "executor failed running [...]: exit code: 3"
    assert "compiling the widget" in rt["errorMessage"]


def test_unknown_debian_package_is_a_build_error_naming_it(user, track, tmp_path):
    space_id, _, _run = push_files(user, track, tmp_path, "badpkg", {"packages.txt": "no-such-package-spaces-test\n"}, example="hello-gradio")
    rt = runtime(space_id)
    assert rt["stage"] == "BUILD_ERROR"
    assert "Unable to locate package no-such-package-spaces-test" in rt["errorMessage"]


def test_malformed_package_name_is_refused_before_anything_runs(user, track, tmp_path):
    space_id, _, _run = push_files(user, track, tmp_path, "evilpkg", {"packages.txt": "jq; rm -rf /\n"}, example="hello-gradio")
    rt = runtime(space_id)
    assert rt["stage"] == "BUILD_ERROR"
    assert "packages.txt: 'jq; rm -rf /' is not a Debian package name" in rt["errorMessage"]


def test_symlink_out_of_the_repo_refuses_the_push(user, track, tmp_path):
    space_id = f"{user.name}/symlink"
    tree = WorkTree(tmp_path / "symlink")
    os.symlink("/etc/shadow", tree.path / "shadow")
    tree.commit("link out")
    run = tree.push(user.name, "symlink", user)
    assert run.returncode != 0
    assert "symlink 'shadow' points outside the repository (to '/etc/shadow')" in output(run)
    assert "nothing was stored" in output(run)
    track(space_id, user)
    assert api("GET", f"/api/spaces/{space_id}").status_code == 404  # a refused first push creates nothing
