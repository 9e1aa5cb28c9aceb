"""Small ones of issue 17, finding 10: a tag of a blob is a clear refusal (not a traceback), and a
Space says BUILDING from the moment its build is queued (not NO_APP_FILE)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from controller import git_hook
from core import keys, store
from core.queues import show_queued
from core.stages import BuildStatus, Stage

GIT = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]


@pytest.fixture
def bare(tmp_path: Path) -> dict[str, str]:
    """A repository holding a commit, an annotated tag of a blob, one of the commit, and the tree; their ids."""
    repo = tmp_path / "repo"
    subprocess.run([*GIT, "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "README.md").write_text("---\nsdk: static\n---\n")
    run = lambda *args: subprocess.run([*GIT, "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()  # noqa: E731
    run("add", "README.md")
    run("commit", "-qm", "first")
    blob = run("hash-object", "-w", "README.md")
    run("tag", "-a", "-m", "a blob", "blob-tag", blob)
    run("tag", "-a", "-m", "a commit", "commit-tag", "HEAD")
    return {"dir": str(repo / ".git"), "commit": run("rev-parse", "HEAD"), "blob": blob,
            "blob-tag": run("rev-parse", "blob-tag"), "commit-tag": run("rev-parse", "commit-tag"),
            "tree": run("rev-parse", "HEAD^{tree}")}


@pytest.mark.parametrize(("sha", "what"), [("blob-tag", "a blob through a tag"), ("blob", "a blob"), ("tree", "a tree")])
def test_a_ref_to_a_blob_or_tree_is_refused_with_a_reason(bare, monkeypatch, capsys, sha, what):
    monkeypatch.setenv("GIT_DIR", bare["dir"])
    assert git_hook.pre_receive([[git_hook.ZERO, bare[sha], "refs/tags/odd"]]) == 1
    out = capsys.readouterr().out
    assert f"refs/tags/odd points at {what}; only commits and tags of commits may be pushed" in out
    assert "Traceback" not in out and "nothing was stored" in out


def test_commits_and_tags_of_commits_pass(bare, monkeypatch, capsys):
    monkeypatch.setenv("GIT_DIR", bare["dir"])
    updates = [[git_hook.ZERO, bare["commit"], "refs/heads/main"], [git_hook.ZERO, bare["commit-tag"], "refs/tags/v1"]]
    assert git_hook.pre_receive(updates) == 0
    assert "error" not in capsys.readouterr().out


def new_build(r, space_id: str, stage: Stage | None = None, **fields: str) -> str:
    if store.get_space(r, space_id) is None:
        store.create_space(r, space_id, sdk="gradio")
    if stage is not None:
        store.set_stage(r, space_id, stage, **fields)
    return store.create_build(r, space_id, "a" * 40)


def test_a_new_space_says_building_once_its_build_is_queued(redis_db):
    build_id = new_build(redis_db, "olive/fresh")
    assert store.get_space(redis_db, "olive/fresh").stage == Stage.NO_APP_FILE.value
    show_queued(redis_db, "olive/fresh", build_id)
    assert store.get_space(redis_db, "olive/fresh").stage == Stage.BUILDING.value


def test_a_serving_space_says_running_building(redis_db):
    build_id = new_build(redis_db, "olive/live", Stage.RUNNING, running_build="1")
    show_queued(redis_db, "olive/live", build_id)
    assert store.get_space(redis_db, "olive/live").stage == Stage.RUNNING_BUILDING.value


def test_a_build_the_builder_took_or_ended_keeps_its_stage(redis_db):
    build_id = new_build(redis_db, "olive/fast")
    store.update_build(redis_db, build_id, status=BuildStatus.FAILED.value)
    store.set_stage(redis_db, "olive/fast", Stage.CONFIG_ERROR, message="bad front matter")
    show_queued(redis_db, "olive/fast", build_id)
    assert store.get_space(redis_db, "olive/fast").stage == Stage.CONFIG_ERROR.value


def test_a_space_being_deleted_stays_deleting(redis_db):
    build_id = new_build(redis_db, "olive/gone", Stage.DELETING)
    show_queued(redis_db, "olive/gone", build_id)
    assert store.get_space(redis_db, "olive/gone").stage == Stage.DELETING.value
    assert redis_db.hget(keys.space("olive/gone"), "stage") == Stage.DELETING.value
