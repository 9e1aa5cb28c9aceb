"""Lock-out by the bad (issue 17, finding 3): others' failures never refuse a valid credential.

On one host every client is 127.0.0.1 behind Traefik, so a limit per client address alone let one
client's flood of wrong tokens or passwords lock everyone out. These tests flood from one address
and then present valid credentials from the same address, through the real FastAPI routes (API,
git smart HTTP, sign-in form) on a real Redis (db 15).
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from controller import deps
from controller.app import app as platform_app
from core import accounts, sessions
from core.errors import Unauthorized
from core.settings import get_settings

PASSWORD = "correct horse battery"
FLOOD = 100


@pytest.fixture
def client(redis_db):
    """The platform's own app (its error handlers), on Redis db 15."""
    platform_app.dependency_overrides[deps.get_store] = lambda: redis_db
    with TestClient(platform_app, base_url=get_settings().public_url(get_settings().domain)) as test_client:
        yield test_client
    platform_app.dependency_overrides.clear()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def flood_bad_tokens(client: TestClient, count: int = FLOOD) -> list[int]:
    return [client.get("/api/whoami-v2", headers=bearer(f"spc_guess{i}")).status_code for i in range(count)]


def test_a_valid_token_works_after_a_flood_of_bad_ones_from_the_same_address(redis_db):
    accounts.create_user(redis_db, "admin1", role="admin")
    token = accounts.create_token(redis_db, "admin1")
    limit = get_settings().token_failures_per_minute
    answers = []
    for i in range(FLOOD):
        try:
            deps.caller_from_token(redis_db, f"spc_guess{i}", "127.0.0.1")
        except sessions.TooManyFailures as exc:
            answers.append(exc.status)
        except Unauthorized as exc:
            answers.append(exc.status)
    assert answers[:limit] == [401] * limit and set(answers[limit:]) == {429}
    caller = deps.caller_from_token(redis_db, token, "127.0.0.1")
    assert caller.name == "admin1" and caller.is_admin


def test_the_api_answers_a_valid_token_at_once_and_the_flood_429(client, redis_db):
    accounts.create_user(redis_db, "admin1", role="admin")
    token = accounts.create_token(redis_db, "admin1")
    statuses = flood_bad_tokens(client)
    assert statuses[0] == 401 and statuses[-1] == 429
    ok = client.get("/api/whoami-v2", headers=bearer(token))
    assert ok.status_code == 200 and ok.json()["name"] == "admin1"
    assert client.get("/api/admin/users", headers=bearer(token)).status_code == 200
    still = client.get("/api/whoami-v2", headers=bearer("spc_guess-again"))
    assert still.status_code == 429 and "too many requests with bad tokens" in still.json()["error"]
    assert 0 < int(still.headers["retry-after"]) <= 60


def test_git_with_a_valid_token_passes_after_the_flood_and_bad_ones_get_429(client, redis_db):
    accounts.create_user(redis_db, "alice")
    token = accounts.create_token(redis_db, "alice")
    flood_bad_tokens(client)
    url = "/spaces/alice/nothing-here/info/refs?service=git-upload-pack"
    refused = client.get(url, auth=("alice", "spc_wrong"))
    assert refused.status_code == 429 and "too many requests with bad tokens" in refused.text
    assert 0 < int(refused.headers["retry-after"]) <= 60
    # A valid token goes past authentication and is answered (here: the Space does not exist;
    # nothing is made on disk), not held back.
    passed = client.get(url, auth=("alice", token))
    assert passed.status_code == 404 and "does not exist" in passed.text, passed.text


def test_one_repeated_bad_token_is_limited_even_from_many_addresses(redis_db):
    limit = get_settings().token_failures_per_minute
    for i in range(limit):
        assert sessions.bad_token(redis_db, "spc_leaked", f"10.0.0.{i}", limit) is None
    refusal = sessions.bad_token(redis_db, "spc_leaked", "10.0.1.1", limit)
    assert refusal is not None and "this bad token" in refusal.message
    assert not any("spc_leaked" in key for key in redis_db.scan_iter("*"))  # counted by hash only


def test_sign_in_works_for_a_user_nobody_is_guessing_after_a_spray_from_the_same_address(redis_db):
    s = get_settings()
    accounts.create_user(redis_db, "dave", password=PASSWORD)
    for i in range(s.login_failures_per_client + 5):
        sessions.check_sign_in(redis_db, f"victim{i}", "127.0.0.1", per_user=s.login_failures_per_user,
                               per_client=s.login_failures_per_client)
        sessions.sign_in_failed(redis_db, f"victim{i}", "127.0.0.1", per_client=s.login_failures_per_client)
    # dave has no failure: the client past its budget still gets to try dave's password.
    sessions.check_sign_in(redis_db, "dave", "127.0.0.1", per_user=s.login_failures_per_user,
                           per_client=s.login_failures_per_client)
    # A name that already failed from there is refused before its password is checked: one guess per name.
    with pytest.raises(sessions.TooManyFailures, match="from your address"):
        sessions.check_sign_in(redis_db, "victim3", "127.0.0.1", per_user=s.login_failures_per_user,
                               per_client=s.login_failures_per_client)


def sign_in(client: TestClient, name: str, password: str, *, keep: bool = False):
    if not keep:
        client.cookies.clear()  # a fresh browser each time
    client.cookies.delete(sessions.SESSION_COOKIE)
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return client.post("/login", data={"csrf": csrf, "username": name, "password": password, "next": "/"},
                       follow_redirects=False)


def test_the_sign_in_form_after_a_spray_lets_the_right_password_in_and_answers_the_spray_429(client, redis_db):
    s = get_settings()
    accounts.create_user(redis_db, "dave", password=PASSWORD)
    statuses = [sign_in(client, f"sprayed{i}", "wrong password!").status_code for i in range(s.login_failures_per_client + 3)]
    assert statuses[0] == 401 and statuses[-1] == 429
    ok = sign_in(client, "dave", PASSWORD)
    assert ok.status_code == 303 and "spaces_session" in ok.headers["set-cookie"]
    again = sign_in(client, "sprayed0", "another guess!!")
    assert again.status_code == 429 and int(again.headers["retry-after"]) > 0


def test_a_user_under_attack_is_still_locked_per_user(client, redis_db):
    accounts.create_user(redis_db, "erin", password=PASSWORD)
    for _ in range(get_settings().login_failures_per_user):
        assert sign_in(client, "erin", "not the password").status_code == 401
    locked = sign_in(client, "erin", PASSWORD)
    assert locked.status_code == 429 and "too many failed sign-ins for erin" in locked.text



def test_a_browser_where_the_user_signed_in_before_is_not_locked_out_by_others_guesses(client, redis_db):
    accounts.create_user(redis_db, "finn", password=PASSWORD)
    accounts.create_user(redis_db, "gail", password=PASSWORD)
    assert sign_in(client, "finn", PASSWORD).status_code == 303  # finn's own browser, remembered
    device = client.cookies.get(sessions.DEVICE_COOKIE)
    assert device
    with TestClient(client.app, base_url=str(client.base_url)) as attacker:
        for _ in range(get_settings().login_failures_per_user):
            assert sign_in(attacker, "finn", "a wrong guess!!").status_code == 401
        assert sign_in(attacker, "finn", PASSWORD).status_code == 429  # a new browser: locked
        for _ in range(get_settings().login_failures_per_user):
            assert sign_in(attacker, "gail", "a wrong guess!!").status_code == 401
        attacker.cookies.set(sessions.DEVICE_COOKIE, device, path="/login")
        assert sign_in(attacker, "gail", PASSWORD, keep=True).status_code == 429  # finn's cookie is finn's only
    client.cookies.clear()
    client.cookies.set(sessions.DEVICE_COOKIE, device, path="/login")
    assert sign_in(client, "finn", PASSWORD, keep=True).status_code == 303
    client.cookies.clear()
    client.cookies.set(sessions.DEVICE_COOKIE, "forged.00", path="/login")
    assert sign_in(client, "finn", PASSWORD, keep=True).status_code == 429
