"""Administering accounts: deleting organizations and users (API, the ``spaces`` command, the admin
page's form), who may see the admin pages, what the admin forms create and revoke, and the first
administrator ``make up`` makes. Moved from tests/integration/test_abuse_accounts.py,
test_admin_pages.py and test_first_admin.py (their assertions unchanged): no Space of these runs,
so the controller's app and the command's own code answer here, in process, on the fast tier's
Redis. Deleting a user whose Spaces go through the real deletion job, and the admin pages' figures
and actions on running Spaces, stay in tests/integration."""

from __future__ import annotations

import re
import stat

import pytest

from core import accounts, store
from core.stages import Stage
from tests.helpers import User, unique
from tests.unit.inproc import bearer, cli, create_org, create_user, origin, own_data_dir, platform_client, set_password, signed_in

PASSWORD = "a long admin password"


@pytest.fixture
def client(redis_db, tmp_path):
    with own_data_dir(tmp_path / "data"), platform_client(redis_db) as test_client:
        yield test_client


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


# ---------------------------------------------------------------- from tests/integration/test_abuse_accounts.py


def test_an_org_admin_deletes_the_organization_and_members_lose_it(client):
    owner, writer = create_user(), create_user()
    org = create_org(owner, {writer.name: "write"})
    assert client.delete(f"/api/organizations/{org}", headers=bearer(writer)).status_code == 403
    gone = client.delete(f"/api/organizations/{org}", headers=bearer(owner))
    assert gone.status_code == 200 and gone.json()["state"] == "deleted"
    assert org not in {o["name"] for o in client.get("/api/whoami-v2", headers=bearer(writer)).json()["orgs"]}
    assert client.get(f"/api/organizations/{org}/members", headers=bearer(owner)).status_code == 404
    remade = client.post("/api/organizations", headers=bearer(writer), json={"name": org})
    assert remade.status_code == 201 and [m["user"] for m in remade.json()["members"]] == [writer.name]


def test_the_command_line_deletes_and_refuses_a_transfer_with_the_reason(client):
    doomed, keeper = create_user(), create_user()
    refused = cli("user", "delete", doomed.name, "--transfer-to", keeper.name)
    assert refused.exit_code == 1 and "not offered" in refused.stderr
    assert client.get("/api/whoami-v2", headers=bearer(doomed)).status_code == 200
    done = cli("user", "delete", doomed.name)
    assert done.exit_code == 0 and f"deleted user {doomed.name}" in done.stdout, done.stderr
    assert client.get("/api/whoami-v2", headers=bearer(doomed)).status_code == 401
    org = create_org(keeper)
    dropped = cli("org", "delete", org)
    assert dropped.exit_code == 0 and f"deleted org {org}" in dropped.stdout, dropped.stderr


def test_the_admin_page_deletes_a_user_with_its_form(client):
    admin, doomed = create_user(admin=True), create_user()
    set_password(admin, PASSWORD)
    with signed_in(client, admin, PASSWORD) as browser:
        page = browser.get("/admin/users")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        assert 'action="/admin/users/delete-user"' in page.text
        unconfirmed = browser.post("/admin/users/delete-user", data={"csrf": csrf, "user": doomed.name, "confirm": "x"},
                                   headers={"Origin": origin()})
        assert unconfirmed.status_code == 400 and "confirmation" in unconfirmed.text
        forged = browser.post("/admin/users/delete-user", data={"csrf": "forged", "user": doomed.name, "confirm": doomed.name},
                              headers={"Origin": origin()})
        assert forged.status_code == 403
        assert client.get("/api/whoami-v2", headers=bearer(doomed)).status_code == 200
        deleted = browser.post("/admin/users/delete-user", data={"csrf": csrf, "user": doomed.name, "confirm": doomed.name},
                               headers={"Origin": origin()})
        assert deleted.status_code == 303 and "deleted" in deleted.headers["location"]
    assert client.get("/api/whoami-v2", headers=bearer(doomed)).status_code == 401
    assert doomed.name not in {u["name"] for u in client.get("/api/admin/users", headers=bearer(admin)).json()}


# ---------------------------------------------------------------- from tests/integration/test_admin_pages.py

ADMIN_PASSWORD = "admin pages password"


@pytest.fixture
def people(client, redis_db):
    """An admin and an owner (with an organization, and a Space whose record says it runs), both
    with passwords: (admin, owner, the Space's id) — the parts of test_admin_pages.py's ``fleet``
    these checks use."""
    admin, owner = create_user(admin=True), create_user()
    set_password(admin, ADMIN_PASSWORD)
    set_password(owner, ADMIN_PASSWORD)
    create_org(owner)
    busy = f"{owner.name}/busy"
    store.create_space(redis_db, busy, sdk="gradio")
    store.set_stage(redis_db, busy, Stage.RUNNING)
    return admin, owner, busy


def test_only_admins_see_the_dashboard(client, people):
    _admin, owner, _busy = people
    assert client.get("/admin").status_code == 302
    with signed_in(client, owner, ADMIN_PASSWORD) as browser:
        for path in ("/admin", "/admin/users", "/admin/system"):
            refused = browser.get(path)
            assert refused.status_code == 403 and "Admins only" in refused.text
        assert 'href="/admin"' not in browser.get("/").text


def test_admin_creates_users_and_organizations_and_revokes_tokens(client, people):
    admin, owner, busy = people
    origin_header = {"Origin": origin()}
    with signed_in(client, admin, ADMIN_PASSWORD) as browser:
        csrf = csrf_of(browser.get("/admin/users").text)
        name = unique("hired")
        made = browser.post("/admin/users/create-user", data={"csrf": csrf, "name": name, "password": "a long password"},
                            headers=origin_header)
        assert made.status_code == 200 and f"User {name} created" in made.text
        token = re.search(r'id="new-token">.*?<code>([^<]+)</code>', made.text, re.S).group(1)
        hired = User(name=name, token=token)
        assert client.get("/api/whoami-v2", headers=bearer(hired)).json()["name"] == name
        # A bad name: refused with the reason, nothing created.
        bad = browser.post("/admin/users/create-user", data={"csrf": csrf, "name": "Not A Name!"}, headers=origin_header)
        assert bad.status_code == 400 and "form-error" in bad.text
        assert "Not A Name!" not in {u["name"] for u in client.get("/api/admin/users", headers=bearer(admin)).json()}
        org = unique("team")
        done = browser.post("/admin/users/create-org", data={"csrf": csrf, "name": org, "admin": name}, headers=origin_header,
                            follow_redirects=True)
        assert f"Organization {org} created; {name} is its admin" in done.text
        assert re.search(rf'data-org="{org}"><td>.*?</td>\s*<td>{name} \(admin\)</td>', done.text)
        done = browser.post("/admin/users/add-member", data={"csrf": csrf, "org": org, "user": owner.name, "role": "write"},
                            headers=origin_header, follow_redirects=True)
        assert f"{owner.name} is now write in {org}" in done.text
        missing = browser.post("/admin/users/add-member", data={"csrf": csrf, "org": org, "user": unique("nobody"), "role": "read"},
                               headers=origin_header)
        assert missing.status_code == 404 and "form-error" in missing.text
        # Revoke the new user's token from its row: it stops working at once.
        user_row = re.search(rf'<tr data-user="{name}">(.*?)</tr>', browser.get("/admin/users").text, re.S).group(1)
        token_id = re.search(r'name="id" value="([0-9a-f]+)"', user_row).group(1)
        done = browser.post("/admin/users/revoke-token", data={"csrf": csrf, "user": name, "id": token_id, "name": "created by admin"},
                            headers=origin_header, follow_redirects=True)
        assert "Token created by admin of " + name + " revoked" in done.text
        assert client.get("/api/whoami-v2", headers=bearer(hired)).status_code == 401
        forged = browser.post("/admin/users/create-org", data={"csrf": "forged", "name": unique("x")}, headers=origin_header)
        assert forged.status_code == 403
    # A non-admin's own session and CSRF token are not enough.
    with signed_in(client, owner, ADMIN_PASSWORD) as browser:
        csrf = csrf_of(browser.get(f"/spaces/{busy}/settings").text)  # a valid token of the owner's session
        refused = browser.post("/admin/users/create-org", data={"csrf": csrf, "name": unique("y")}, headers=origin_header)
        assert refused.status_code == 403
    # Through the API: only a platform admin names someone else as an organization's first admin.
    other = create_user()
    assert client.post("/api/organizations", headers=bearer(owner), json={"name": unique("z"), "admin": other.name}).status_code == 403
    assert client.post("/api/organizations", headers=bearer(admin), json={"name": unique("z"), "admin": other.name}).status_code == 201


# ---------------------------------------------------------------- from tests/integration/test_first_admin.py


def test_ensure_admin_creates_one_administrator_once(redis_db, tmp_path):
    """The first ``make up`` makes an administrator and says where its credentials are (``spaces
    admin ensure-admin``, run here against the fast tier's empty Redis database and a new data directory)."""
    with own_data_dir(tmp_path):
        first = cli("admin", "ensure-admin")
        assert first.exit_code == 0, first.stderr
        path = tmp_path / "admin-credentials"
        assert first.stdout.strip() == str(path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        fields = dict(line.split(": ", 1) for line in path.read_text().splitlines())
        assert fields["user"] == "administrator"
        assert accounts.check_password(redis_db, "administrator", fields["password"])
        assert accounts.lookup_token(redis_db, fields["token"]).user == "administrator"
        assert accounts.get_user(redis_db, "administrator").role == "admin"
        second = cli("admin", "ensure-admin")
        assert second.exit_code == 0 and second.stdout.strip() == str(path)
        assert [u.name for u in accounts.list_users(redis_db)] == ["administrator"]
