"""Log lines in a Space's error message reach only those who may read those logs (issue 17, finding 6).

The anonymous runtime answer used to show a crashed app's last output (the run log is owners-only:
it may hold what visitors typed) and a protected Space's build-log tail (its build log is 403 to
others). Through the real FastAPI routes on Redis db 15: the runtime, the listing and the Space page.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from controller import deps
from controller.app import app as platform_app
from core import accounts, keys, store
from core.access import error_message_for, without_log_lines
from core.models import Space
from core.settings import get_settings
from core.stages import Stage

APP_LINE = "visitor typed: my-private-note-4242"
BUILD_LINE = "Step 3/9 : RUN echo private-build-detail-7171"
CRASH = (f"the app exited with code 1\n--- last log lines ---\nloading...\n{APP_LINE}\n"
         "(restarting in 2 s, attempt 2 of 4)")
BUILD = f"the image build failed: exit code 2\n--- last build log lines ---\n{BUILD_LINE}\nerror: exit code 2"


@pytest.fixture
def client(redis_db):
    platform_app.dependency_overrides[deps.get_store] = lambda: redis_db
    with TestClient(platform_app, base_url=get_settings().public_url(get_settings().domain)) as test_client:
        yield test_client
    platform_app.dependency_overrides.pop(deps.get_store, None)


@pytest.fixture
def people(redis_db) -> dict[str, dict[str, str]]:
    """Bearer headers: the owner (write token), the owner with a read token, and a stranger."""
    accounts.create_user(redis_db, "olive")
    accounts.create_user(redis_db, "stan")
    return {
        "owner": {"Authorization": f"Bearer {accounts.create_token(redis_db, 'olive')}"},
        "owner-read": {"Authorization": f"Bearer {accounts.create_token(redis_db, 'olive', role='read', display_name='ro')}"},
        "stranger": {"Authorization": f"Bearer {accounts.create_token(redis_db, 'stan')}"},
        "anonymous": {},
    }


def failed_space(r, name: str, stage: Stage, message: str, visibility: str = "public") -> str:
    space_id = f"olive/{name}"
    store.create_space(r, space_id, sdk="gradio")
    r.hset(keys.space(space_id), "visibility", visibility)
    store.set_stage(r, space_id, stage, message=message)
    return space_id


def test_the_log_lines_are_cut_and_the_reason_kept():
    shown = without_log_lines(CRASH, build=True, run=False)
    assert APP_LINE not in shown and "loading..." not in shown
    assert shown.startswith("the app exited with code 1") and shown.endswith("(restarting in 2 s, attempt 2 of 4)")
    assert "visible to the Space's owners" in shown
    assert without_log_lines(CRASH, build=True, run=True) == CRASH
    assert BUILD_LINE not in without_log_lines(BUILD, build=False, run=True)


def test_a_forged_status_line_in_the_log_is_not_kept():
    message = "the app exited with code 1\n--- last log lines ---\n(restarting in 1 s, attempt 1 of 4)\nsecret-line"
    assert "secret-line" not in without_log_lines(message, build=True, run=False)


def test_an_old_huge_message_is_cut():
    shown = error_message_for(None, Space(id="a/b", owner="a"), "RUNTIME_ERROR", "x" * 7_000_000)
    assert len(shown) <= 8000 and shown.endswith("…")


@pytest.mark.parametrize(("who", "sees"), [("owner", True), ("owner-read", False), ("stranger", False), ("anonymous", False)])
def test_a_crashed_apps_log_lines_only_for_those_who_read_its_run_log(client, redis_db, people, who, sees):
    space_id = failed_space(redis_db, "crashed", Stage.RUNTIME_ERROR, CRASH)
    headers = people[who]
    message = client.get(f"/api/spaces/{space_id}/runtime", headers=headers).json()["errorMessage"]
    assert "the app exited with code 1" in message and "attempt 2 of 4" in message
    assert (APP_LINE in message) is sees
    listed = client.get("/api/spaces", headers=headers).json()
    assert (APP_LINE in str(listed)) is sees and "exited with code 1" in str(listed)
    assert (APP_LINE in client.get(f"/api/spaces/{space_id}", headers=headers).text) is sees
    page = client.get(f"/spaces/{space_id}", headers=headers)
    assert page.status_code == 200 and "exited with code 1" in page.text
    assert (APP_LINE in page.text) is sees


@pytest.mark.parametrize(("who", "sees"), [("owner", True), ("owner-read", True), ("stranger", False), ("anonymous", False)])
def test_a_protected_spaces_build_failure_only_for_those_who_read_its_build_log(client, redis_db, people, who, sees):
    space_id = failed_space(redis_db, "guarded", Stage.BUILD_ERROR, BUILD, visibility="protected")
    headers = people[who]
    for answer in (client.get(f"/api/spaces/{space_id}/runtime", headers=headers).text,
                   client.get("/api/spaces", headers=headers).text,
                   client.get(f"/spaces/{space_id}", headers=headers).text):
        assert (BUILD_LINE in answer) is sees
        assert ("the image build failed" in answer) is sees
        assert "BUILD_ERROR" in answer


def test_a_public_spaces_build_log_tail_stays_public(client, redis_db, people):
    space_id = failed_space(redis_db, "open", Stage.BUILD_ERROR, BUILD)
    assert BUILD_LINE in client.get(f"/api/spaces/{space_id}/runtime").json()["errorMessage"]


def test_a_protected_spaces_config_error_does_not_quote_its_readme_to_others(client, redis_db, people):
    space_id = failed_space(redis_db, "cfg", Stage.CONFIG_ERROR, "invalid README.md front matter: 'sdk' is 'secret-sdk'",
                            visibility="protected")
    assert "secret-sdk" not in client.get(f"/api/spaces/{space_id}/runtime").text
    assert "secret-sdk" in client.get(f"/api/spaces/{space_id}/runtime", headers=people["owner"]).text
