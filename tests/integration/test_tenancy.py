"""The tenant matrix: every endpoint of the controller, called by six kinds of caller against a
private Space of an organization, through the real Traefik (and, for git, with the real git).

Callers: anonymous; a stranger (another user, write token); the organization's admin with a
*read* token; a ``read`` member; a ``write`` member; a platform admin. The test fails if the
controller answers an endpoint that is not in the matrix, so a new endpoint cannot be added
without deciding who may call it.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from controller.app import app, endpoints
from core.settings import get_settings
from tests.helpers import (
    User,
    WorkTree,
    api,
    base_url,
    create_org,
    create_user,
    issue_token,
    output,
    unique,
    wait_stage,
)

ACTORS = ("anonymous", "stranger", "read-token", "org-reader", "org-writer", "admin")
OK = "ok"

# Who gets what, by rule. OK = the call did what was asked (its own success status).
RULES: dict[str, dict[str, object]] = {
    "anyone": dict.fromkeys(ACTORS, OK),
    "read": {"anonymous": 404, "stranger": 404, "read-token": OK, "org-reader": OK, "org-writer": OK, "admin": OK},
    # git asks for credentials only when challenged: an anonymous fetch of a private repo gets 401.
    "git-read": {"anonymous": 401, "stranger": 404, "read-token": OK, "org-reader": OK, "org-writer": OK, "admin": OK},
    "write": {"anonymous": 401, "stranger": 404, "read-token": 403, "org-reader": 403, "org-writer": OK, "admin": OK},
    # Copying a Space needs read access to it and a write token for one's own namespace.
    "duplicate": {"anonymous": 401, "stranger": 404, "read-token": 403, "org-reader": OK, "org-writer": OK, "admin": OK},
    "signed-in": {"anonymous": 401, "stranger": OK, "read-token": OK, "org-reader": OK, "org-writer": OK, "admin": OK},
    "signed-in-write": {"anonymous": 401, "stranger": OK, "read-token": 403, "org-reader": OK, "org-writer": OK, "admin": OK},
    "org-member": {"anonymous": 401, "stranger": 404, "read-token": OK, "org-reader": OK, "org-writer": OK, "admin": OK},
    "org-admin": {"anonymous": 401, "stranger": 403, "read-token": 403, "org-reader": 403, "org-writer": 403, "admin": OK},
    # The Settings page: a browser without a session is sent to sign in.
    "owner-page": {"anonymous": 302, "stranger": 404, "read-token": 403, "org-reader": 403, "org-writer": OK, "admin": OK},
    "admin-page": {"anonymous": 302, "stranger": 403, "read-token": 403, "org-reader": 403, "org-writer": 403, "admin": OK},
    "platform-admin": {"anonymous": 401, "stranger": 403, "read-token": 403, "org-reader": 403, "org-writer": 403, "admin": OK},
    # Doors that grant nothing by themselves: the same answer for everyone (their real flows are in
    # test_private_space.py).
    "gate-direct": dict.fromkeys(ACTORS, 404),
    "form-without-csrf": dict.fromkeys(ACTORS, 403),
    "redirect": dict.fromkeys(ACTORS, OK),
}


@dataclass
class World:
    org: str
    space: str  # the private Space everyone is tried against
    actors: dict[str, User | None]
    owner: User  # the organization's admin (write token)
    tmp: object


@dataclass
class Case:
    rule: str
    call: Callable[[World, User | None, str], int]  # returns the HTTP status (or git's)
    ok: tuple[int, ...] = (200,)


def http(method: str, path: str, **kwargs) -> Callable[[World, User | None, str], int]:
    def call(world: World, user: User | None, actor: str) -> int:
        url = path.format(space=world.space, org=world.org)
        with httpx.stream(method, base_url() + url, headers=user.headers if user else {}, timeout=30,
                          **{k: (v(world, actor) if callable(v) else v) for k, v in kwargs.items()}) as response:
            return response.status_code  # streams (logs) are left without being read
    return call


def gate(method: str) -> Callable[[World, User | None, str], int]:
    """The forwardAuth endpoint called from outside with a forged X-Forwarded-Host: Traefik
    replaces that header with the real host, so the private Space is never named."""
    def call(world: World, user: User | None, actor: str) -> int:
        s = get_settings()
        host = s.space_host(api("GET", f"/api/spaces/{world.space}", world.owner).json()["subdomain"])
        headers = {**(user.headers if user else {}), "X-Forwarded-Host": host, "X-Forwarded-Uri": "/"}
        return httpx.request(method, base_url() + "/auth/space", headers=headers, timeout=10).status_code
    return call


def git_status(run) -> int:
    text = output(run)
    if run.returncode == 0:
        return 200
    if found := re.search(r"returned error: (\d{3})", text):
        return int(found.group(1))
    if "Authentication failed" in text or "could not read Username" in text:
        return 401
    if "not found" in text or "does not exist" in text:
        return 404
    raise AssertionError(f"unrecognised git failure: {text}")


def remote(world: World, user: User | None, space: str | None = None) -> str:
    s = get_settings()
    auth = f"{user.name}:{user.token}@" if user else ""
    return f"http://{auth}{s.domain}:{s.http_port}/spaces/{space or world.space}"


def git_clone(world: World, user: User | None, actor: str) -> int:
    tree = WorkTree(world.tmp / f"clone-{actor}-{uuid.uuid4().hex[:6]}", example=None)
    return git_status(tree.git("fetch", remote(world, user), "main", check=False))


def git_push(world: World, user: User | None, actor: str) -> int:
    tree = WorkTree(world.tmp / f"push-{actor}-{uuid.uuid4().hex[:6]}", example=None)
    tree.git("fetch", remote(world, world.owner), "main")
    tree.git("checkout", "-q", "-B", "main", "FETCH_HEAD")
    tree.write("pushed-by.txt", actor)
    tree.commit(f"push by {actor}")
    return git_status(tree.git("push", "-o", "nowait", remote(world, user), "main", check=False))


def doomed(world: World, actor: str) -> str:
    """What a deletion by ``actor`` aims at: callers allowed to delete get a Space made for it;
    the others try the shared one (which must survive)."""
    return make_space(world, f"doomed-{actor}") if RULES["write"][actor] == OK else world.space


def delete_space(world: World, user: User | None, actor: str) -> int:
    target = doomed(world, actor)
    return httpx.delete(f"{base_url()}/api/spaces/{target}", headers=user.headers if user else {}, timeout=30).status_code


def delete_repo(world: World, user: User | None, actor: str) -> int:
    """As delete_space, through huggingface_hub's path."""
    org, name = doomed(world, actor).split("/")
    return httpx.request("DELETE", f"{base_url()}/api/repos/delete", headers=user.headers if user else {}, timeout=30,
                         json={"name": name, "organization": org, "type": "space"}).status_code


def duplicate(world: World, user: User | None, actor: str) -> int:
    owner = user.name if user else "nobody"
    copy = f"{owner}/{unique('copy')}"
    status = http("POST", SPACE + "/duplicate", json={"repository": copy})(world, user, actor)
    if status == 200:
        assert api("DELETE", f"/api/spaces/{copy}", world.actors["admin"]).status_code == 202
    return status


def create_repo(world: World, user: User | None, actor: str) -> int:
    name = unique("made")
    status = http("POST", "/api/repos/create", json={"name": name, "type": "space", "sdk": "static"})(world, user, actor)
    if status == 200:
        assert api("DELETE", f"/api/spaces/{user.name}/{name}", world.actors["admin"]).status_code == 202
    return status


def ndjson_commit(world: World, user: User | None, actor: str) -> int:
    lines = [{"key": "header", "value": {"summary": f"commit by {actor}"}},
             {"key": "file", "value": {"path": f"by-{actor}.txt", "content": base64.b64encode(actor.encode()).decode(),
                                       "encoding": "base64"}}]
    return httpx.post(f"{base_url()}/api/spaces/{world.space}/commit/main", timeout=30,
                      content="\n".join(json.dumps(line) for line in lines),
                      headers={**(user.headers if user else {}), "Content-Type": "application/x-ndjson"}).status_code


def make_space(world: World, name: str) -> str:
    tree = WorkTree(world.tmp / unique(name), example=None)
    tree.write("README.md", "---\ntitle: tenancy\nsdk: static\n---\n")
    tree.write("index.html", "<h1>private page</h1>\n")
    tree.commit("static page")
    space_id = f"{world.org}/{unique(name)}"
    run = tree.git("push", remote(world, world.owner, space_id), "main", check=False)
    assert run.returncode == 0, output(run)
    response = api("PUT", f"/api/spaces/{space_id}/settings", world.owner, json={"private": True})
    assert response.status_code == 200, response.text
    return space_id


def token_to_revoke(world: World, actor: str) -> str:
    user = world.actors[actor]
    if user is None or RULES["signed-in-write"][actor] != OK:
        return "0123456789abcdef"
    return api("POST", "/api/tokens", user, json={"name": f"revoke me {actor}", "role": "read"}).json()["id"]


def others_token(world: World, actor: str) -> str:
    """``user/id`` of a fresh token of the org's reader, for an admin to revoke (others must fail to)."""
    reader = world.actors["org-reader"]
    return f"{reader.name}/tokens/{api('POST', '/api/tokens', reader, json={'name': f'leaked {actor}', 'role': 'read'}).json()['id']}"


SPACE = "/api/spaces/{space}"
MATRIX: dict[tuple[str, str], Case] = {
    ("GET", "/api/spaces"): Case("anyone", http("GET", "/api/spaces")),
    ("GET", "/api/spaces/{owner}/{name}"): Case("read", http("GET", SPACE)),
    ("DELETE", "/api/spaces/{owner}/{name}"): Case("write", delete_space, ok=(202,)),
    ("GET", "/api/spaces/{owner}/{name}/runtime"): Case("read", http("GET", SPACE + "/runtime")),
    ("PUT", "/api/spaces/{owner}/{name}/settings"): Case("write", http("PUT", SPACE + "/settings", json={"visibility": "private"})),
    ("GET", "/api/spaces/{owner}/{name}/builds"): Case("read", http("GET", SPACE + "/builds")),
    ("GET", "/api/spaces/{owner}/{name}/logs/build"): Case("read", http("GET", SPACE + "/logs/build")),
    ("GET", "/api/spaces/{owner}/{name}/logs/run"): Case("write", http("GET", SPACE + "/logs/run")),
    ("POST", "/api/spaces/{owner}/{name}/restart"): Case("write", http("POST", SPACE + "/restart")),
    ("POST", "/api/spaces/{owner}/{name}/pause"): Case("write", http("POST", SPACE + "/pause")),
    ("POST", "/api/spaces/{owner}/{name}/rollback"): Case(
        "write", http("POST", SPACE + "/rollback", json=lambda world, actor: {"build": first_build(world)})),
    ("POST", "/api/spaces/{owner}/{name}/sleeptime"): Case("write", http("POST", SPACE + "/sleeptime", json={"seconds": -1})),
    ("POST", "/api/spaces/{owner}/{name}/storage"): Case("write", http("POST", SPACE + "/storage", json={"tier": "small"}), ok=(409,)),
    ("DELETE", "/api/spaces/{owner}/{name}/storage"): Case("write", http("DELETE", SPACE + "/storage")),
    ("POST", "/api/spaces/{owner}/{name}/hardware"): Case("write", http("POST", SPACE + "/hardware", json={"flavor": "cpu-basic"})),
    ("GET", "/api/spaces/{owner}/{name}/variables"): Case("read", http("GET", SPACE + "/variables")),
    ("POST", "/api/spaces/{owner}/{name}/variables"): Case("write", http("POST", SPACE + "/variables", json={"key": "COLOR", "value": "blue"})),
    ("DELETE", "/api/spaces/{owner}/{name}/variables"): Case("write", http("DELETE", SPACE + "/variables", json={"key": "COLOR"})),
    ("GET", "/api/spaces/{owner}/{name}/secrets"): Case("write", http("GET", SPACE + "/secrets")),
    ("POST", "/api/spaces/{owner}/{name}/secrets"): Case("write", http("POST", SPACE + "/secrets", json={"key": "PIN", "value": "4711-4711"})),
    ("DELETE", "/api/spaces/{owner}/{name}/secrets"): Case("write", http("DELETE", SPACE + "/secrets", json={"key": "PIN"})),
    ("GET", "/spaces/{owner}/{repo}/{action:path}"): Case("git-read", git_clone),
    ("POST", "/spaces/{owner}/{repo}/{action:path}"): Case("write", git_push),
    ("GET", "/api/whoami-v2"): Case("signed-in", http("GET", "/api/whoami-v2")),
    ("POST", "/api/repos/create"): Case("signed-in-write", lambda world, user, actor: create_repo(world, user, actor)),
    ("DELETE", "/api/repos/delete"): Case("write", delete_repo),
    ("POST", "/api/spaces/{owner}/{name}/preupload/{revision}"): Case(
        "write", http("POST", SPACE + "/preupload/main", json={"files": [{"path": "index.html", "size": 1, "sample": ""}]})),
    ("POST", "/api/spaces/{owner}/{name}/commit/{revision}"): Case("write", ndjson_commit),
    ("POST", "/api/spaces/{owner}/{name}/duplicate"): Case("duplicate", duplicate),
    ("GET", "/api/spaces/{owner}/{name}/revision/{revision}"): Case("read", http("GET", SPACE + "/revision/main")),
    ("GET", "/spaces/{owner}/{name}/resolve/{revision}/{path:path}"): Case("read", http("GET", "/spaces/{space}/resolve/main/index.html")),
    ("POST", "/api/validate-yaml"): Case("anyone", http("POST", "/api/validate-yaml", json={"content": "---\nsdk: static\n---\n"})),
    ("GET", "/api/tokens"): Case("signed-in", http("GET", "/api/tokens")),
    ("POST", "/api/tokens"): Case("signed-in-write", http("POST", "/api/tokens", json={"name": "matrix", "role": "read"}), ok=(201,)),
    ("DELETE", "/api/tokens/{token_id}"): Case(
        "signed-in-write",
        lambda world, user, actor: http("DELETE", f"/api/tokens/{token_to_revoke(world, actor)}")(world, user, actor),
        ok=(204,)),
    ("GET", "/api/admin/users"): Case("platform-admin", http("GET", "/api/admin/users")),
    ("POST", "/api/admin/users"): Case(
        "platform-admin", http("POST", "/api/admin/users", json=lambda world, actor: {"name": unique("made")}), ok=(201,)),
    ("DELETE", "/api/admin/users/{user}/tokens/{token_id}"): Case(
        "platform-admin",
        lambda world, user, actor: http("DELETE", f"/api/admin/users/{others_token(world, actor)}")(world, user, actor),
        ok=(204,)),
    ("DELETE", "/api/admin/users/{user}"): Case(
        "platform-admin", lambda world, user, actor: http("DELETE", f"/api/admin/users/{create_user().name}")(world, user, actor)),
    ("DELETE", "/api/organizations/{org}"): Case(
        "org-admin", lambda world, user, actor: http("DELETE", f"/api/organizations/{doomed_org(world, actor)}")(world, user, actor)),
    ("POST", "/api/organizations"): Case(
        "signed-in-write", http("POST", "/api/organizations", json=lambda world, actor: {"name": unique("neworg")}), ok=(201,)),
    ("GET", "/api/organizations/{org}/members"): Case("org-member", http("GET", "/api/organizations/{org}/members")),
    ("POST", "/api/organizations/{org}/members"): Case(
        "org-admin", http("POST", "/api/organizations/{org}/members",
                          json=lambda world, actor: {"user": world.actors["org-reader"].name, "role": "read"})),
    ("DELETE", "/api/organizations/{org}/members/{user}"): Case(
        "org-admin", lambda world, user, actor: http("DELETE", f"/api/organizations/{{org}}/members/{extra_member(world)}")(world, user, actor)),
    ("GET", "/metrics"): Case("platform-admin", http("GET", "/metrics")),
    ("GET", "/admin"): Case("admin-page", http("GET", "/admin")),
    ("GET", "/admin/users"): Case("admin-page", http("GET", "/admin/users")),
    ("GET", "/admin/system"): Case("admin-page", http("GET", "/admin/system")),
    ("POST", "/admin/bulk"): Case("form-without-csrf", http("POST", "/admin/bulk", data={"action": "pause"})),
    ("POST", "/admin/users/{action}"): Case(
        "form-without-csrf", http("POST", "/admin/users/create-org", data=lambda world, actor: {"name": unique("formorg")})),
    ("POST", "/admin/system/clean-up"): Case("form-without-csrf", http("POST", "/admin/system/clean-up", data={})),
    ("GET", "/healthz"): Case("anyone", http("GET", "/healthz")),
    ("GET", "/"): Case("anyone", http("GET", "/")),
    ("GET", "/spaces/{owner}/{name}"): Case("read", http("GET", "/spaces/{space}")),
    ("GET", "/spaces/{owner}/{name}/logs"): Case("read", http("GET", "/spaces/{space}/logs")),
    ("GET", "/spaces/{owner}/{name}/files"): Case("read", http("GET", "/spaces/{space}/files", params={"path": "index.html"})),
    ("GET", "/spaces/{owner}/{name}/builds"): Case("read", http("GET", "/spaces/{space}/builds")),
    ("GET", "/spaces/{owner}/{name}/settings"): Case("owner-page", http("GET", "/spaces/{space}/settings")),
    # Settings forms act only for a browser session with the form's CSRF token; a token alone is refused.
    ("POST", "/spaces/{owner}/{name}/settings/{action}"): Case(
        "form-without-csrf", http("POST", "/spaces/{space}/settings/pause", data={})),
    ("GET", "/static"): Case("anyone", http("GET", "/static/style.css")),
    ("GET", "/openapi.json"): Case("anyone", http("GET", "/openapi.json")),
    ("GET", "/docs"): Case("anyone", http("GET", "/docs")),
    ("GET", "/docs/oauth2-redirect"): Case("anyone", http("GET", "/docs/oauth2-redirect")),
    ("GET", "/redoc"): Case("anyone", http("GET", "/redoc")),
    ("GET", "/login"): Case("anyone", http("GET", "/login")),
    ("POST", "/login"): Case("form-without-csrf", http("POST", "/login", data={"username": "x", "password": "y" * 12})),
    ("GET", "/logout"): Case("redirect", http("GET", "/logout"), ok=(303,)),
    ("POST", "/logout"): Case("form-without-csrf", http("POST", "/logout", data={})),
    ("GET", "/auth/space-login"): Case("redirect", http("GET", "/auth/space-login", params=lambda world, actor: {"space": world.space}),
                                       ok=(302,)),
    **{(method, "/auth/space"): Case("gate-direct", gate(method))
       for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")},
}


def first_build(world: World) -> str:
    """The private Space's first build (it succeeded): what a roll-back goes back to."""
    return api("GET", f"/api/spaces/{world.space}/builds", world.owner).json()[-1]["id"]


def extra_member(world: World) -> str:
    """A member for an org admin to remove (added afresh each time)."""
    member = create_user()
    response = api("POST", f"/api/organizations/{world.org}/members", world.owner, json={"user": member.name, "role": "read"})
    assert response.status_code == 200, response.text
    return member.name


def doomed_org(world: World, actor: str) -> str:
    """What an organization deletion by ``actor`` aims at: callers allowed to get a new organization;
    the others try the shared one (which must survive)."""
    return create_org(world.owner) if RULES["org-admin"][actor] == OK else world.org


@pytest.fixture(scope="module")
def world(platform, tmp_path_factory) -> Iterator[World]:
    owner, reader, writer, stranger = create_user(), create_user(), create_user(), create_user()
    admin = create_user(admin=True)
    org = create_org(owner, {reader.name: "read", writer.name: "write"})
    world = World(org=org, space="", owner=owner, tmp=tmp_path_factory.mktemp("tenancy"), actors={
        "anonymous": None, "stranger": stranger, "read-token": issue_token(owner, "read"),
        "org-reader": reader, "org-writer": writer, "admin": admin,
    })
    world.space = make_space(world, "private")
    wait_stage(world.space, {"RUNNING"}, timeout=120, user=owner)
    yield world
    api("DELETE", f"/api/spaces/{world.space}", admin)


def test_every_endpoint_is_in_the_matrix():
    served = endpoints(app)
    assert served - set(MATRIX) == set(), "endpoints without a row in the tenant matrix"
    assert set(MATRIX) - served == set(), "matrix rows for endpoints that no longer exist"


@pytest.mark.parametrize("actor", ACTORS)
def test_tenant_matrix(world, actor):
    user = world.actors[actor]
    wrong = []
    for (method, path), case in MATRIX.items():
        expected = RULES[case.rule][actor]
        status = case.call(world, user, actor)
        good = status in case.ok if expected == OK else status == expected
        if not good:
            wrong.append(f"{method} {path} ({case.rule}): got {status}, wanted {case.ok if expected == OK else expected}")
    assert not wrong, f"{actor}:\n" + "\n".join(wrong)
    # The shared private Space survived every refused call.
    assert api("GET", f"/api/spaces/{world.space}", world.owner).status_code == 200
    # The private Space is listed only to those who may see it.
    listed = {s["id"] for s in httpx.get(base_url() + "/api/spaces", headers=user.headers if user else {}, timeout=30).json()}
    assert (world.space in listed) is (RULES["read"][actor] == OK)
