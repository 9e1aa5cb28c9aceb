"""Deleting users and organizations (issue 17, finding 9): core.removal on a real Redis (db 15).

The Space deletion job is replaced by a recorder (the real one runs in the platform's run workers
and is exercised by tests/integration/test_abuse_accounts.py); "the job ran" is simulated by
purging the Space's records as the job does.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from controller import deps
from controller.app import app as platform_app
from core import accounts, keys, removal, services, sessions, store
from core.errors import Conflict, InvalidInput, NotFound
from core.settings import get_settings


@pytest.fixture
def jobs(monkeypatch) -> list[str]:
    """Space ids handed to the delete job (never queued for real: the queue is the platform's)."""
    queued: list[str] = []

    def enqueue(r, space_id: str) -> None:
        queued.append(space_id)
        r.hset(keys.space(space_id), "delete_job", f"job-{space_id}")

    monkeypatch.setattr(services, "enqueue_delete", enqueue)
    return queued


@pytest.fixture
def client(redis_db):
    platform_app.dependency_overrides[deps.get_store] = lambda: redis_db
    with TestClient(platform_app, base_url=get_settings().public_url(get_settings().domain)) as test_client:
        yield test_client
    platform_app.dependency_overrides.clear()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_user_without_spaces_is_gone_at_once_and_the_name_is_free(redis_db, jobs):
    accounts.create_user(redis_db, "root", role="admin")
    accounts.create_user(redis_db, "alice", password="correct horse battery")
    token = accounts.create_token(redis_db, "alice")
    sid = sessions.start_session(redis_db, "alice")
    accounts.create_org(redis_db, "acme", admin="root")
    accounts.set_member(redis_db, "acme", "alice", "write")
    result = removal.delete_user(redis_db, "alice")
    assert result == {"name": "alice", "type": "user", "state": "deleted", "spaces": []}
    assert accounts.lookup_token(redis_db, token) is None
    assert sessions.session_user(redis_db, sid) is None
    assert accounts.members_of(redis_db, "acme") == {"root": "admin"}
    assert not any("alice" in key for key in redis_db.scan_iter("spaces:user:*"))
    accounts.create_user(redis_db, "alice")  # free again
    assert accounts.orgs_of(redis_db, "alice") == {} and accounts.list_tokens(redis_db, "alice") == []
    assert jobs == []


def test_spaces_go_through_deletion_and_the_name_stays_taken_until_they_are_gone(redis_db, jobs):
    accounts.create_user(redis_db, "root", role="admin")
    accounts.create_user(redis_db, "bob")
    token = accounts.create_token(redis_db, "bob")
    for name in ("one", "two"):
        store.create_space(redis_db, f"bob/{name}")
    with pytest.raises(Conflict, match=r"owns 2 Space.*spaces=delete"):
        removal.delete_user(redis_db, "bob")
    assert accounts.lookup_token(redis_db, token) is not None  # a refusal loses nothing
    result = removal.delete_user(redis_db, "bob", spaces="delete")
    assert result["state"] == "deleting" and sorted(result["spaces"]) == ["bob/one", "bob/two"]
    assert sorted(jobs) == ["bob/one", "bob/two"]
    assert store.get_space(redis_db, "bob/one").stage == "DELETING"
    assert accounts.lookup_token(redis_db, token) is None
    assert deps.caller_for(redis_db, "bob", token_role="write") is None  # acts no more
    assert accounts.namespace_kind(redis_db, "bob") is None  # gets no new Space
    with pytest.raises(Conflict, match="being deleted"):
        accounts.create_user(redis_db, "bob")
    with pytest.raises(NotFound, match="being deleted"):
        accounts.create_token(redis_db, "bob")
    store.purge_space(redis_db, "bob/one")  # what the delete job does
    with pytest.raises(Conflict, match="being deleted"):
        accounts.create_org(redis_db, "bob", admin="root")
    store.purge_space(redis_db, "bob/two")
    accounts.create_org(redis_db, "bob", admin="root")  # the name is free once the Spaces are gone
    assert accounts.namespace_kind(redis_db, "bob") == "org"


def test_a_space_that_appears_meanwhile_is_deleted_too(redis_db, jobs):
    accounts.create_user(redis_db, "root", role="admin")
    accounts.create_user(redis_db, "carol")
    store.create_space(redis_db, "carol/old")
    removal.delete_user(redis_db, "carol", spaces="delete")
    store.create_space(redis_db, "carol/late")  # a push already under way made its record
    assert removal.finish(redis_db, "carol") is False
    assert "carol/late" in jobs


def test_the_last_platform_admin_and_an_orgs_last_admin_stay(redis_db, jobs):
    accounts.create_user(redis_db, "root", role="admin")
    accounts.create_user(redis_db, "dave")
    with pytest.raises(Conflict, match="last admin"):
        removal.delete_user(redis_db, "root")
    accounts.create_org(redis_db, "acme", admin="dave")
    with pytest.raises(Conflict, match="last admin of the organization 'acme'"):
        removal.delete_user(redis_db, "dave")
    accounts.create_user(redis_db, "root2", role="admin")
    removal.delete_user(redis_db, "root")  # another admin is left
    assert accounts.any_admin(redis_db)
    with pytest.raises(Conflict, match="last admin"):
        removal.delete_user(redis_db, "root2")


def test_transfer_is_refused_with_the_reason(redis_db, jobs):
    accounts.create_user(redis_db, "root", role="admin")
    accounts.create_user(redis_db, "erin")
    store.create_space(redis_db, "erin/keep")
    for kwargs in ({"transfer_to": "root"}, {"spaces": "transfer"}):
        with pytest.raises(InvalidInput, match=r"not offered.*named after its owner"):
            removal.delete_user(redis_db, "erin", **kwargs)
    assert store.get_space(redis_db, "erin/keep").stage != "DELETING" and jobs == []


def test_an_org_is_deleted_with_its_memberships_and_spaces(redis_db, jobs):
    accounts.create_user(redis_db, "root", role="admin")
    accounts.create_user(redis_db, "frank")
    accounts.create_org(redis_db, "acme", admin="frank")
    store.create_space(redis_db, "acme/app")
    result = removal.delete_org(redis_db, "acme", spaces="delete")
    assert result["state"] == "deleting" and jobs == ["acme/app"]
    assert accounts.orgs_of(redis_db, "frank") == {}
    with pytest.raises(NotFound, match="being deleted"):
        accounts.set_member(redis_db, "acme", "frank", "admin")
    store.purge_space(redis_db, "acme/app")
    assert removal.finish(redis_db, "acme") is True
    assert accounts.get_org(redis_db, "acme") is None and accounts.namespace_kind(redis_db, "acme") is None
    removal.delete_user(redis_db, "frank")  # no longer the last admin of anything


def test_the_owner_wheel_cache_does_not_pass_to_a_newcomer(redis_db, jobs):
    accounts.create_user(redis_db, "root", role="admin")
    accounts.create_user(redis_db, "gina")
    redis_db.hset(keys.deps_images_of("gina"), "k", "spaces-deps:old")
    removal.delete_user(redis_db, "gina")
    assert not redis_db.exists(keys.deps_images_of("gina"))


def test_the_api_routes_and_who_may_call_them(client, redis_db, jobs):
    accounts.create_user(redis_db, "root", role="admin")
    root = accounts.create_token(redis_db, "root")
    accounts.create_user(redis_db, "hank")
    hank = accounts.create_token(redis_db, "hank")
    accounts.create_user(redis_db, "ivy")
    ivy = accounts.create_token(redis_db, "ivy")
    accounts.create_org(redis_db, "acme", admin="hank")
    accounts.set_member(redis_db, "acme", "ivy", "write")
    store.create_space(redis_db, "hank/app")
    assert client.delete("/api/admin/users/ivy", headers=bearer(hank)).status_code == 403
    assert client.delete("/api/organizations/acme", headers=bearer(ivy)).status_code == 403
    refused = client.delete("/api/admin/users/hank", headers=bearer(root))
    assert refused.status_code == 409 and "last admin of the organization" in refused.json()["error"]
    gone = client.delete("/api/organizations/acme", headers=bearer(hank))
    assert gone.status_code == 200 and gone.json()["state"] == "deleted"
    pending = client.delete("/api/admin/users/hank", headers=bearer(root))
    assert pending.status_code == 409 and "spaces=delete" in pending.json()["error"]
    started = client.delete("/api/admin/users/hank?spaces=delete", headers=bearer(root))
    assert started.status_code == 202 and started.json() == {"name": "hank", "type": "user", "state": "deleting",
                                                             "spaces": ["hank/app"]}
    assert client.get("/api/whoami-v2", headers=bearer(hank)).status_code == 401
    assert client.delete("/api/admin/users/nobody", headers=bearer(root)).status_code == 404


def test_listing_the_accounts_frees_the_names_whose_spaces_are_gone(redis_db, jobs):
    accounts.create_user(redis_db, "root", role="admin")
    accounts.create_user(redis_db, "jack")
    accounts.create_org(redis_db, "crew", admin="root")
    for space_id in ("jack/a", "crew/b"):
        store.create_space(redis_db, space_id)
    removal.delete_user(redis_db, "jack", spaces="delete")
    removal.delete_org(redis_db, "crew", spaces="delete")
    removal.finish_all(redis_db)
    assert accounts.being_deleted(redis_db, "jack") and accounts.being_deleted(redis_db, "crew")
    store.purge_space(redis_db, "jack/a")
    store.purge_space(redis_db, "crew/b")
    removal.finish_all(redis_db)
    assert not redis_db.sismember(keys.USERS, "jack") and not redis_db.sismember(keys.ORGS, "crew")
    assert redis_db.hget(keys.NAMESPACES, "jack") is None and redis_db.hget(keys.NAMESPACES, "crew") is None
