"""A refused push leaves nothing (issue 11, item 6), with the real ``git push`` through Traefik.

A Space is created by the first push it accepts, and by nothing before: a push refused for its
credentials, its namespace, its name or by the repository's checks (a link out of the repository),
a push that stores nothing, and a bare ``info/refs?service=git-receive-pack`` probe leave no record,
no repository folder, no subdomain claim, no route and nothing in any listing. A first push that is
accepted still creates and serves the Space, also right after a refused one to the same name.
"""

from __future__ import annotations

import os
import uuid

import httpx
import pytest

from core import keys
from core.names import subdomain_candidates
from core.settings import get_settings
from core.store import get_redis
from proxy.routes import RedisRouteTable, space_route_name
from tests.helpers import User, WorkTree, api, base_url, create_user, output, space_url


def fresh_name() -> str:
    return f"new{uuid.uuid4().hex[:8]}"


def assert_nothing_left(space_id: str, owner: User) -> None:
    """What anyone could see of ``space_id``: nothing at all."""
    assert api("GET", f"/api/spaces/{space_id}", owner).status_code == 404
    assert api("GET", f"/api/spaces/{space_id}/builds", owner).status_code == 404
    author = space_id.split("/")[0]
    listed = [s["id"] for s in api("GET", "/api/spaces", owner, params={"author": author}).json()]
    assert space_id not in listed
    assert space_id not in [s["id"] for s in api("GET", "/api/spaces", owner, params={"search": space_id.split("/")[1]}).json()]
    assert not (get_settings().repos_dir / f"{space_id}.git").exists(), f"the repository folder of {space_id} was left behind"
    r = get_redis()
    assert not r.exists(keys.space(space_id))
    for label in subdomain_candidates(space_id):
        assert r.get(keys.subdomain(label)) != space_id, f"the subdomain {label} is still claimed"
        assert RedisRouteTable(r).target_of(space_route_name(label)) is None
    clone = httpx.get(f"{base_url()}/spaces/{space_id}/info/refs", params={"service": "git-upload-pack"},
                      headers=owner.headers, timeout=30)
    assert clone.status_code == 404 and "does not exist" in clone.text


@pytest.fixture
def tree(tmp_path) -> WorkTree:
    work = WorkTree(tmp_path / "repo")
    work.commit("first")
    return work


def test_push_without_or_with_a_wrong_token_leaves_nothing(user, tree):
    name = fresh_name()
    assert tree.push(user.name, name, None).returncode != 0
    impostor = User(name=user.name, token="spc_not-a-real-token")
    run = tree.push(user.name, name, impostor)
    assert run.returncode != 0 and "invalid or revoked access token" in output(run)
    assert_nothing_left(f"{user.name}/{name}", user)


def test_push_into_someone_elses_or_a_missing_namespace_leaves_nothing(user, other_user, tree):
    name = fresh_name()
    run = tree.push(other_user.name, name, user)
    assert run.returncode != 0 and f"may not push to Spaces of '{other_user.name}'" in output(run)
    assert_nothing_left(f"{other_user.name}/{name}", other_user)
    ghost = f"ghost{uuid.uuid4().hex[:8]}"
    admin = create_user(admin=True)  # may push anywhere, but there is no one to own it
    run = tree.push(ghost, name, admin)
    assert run.returncode != 0 and f"there is no user or organization '{ghost}'" in output(run)
    assert_nothing_left(f"{ghost}/{name}", admin)


@pytest.mark.parametrize("bad", ["Bad_Name", "has.dot", "x" * 64])
def test_push_with_an_invalid_name_leaves_nothing(user, tree, bad):
    run = tree.push(user.name, bad, user)
    assert run.returncode != 0 and f"invalid Space name '{bad}'" in output(run)
    repos = get_settings().repos_dir / user.name
    assert not repos.exists() or os.listdir(repos) == [], os.listdir(repos)
    assert api("GET", "/api/spaces", user, params={"author": user.name}).json() == []


def test_push_refused_by_the_repository_checks_leaves_nothing(user, tmp_path):
    work = WorkTree(tmp_path / "linked")
    os.symlink("/etc/hostname", work.path / "hostname")
    work.commit("a link out of the repository")
    name = fresh_name()
    run = work.push(user.name, name, user)
    assert run.returncode != 0
    assert "symlink 'hostname' points outside the repository" in output(run) and "nothing was stored" in output(run)
    assert_nothing_left(f"{user.name}/{name}", user)


def test_push_that_stores_nothing_and_a_bare_probe_leave_nothing(user, tree):
    name = fresh_name()
    # Deleting a branch of a Space that does not exist: git asks the server, then has nothing to send.
    run = tree.git("push", f"http://{user.name}:{user.token}@{get_settings().domain}:{get_settings().http_port}"
                   f"/spaces/{user.name}/{name}", ":main", check=False)
    assert run.returncode != 0
    assert_nothing_left(f"{user.name}/{name}", user)
    # What git asks first, on its own: it must not create anything either.
    probe = httpx.get(f"{base_url()}/spaces/{user.name}/{name}/info/refs", params={"service": "git-receive-pack"},
                      headers=user.headers, timeout=30)
    assert probe.status_code == 200 and probe.headers["content-type"] == "application/x-git-receive-pack-advertisement"
    assert_nothing_left(f"{user.name}/{name}", user)


def test_first_accepted_push_still_creates_and_serves_the_space(user, tmp_path, track):
    """After a refused first push to the same name, the next (good) one creates it as before."""
    name = fresh_name()
    space_id = track(f"{user.name}/{name}", user)
    work = WorkTree(tmp_path / "repo")
    os.symlink("/etc/hostname", work.path / "hostname")
    work.commit("refused")
    assert work.push(user.name, name, user).returncode != 0
    assert_nothing_left(space_id, user)
    work.git("rm", "-q", "hostname")
    work.commit("fixed")
    run = work.push(user.name, name, user)
    assert run.returncode == 0 and "Your Space is running at" in output(run), output(run)
    info = api("GET", f"/api/spaces/{space_id}", user).json()
    assert info["id"] == space_id and info["runtime"]["stage"] == "RUNNING"
    assert space_id in [s["id"] for s in api("GET", "/api/spaces", user, params={"author": user.name}).json()]
    assert (get_settings().repos_dir / f"{space_id}.git").is_dir()
    page = httpx.get(space_url(info["subdomain"]), timeout=30)
    assert page.status_code == 200 and "gradio" in page.text.lower()
