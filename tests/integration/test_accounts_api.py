"""Accounts through the API and the sign-in page: tokens (named, shown once, listed with their
last use, revoked at once), organizations, the admin API, and the abuse limits — failed sign-ins
and bad tokens are rate-limited, forms need a CSRF token from our own origin, bodies are bounded."""

from __future__ import annotations

import random
import re
import subprocess

import httpx
import pytest

from tests.helpers import SPACES_CLI, api, base_url, create_org, create_user, set_password, unique

PASSWORD = "another long password"


def client_from(address: str | None = None) -> httpx.Client:
    """A client whose requests come from ``address`` (any of 127.0.0.0/8), so that counting
    failures against it does not lock out the other tests, which all come from 127.0.0.1."""
    address = address or f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30, base_url=base_url())


def login_form(client: httpx.Client) -> str:
    page = client.get("/login")
    assert page.status_code == 200
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def test_tokens_are_shown_once_listed_with_last_use_and_revoked_at_once(platform):
    user = create_user()
    made = api("POST", "/api/tokens", user, json={"name": "ci runner", "role": "read"})
    assert made.status_code == 201
    token = made.json()["token"]
    assert api("GET", "/api/whoami-v2", type("U", (), {"headers": {"Authorization": f"Bearer {token}"}})()).json()["auth"][
        "accessToken"] == {"displayName": "ci runner", "role": "read", "createdAt": made.json()["createdAt"]}
    listed = {t["name"]: t for t in api("GET", "/api/tokens", user).json()}
    assert set(listed) == {"cli", "ci runner"}
    assert listed["ci runner"]["lastUsedAt"].endswith("Z") and "token" not in listed["ci runner"]
    assert token not in api("GET", "/api/tokens", user).text
    assert api("DELETE", f"/api/tokens/{listed['ci runner']['id']}", user).status_code == 204
    assert httpx.get(f"{base_url()}/api/whoami-v2", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    # A read token cannot mint a write token.
    reader = api("POST", "/api/tokens", user, json={"name": "reader", "role": "read"}).json()["token"]
    denied = httpx.post(f"{base_url()}/api/tokens", json={"name": "escalate", "role": "write"},
                        headers={"Authorization": f"Bearer {reader}"})
    assert denied.status_code == 403 and "read-only" in denied.json()["error"]


@pytest.mark.parametrize(("body", "message"), [
    ({"name": "<script>", "role": "read"}, "invalid token name '<script>'"),
    ({"name": "", "role": "read"}, "invalid token name ''"),
    ({"name": "fine", "role": "admin"}, "a token role is 'read' or 'write'"),
])
def test_bad_token_requests_are_refused_clearly(platform, body, message):
    user = create_user()
    response = api("POST", "/api/tokens", user, json=body)
    assert response.status_code == 400 and message in response.json()["error"], response.text
    assert [t["name"] for t in api("GET", "/api/tokens", user).json()] == ["cli"]


def test_organizations_and_whoami(platform):
    owner, member = create_user(), create_user()
    org = unique("team")
    made = api("POST", "/api/organizations", owner, json={"name": org})
    assert made.status_code == 201 and made.json()["members"] == [{"user": owner.name, "role": "admin"}]
    assert api("POST", f"/api/organizations/{org}/members", owner, json={"user": member.name, "role": "write"}).status_code == 200
    me = api("GET", "/api/whoami-v2", member).json()
    assert me["type"] == "user" and me["name"] == member.name
    assert me["orgs"] == [{"type": "org", "name": org, "fullname": org, "roleInOrg": "write"}]
    # Names are shared between users and organizations, and checked.
    taken = api("POST", "/api/organizations", owner, json={"name": member.name})
    assert taken.status_code == 409 and "taken" in taken.json()["error"]
    bad = api("POST", "/api/organizations", owner, json={"name": "Bad_Org"})
    assert bad.status_code == 400 and "invalid organization name" in bad.json()["error"]
    role = api("POST", f"/api/organizations/{org}/members", owner, json={"user": member.name, "role": "owner"})
    assert role.status_code == 400 and "read, write, admin" in role.json()["error"]
    last = api("DELETE", f"/api/organizations/{org}/members/{owner.name}", owner)
    assert last.status_code == 409 and "last admin" in last.json()["error"]


def test_admin_api_creates_a_user_who_can_sign_in(platform):
    admin = create_user(admin=True)
    name = unique("new")
    made = api("POST", "/api/admin/users", admin, json={"name": name, "password": PASSWORD})
    assert made.status_code == 201 and made.json()["hasPassword"] is True and made.json()["token"].startswith("spc_")
    assert name in {u["name"] for u in api("GET", "/api/admin/users", admin).json()}
    assert PASSWORD not in api("GET", "/api/admin/users", admin).text
    with client_from() as client:
        csrf = login_form(client)
        signed = client.post("/login", data={"csrf": csrf, "username": name, "password": PASSWORD, "next": "/api/whoami-v2"},
                             headers={"Origin": base_url()}, follow_redirects=True)
        assert signed.status_code == 200 and signed.json()["name"] == name and signed.json()["auth"] == {"type": "session"}
        # A session reads through the API but cannot change anything there (no CSRF on JSON calls).
        assert client.post("/api/tokens", json={"name": "x", "role": "write"}).status_code == 401
    short = api("POST", "/api/admin/users", admin, json={"name": unique("weak"), "password": "short"})
    assert short.status_code == 400 and "10 to" in short.json()["error"]


def test_failed_sign_ins_are_limited_per_user(platform):
    user = create_user()
    set_password(user, PASSWORD)
    with client_from() as client:
        for _ in range(5):
            csrf = login_form(client)
            wrong = client.post("/login", data={"csrf": csrf, "username": user.name, "password": "not the password"},
                                headers={"Origin": base_url()})
            assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text
        csrf = login_form(client)
        locked = client.post("/login", data={"csrf": csrf, "username": user.name, "password": PASSWORD},
                             headers={"Origin": base_url()})
        assert locked.status_code == 429 and "too many failed sign-ins" in locked.text
        assert 0 < int(locked.headers["retry-after"]) <= 300
        assert "spaces_session" not in locked.headers.get("set-cookie", "")
    # The user's tokens still work: the limit is on passwords.
    assert api("GET", "/api/whoami-v2", user).status_code == 200


def test_sign_in_form_needs_its_csrf_token_and_our_origin(platform):
    user = create_user()
    set_password(user, PASSWORD)
    with client_from() as client:
        csrf = login_form(client)
        data = {"csrf": csrf, "username": user.name, "password": PASSWORD}
        for headers, body in (({"Origin": "http://evil.spaces.localhost:8080"}, data),
                              ({"Origin": base_url()}, {**data, "csrf": "forged"}),
                              ({"Origin": base_url()}, {k: v for k, v in data.items() if k != "csrf"})):
            refused = client.post("/login", data=body, headers=headers)
            assert refused.status_code == 403 and "expired or came from another site" in refused.text
            assert "spaces_session" not in refused.headers.get("set-cookie", "")
        ok = client.post("/login", data=data, headers={"Origin": base_url()})
        assert ok.status_code == 303
        cookie = ok.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Domain" not in cookie
        # Logging out needs the form's token too.
        assert client.post("/logout", data={"csrf": "forged"}, headers={"Origin": base_url()}).status_code == 403
        assert client.get("/api/whoami-v2").status_code == 200


def test_bad_tokens_are_limited_per_client(platform):
    user = create_user()
    with client_from() as attacker, client_from() as bystander:
        for i in range(30):
            assert attacker.get("/api/whoami-v2", headers={"Authorization": f"Bearer spc_guess{i}"}).status_code == 401
        blocked = attacker.get("/api/whoami-v2", headers={"Authorization": "Bearer spc_guess-more"})
        assert blocked.status_code == 429 and "too many requests with bad tokens" in blocked.json()["error"]
        assert int(blocked.headers["retry-after"]) <= 60
        # Only bad tokens are held back: a valid one works at once, from that client too (issue 17).
        assert attacker.get("/api/whoami-v2", headers={"Authorization": f"Bearer {user.token}"}).status_code == 200
        assert bystander.get("/api/whoami-v2", headers={"Authorization": f"Bearer {user.token}"}).status_code == 200


def test_request_bodies_are_bounded(platform):
    user = create_user()
    huge = {"name": "x" * (2 * 1024 * 1024), "role": "read"}
    response = api("POST", "/api/tokens", user, json=huge)
    assert response.status_code == 413 and "at most 1024 KiB" in response.json()["error"]
    assert api("GET", "/api/whoami-v2", user).status_code == 200


@pytest.mark.parametrize(("argv", "message"), [
    (["org", "create", "Bad_Org", "--admin", "{user}"], "invalid organization name 'Bad_Org'"),
    (["org", "create", "{user}", "--admin", "{user}"], "is taken (a user has it)"),
    (["org", "add-member", "{org}", "nobody-here-x", "--role", "read"], "user 'nobody-here-x' does not exist"),
    (["org", "add-member", "{org}", "{user}", "--role", "owner"], "a role is one of read, write, admin"),
    (["user", "create", "{user}"], "is taken (a user has it)"),
    (["user", "token", "{user}", "--role", "admin"], "a token role is 'read' or 'write'"),
    (["user", "set-password", "{user}"], "a password must be 10 to"),
])
def test_cli_refuses_bad_input_with_one_line_and_exit_1(platform, argv, message):
    user = create_user()
    org = create_org(user)
    argv = [a.format(user=user.name, org=org) for a in argv]
    run = subprocess.run([SPACES_CLI, *argv], input="short\n", capture_output=True, text=True, check=False)
    assert run.returncode == 1, run
    assert run.stderr.strip().startswith("error: ") and message in run.stderr, run.stderr
    assert api("GET", "/api/whoami-v2", user).status_code == 200  # nothing was broken
