"""Build control: time-outs, newer pushes superseding older builds, parallel builds, factory
rebuilds and repository limits. The module runs the platform with a short build timeout and
small repository limits (restarting its components through ``deploy/lifecycle.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from core.stages import Stage
from tests.helpers import ROOT, WorkTree, api, output, runtime, space_url, wait_stage

LIMITS = {"SPACES_BUILD_TIMEOUT": "20", "SPACES_MAX_REPO_FILES": "40", "SPACES_MAX_REPO_MB": "1"}


def lifecycle_up(extra: dict[str, str]) -> None:
    env = {k: v for k, v in os.environ.items() if k not in LIMITS} | extra
    run = subprocess.run([sys.executable, str(ROOT / "deploy" / "lifecycle.py"), "up"], env=env,
                         capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.fixture(scope="module", autouse=True)
def tight_limits():
    """The platform restarted with LIMITS for this module, and restored afterwards."""
    lifecycle_up(LIMITS)
    yield
    lifecycle_up({})


def docker_space(tree: WorkTree, sleep: int, marker: str) -> None:
    tree.write("README.md", "---\nsdk: docker\n---\n")
    tree.write("Dockerfile", f"FROM python:3.11-slim\nRUN sleep {sleep} && echo {marker}\n"
                             "COPY server.py /srv/server.py\nUSER 1000\nCMD [\"python\", \"/srv/server.py\"]\n")
    tree.write("server.py", (ROOT / "examples" / "hello-docker" / "server.py").read_text().replace(
        "Hello from a Docker Space", marker))


def test_build_that_runs_too_long_times_out(user, track, tmp_path):
    space_id = track(f"{user.name}/slow", user)
    tree = WorkTree(tmp_path / "slow", example=None)
    docker_space(tree, 120, f"slow-{time.time_ns()}")
    tree.commit("slow")
    started = time.monotonic()
    run = tree.push(user.name, "slow", user)
    assert time.monotonic() - started < 90
    rt = runtime(space_id)
    assert rt["stage"] == "BUILD_ERROR"
    assert "build timed out after 20 s" in rt["errorMessage"]
    assert "build timed out after 20 s" in output(run)


def test_newer_push_supersedes_an_unfinished_build(user, track, tmp_path):
    space_id = track(f"{user.name}/racing", user)
    tree = WorkTree(tmp_path / "racing", example=None)
    docker_space(tree, 15, f"first-{time.time_ns()}")
    tree.commit("first")
    assert tree.push(user.name, "racing", user, "-o", "nowait").returncode == 0
    wait_stage(space_id, {Stage.BUILDING.value})
    docker_space(tree, 0, "second")
    tree.commit("second")
    second = tree.push(user.name, "racing", user)
    assert "Your Space is running" in output(second), output(second)
    builds = api("GET", f"/api/spaces/{space_id}/builds").json()
    assert [b["status"] for b in builds] == ["succeeded", "superseded"]
    url = space_url(api("GET", f"/api/spaces/{space_id}").json()["subdomain"])
    assert httpx.get(url, timeout=10).json()["message"] == "second"


def test_builds_of_different_spaces_run_in_parallel(user, track, tmp_path):
    names = ["par-a", "par-b"]
    for name in names:
        track(f"{user.name}/{name}", user)
        tree = WorkTree(tmp_path / name, example=None)
        docker_space(tree, 6, f"{name}-{time.time_ns()}")
        tree.commit(name)
        assert tree.push(user.name, name, user, "-o", "nowait").returncode == 0
    for name in names:
        wait_stage(f"{user.name}/{name}", {"RUNNING"}, timeout=120)
    a, b = (api("GET", f"/api/spaces/{user.name}/{name}/builds").json()[0] for name in names)
    # Both builds were under way at the same time (two builder workers).
    assert a["startedAt"] < b["finishedAt"] and b["startedAt"] < a["finishedAt"], (a, b)


def test_factory_rebuild_reuses_no_cache(user, track, tmp_path):
    space_id = track(f"{user.name}/factory", user)
    tree = WorkTree(tmp_path / "factory")
    tree.write("requirements.txt", "six==1.17.0\n")
    tree.commit("first")
    assert tree.push(user.name, "factory", user).returncode == 0
    response = api("POST", f"/api/spaces/{space_id}/restart", user, params={"factory": "true"})
    assert response.status_code == 200 and response.json()["factory"] is True
    build_id = response.json()["build"]
    wait_stage(space_id, {"RUNNING_BUILDING", "BUILDING"}, timeout=30)
    wait_stage(space_id, {"RUNNING"}, timeout=180)
    log = "".join(
        line for line in httpx.get(f"http://spaces.localhost:8080/api/spaces/{space_id}/logs/build",
                                   params={"build": build_id}, timeout=60).iter_lines())
    assert "factory rebuild: no cached layers" in log
    assert "requirements unchanged: reusing" not in log
    assert "Using cache" not in log


def test_too_many_files_refuses_the_push_naming_the_limit(user, track, tmp_path):
    track(f"{user.name}/many", user)
    tree = WorkTree(tmp_path / "many")
    for i in range(45):
        tree.write(f"data/{i}.txt", str(i))
    tree.commit("many files")
    run = tree.push(user.name, "many", user)
    assert run.returncode != 0
    assert "the limit is 40 (SPACES_MAX_REPO_FILES)" in output(run)
    assert api("GET", f"/api/spaces/{user.name}/many").status_code == 404  # a refused first push creates nothing


def test_too_large_refuses_the_push_naming_the_limit(user, track, tmp_path):
    track(f"{user.name}/large", user)
    tree = WorkTree(tmp_path / "large")
    tree.write("weights.bin", b"\0" * (2 * 1024 * 1024))  # compresses to almost nothing, still 2 MiB of files
    tree.commit("large file")
    run = tree.push(user.name, "large", user)
    assert run.returncode != 0
    assert "the limit is 1 MiB (SPACES_MAX_REPO_MB)" in output(run)


def test_pack_over_the_size_limit_is_cut_off_by_git(user, track, tmp_path):
    track(f"{user.name}/bigpack", user)
    tree = WorkTree(tmp_path / "bigpack")
    tree.write("noise.bin", os.urandom(3 * 1024 * 1024))  # does not compress: the pack itself is too big
    tree.commit("noise")
    run = tree.push(user.name, "bigpack", user)
    assert run.returncode != 0
    assert "pack exceeds maximum allowed size" in output(run)
