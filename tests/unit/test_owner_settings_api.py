"""Who may set a Space's sleep time, variables and secrets, what the API answers bad values with,
and what the Settings page's forms ask for. Moved from tests/integration/test_sleep.py,
test_envvars.py and test_pages.py (their assertions unchanged):
the answers come from the controller alone, so its app answers here, in process, about a Space
whose record says it runs (on the fast tier's Redis, secrets' key in a data directory of the
test's own). What the app sees of them, and sleeping and waking, stay in tests/integration."""

from __future__ import annotations

import re

import pytest

from core import store
from core.stages import Stage
from tests.helpers import space_url
from tests.unit.inproc import bearer, create_user, origin, own_data_dir, platform_client, set_password, signed_in

PASSWORD = "a password for pages"


@pytest.fixture
def client(redis_db, tmp_path):
    with own_data_dir(tmp_path / "data"), platform_client(redis_db) as test_client:
        yield test_client


@pytest.fixture
def running(redis_db):
    """``running(name)``: a running Gradio Space of a new owner, as a push makes it: (space_id, owner)."""

    def make(name: str):
        owner = create_user()
        space_id = f"{owner.name}/{name}"
        store.create_space(redis_db, space_id, sdk="gradio")
        store.set_stage(redis_db, space_id, Stage.RUNNING)
        return space_id, owner

    return make


@pytest.fixture
def other_user(client):
    return create_user()


# ---------------------------------------------------------------- from tests/integration/test_sleep.py


def test_sleep_time_is_validated_and_owner_only(client, running, other_user):
    space_id, owner = running("sleepy")

    def set_sleep(user, seconds: object):
        return client.post(f"/api/spaces/{space_id}/sleeptime", headers=bearer(user), json={"seconds": seconds})

    def runtime() -> dict:
        return client.get(f"/api/spaces/{space_id}/runtime").json()

    for bad in ("soon", 0, -2, 1.5, True, 10**9):
        response = set_sleep(owner, bad)
        assert response.status_code == 400, (bad, response.text)
        assert "-1 (never sleep)" in response.json()["error"], response.text
    assert client.post(f"/api/spaces/{space_id}/sleeptime", json={"seconds": 5}).status_code == 401
    assert set_sleep(other_user, 5).status_code == 403
    assert runtime()["gcTimeout"] == 172800  # the default: 48 hours, as on HF
    response = set_sleep(owner, -1)
    assert response.status_code == 200 and response.json()["gcTimeout"] is None
    assert runtime()["stage"] == "RUNNING"


# ---------------------------------------------------------------- from tests/integration/test_envvars.py


def test_only_the_owner_may_see_or_change_secrets(client, running, other_user):
    space_id, _owner = running("envprobe")
    assert client.get(f"/api/spaces/{space_id}/secrets").status_code == 401
    assert client.get(f"/api/spaces/{space_id}/secrets", headers=bearer(other_user)).status_code == 403
    for kind in ("secrets", "variables"):
        denied = client.post(f"/api/spaces/{space_id}/{kind}", headers=bearer(other_user), json={"key": "X", "value": "y"})
        assert denied.status_code == 403
        assert client.post(f"/api/spaces/{space_id}/{kind}", json={"key": "X", "value": "y"}).status_code == 401


@pytest.mark.parametrize(
    ("kind", "body", "status", "message"),
    [
        ("variables", {"key": "1BAD", "value": "x"}, 400, "invalid variable name '1BAD'"),
        ("secrets", {"key": "has-dash", "value": "x"}, 400, "invalid secret name 'has-dash'"),
        ("variables", {"key": "SPACE_ID", "value": "x"}, 400, "is reserved"),
        ("secrets", {"key": "GREETING", "value": "x"}, 409, "already a variable"),
    ],
)
def test_bad_keys_are_refused_clearly(client, running, kind, body, status, message):
    space_id, owner = running("envprobe")
    client.post(f"/api/spaces/{space_id}/variables", headers=bearer(owner), json={"key": "GREETING", "value": "bonjour"})
    response = client.post(f"/api/spaces/{space_id}/{kind}", headers=bearer(owner), json=body)
    assert response.status_code == status and message in response.json()["error"]


# ---------------------------------------------------------------- from tests/integration/test_pages.py


def test_settings_forms_need_the_session_and_its_csrf_token(client, running):
    space_id, owner = running("shown")
    set_password(owner, PASSWORD)
    url = space_url(client.get(f"/api/spaces/{space_id}").json()["subdomain"])
    assert client.get(f"/spaces/{space_id}/settings").status_code == 302
    with signed_in(client, owner, PASSWORD) as browser:
        page = browser.get(f"/spaces/{space_id}/settings")
        assert page.status_code == 200 and "Delete this Space" in page.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        forged = browser.post(f"/spaces/{space_id}/settings/pause", data={"csrf": "forged"}, headers={"Origin": origin()})
        other_site = browser.post(f"/spaces/{space_id}/settings/pause", data={"csrf": csrf}, headers={"Origin": url.rstrip("/")})
        assert forged.status_code == 403 and other_site.status_code == 403
        wrong = browser.post(f"/spaces/{space_id}/settings/delete", data={"csrf": csrf, "confirm": "yes"}, headers={"Origin": origin()})
        assert wrong.status_code == 400 and f"type the Space&#39;s full name, {space_id}" in wrong.text
        bad = browser.post(f"/spaces/{space_id}/settings/variable", data={"csrf": csrf, "key": "1BAD", "value": "x"},
                           headers={"Origin": origin()})
        assert bad.status_code == 400 and "invalid variable name" in bad.text
    assert client.get(f"/api/spaces/{space_id}/runtime", headers=bearer(owner)).json()["stage"] == "RUNNING"
    assert client.get(f"/api/spaces/{space_id}/variables").json() == {}
