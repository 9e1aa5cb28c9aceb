"""Accounts through the API, the sign-in page and the ``spaces`` administration commands: tokens
(named, shown once, listed with their last use, revoked at once), organizations, the admin API,
failed sign-ins, CSRF and origin checks on forms, bounded bodies, and the command line's one-line
refusals. Moved from tests/integration/test_accounts_api.py (their assertions unchanged): none of
it needs Docker, Traefik or git, so it runs in process on the fast tier's Redis. What does need the
real platform stays there (bad tokens counted per client address behind Traefik; one refusal of
the real ``spaces`` command, proving its wiring)."""

from __future__ import annotations

import re

import pytest

from tests.helpers import unique
from tests.unit.inproc import bearer, cli, create_org, create_user, origin, own_data_dir, platform_client, set_password

PASSWORD = "another long password"


@pytest.fixture
def client(redis_db, tmp_path):
    with own_data_dir(tmp_path / "data"), platform_client(redis_db) as test_client:
        yield test_client


def login_form(client) -> str:
    page = client.get("/login")
    assert page.status_code == 200
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def test_tokens_are_shown_once_listed_with_last_use_and_revoked_at_once(client):
    user = create_user()
    made = client.post("/api/tokens", headers=bearer(user), json={"name": "ci runner", "role": "read"})
    assert made.status_code == 201
    token = made.json()["token"]
    assert client.get("/api/whoami-v2", headers={"Authorization": f"Bearer {token}"}).json()["auth"][
        "accessToken"] == {"displayName": "ci runner", "role": "read", "createdAt": made.json()["createdAt"]}
    listed = {t["name"]: t for t in client.get("/api/tokens", headers=bearer(user)).json()}
    assert set(listed) == {"cli", "ci runner"}
    assert listed["ci runner"]["lastUsedAt"].endswith("Z") and "token" not in listed["ci runner"]
    assert token not in client.get("/api/tokens", headers=bearer(user)).text
    assert client.delete(f"/api/tokens/{listed['ci runner']['id']}", headers=bearer(user)).status_code == 204
    assert client.get("/api/whoami-v2", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    # A read token cannot mint a write token.
    reader = client.post("/api/tokens", headers=bearer(user), json={"name": "reader", "role": "read"}).json()["token"]
    denied = client.post("/api/tokens", json={"name": "escalate", "role": "write"},
                         headers={"Authorization": f"Bearer {reader}"})
    assert denied.status_code == 403 and "read-only" in denied.json()["error"]


@pytest.mark.parametrize(("body", "message"), [
    ({"name": "<script>", "role": "read"}, "invalid token name '<script>'"),
    ({"name": "", "role": "read"}, "invalid token name ''"),
    ({"name": "fine", "role": "admin"}, "a token role is 'read' or 'write'"),
])
def test_bad_token_requests_are_refused_clearly(client, body, message):
    user = create_user()
    response = client.post("/api/tokens", headers=bearer(user), json=body)
    assert response.status_code == 400 and message in response.json()["error"], response.text
    assert [t["name"] for t in client.get("/api/tokens", headers=bearer(user)).json()] == ["cli"]


def test_organizations_and_whoami(client):
    owner, member = create_user(), create_user()
    org = unique("team")
    made = client.post("/api/organizations", headers=bearer(owner), json={"name": org})
    assert made.status_code == 201 and made.json()["members"] == [{"user": owner.name, "role": "admin"}]
    assert client.post(f"/api/organizations/{org}/members", headers=bearer(owner),
                       json={"user": member.name, "role": "write"}).status_code == 200
    me = client.get("/api/whoami-v2", headers=bearer(member)).json()
    assert me["type"] == "user" and me["name"] == member.name
    assert me["orgs"] == [{"type": "org", "name": org, "fullname": org, "roleInOrg": "write"}]
    # Names are shared between users and organizations, and checked.
    taken = client.post("/api/organizations", headers=bearer(owner), json={"name": member.name})
    assert taken.status_code == 409 and "taken" in taken.json()["error"]
    bad = client.post("/api/organizations", headers=bearer(owner), json={"name": "Bad_Org"})
    assert bad.status_code == 400 and "invalid organization name" in bad.json()["error"]
    role = client.post(f"/api/organizations/{org}/members", headers=bearer(owner), json={"user": member.name, "role": "owner"})
    assert role.status_code == 400 and "read, write, admin" in role.json()["error"]
    last = client.delete(f"/api/organizations/{org}/members/{owner.name}", headers=bearer(owner))
    assert last.status_code == 409 and "last admin" in last.json()["error"]


def test_admin_api_creates_a_user_who_can_sign_in(client):
    admin = create_user(admin=True)
    name = unique("new")
    made = client.post("/api/admin/users", headers=bearer(admin), json={"name": name, "password": PASSWORD})
    assert made.status_code == 201 and made.json()["hasPassword"] is True and made.json()["token"].startswith("spc_")
    assert name in {u["name"] for u in client.get("/api/admin/users", headers=bearer(admin)).json()}
    assert PASSWORD not in client.get("/api/admin/users", headers=bearer(admin)).text
    csrf = login_form(client)
    signed = client.post("/login", data={"csrf": csrf, "username": name, "password": PASSWORD, "next": "/api/whoami-v2"},
                         headers={"Origin": origin()}, follow_redirects=True)
    assert signed.status_code == 200 and signed.json()["name"] == name and signed.json()["auth"] == {"type": "session"}
    # A session reads through the API but cannot change anything there (no CSRF on JSON calls).
    assert client.post("/api/tokens", json={"name": "x", "role": "write"}).status_code == 401
    client.cookies.clear()
    short = client.post("/api/admin/users", headers=bearer(admin), json={"name": unique("weak"), "password": "short"})
    assert short.status_code == 400 and "10 to" in short.json()["error"]


def test_failed_sign_ins_are_limited_per_user(client):
    user = create_user()
    set_password(user, PASSWORD)
    for _ in range(5):
        csrf = login_form(client)
        wrong = client.post("/login", data={"csrf": csrf, "username": user.name, "password": "not the password"},
                            headers={"Origin": origin()})
        assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text
    csrf = login_form(client)
    locked = client.post("/login", data={"csrf": csrf, "username": user.name, "password": PASSWORD},
                         headers={"Origin": origin()})
    assert locked.status_code == 429 and "too many failed sign-ins" in locked.text
    assert 0 < int(locked.headers["retry-after"]) <= 300
    assert "spaces_session" not in locked.headers.get("set-cookie", "")
    # The user's tokens still work: the limit is on passwords.
    client.cookies.clear()
    assert client.get("/api/whoami-v2", headers=bearer(user)).status_code == 200


def test_sign_in_form_needs_its_csrf_token_and_our_origin(client):
    user = create_user()
    set_password(user, PASSWORD)
    csrf = login_form(client)
    data = {"csrf": csrf, "username": user.name, "password": PASSWORD}
    for headers, body in (({"Origin": "http://evil.spaces.localhost:8080"}, data),
                          ({"Origin": origin()}, {**data, "csrf": "forged"}),
                          ({"Origin": origin()}, {k: v for k, v in data.items() if k != "csrf"})):
        refused = client.post("/login", data=body, headers=headers)
        assert refused.status_code == 403 and "expired or came from another site" in refused.text
        assert "spaces_session" not in refused.headers.get("set-cookie", "")
    ok = client.post("/login", data=data, headers={"Origin": origin()})
    assert ok.status_code == 303
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Domain" not in cookie
    # Logging out needs the form's token too.
    assert client.post("/logout", data={"csrf": "forged"}, headers={"Origin": origin()}).status_code == 403
    assert client.get("/api/whoami-v2").status_code == 200


def test_request_bodies_are_bounded(client):
    user = create_user()
    huge = {"name": "x" * (2 * 1024 * 1024), "role": "read"}
    response = client.post("/api/tokens", headers=bearer(user), json=huge)
    assert response.status_code == 413 and "at most 1024 KiB" in response.json()["error"]
    assert client.get("/api/whoami-v2", headers=bearer(user)).status_code == 200


@pytest.mark.parametrize(("argv", "message"), [
    (["org", "create", "Bad_Org", "--admin", "{user}"], "invalid organization name 'Bad_Org'"),
    (["org", "create", "{user}", "--admin", "{user}"], "is taken (a user has it)"),
    (["org", "add-member", "{org}", "nobody-here-x", "--role", "read"], "user 'nobody-here-x' does not exist"),
    (["org", "add-member", "{org}", "{user}", "--role", "owner"], "a role is one of read, write, admin"),
    (["user", "create", "{user}"], "is taken (a user has it)"),
    (["user", "token", "{user}", "--role", "admin"], "a token role is 'read' or 'write'"),
    (["user", "set-password", "{user}"], "a password must be 10 to"),
])
def test_cli_refuses_bad_input_with_one_line_and_exit_1(client, argv, message):
    user = create_user()
    org = create_org(user)
    argv = [a.format(user=user.name, org=org) for a in argv]
    run = cli(*argv, input="short\n")
    assert run.exit_code == 1, run
    assert run.stderr.strip().startswith("error: ") and message in run.stderr, run.stderr
    assert client.get("/api/whoami-v2", headers=bearer(user)).status_code == 200  # nothing was broken
