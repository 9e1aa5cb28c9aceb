"""Users, organizations, tokens and passwords (core.accounts) and the access rules (core.access)."""

from __future__ import annotations

import pytest

from core import accounts, sessions
from core.access import Caller, may_read_repo, may_read_space, may_write_namespace, require_read, require_write
from core.errors import Conflict, Forbidden, InvalidInput, InvalidName, NotFound
from core.models import Space


def test_tokens_are_stored_hashed_listed_and_revoked(redis_db):
    accounts.create_user(redis_db, "alice")
    token = accounts.create_token(redis_db, "alice", role="read", display_name="laptop")
    for key in redis_db.scan_iter("*"):
        assert token not in key
        if redis_db.type(key) == "hash":
            assert token not in redis_db.hgetall(key).values()
    assert accounts.lookup_token(redis_db, token).user == "alice"
    assert accounts.lookup_token(redis_db, token + "x") is None
    [listed] = accounts.list_tokens(redis_db, "alice")
    assert listed.name == "laptop" and listed.role == "read" and listed.last_used_at
    accounts.revoke_token(redis_db, "alice", listed.id)
    assert accounts.lookup_token(redis_db, token) is None
    with pytest.raises(NotFound):
        accounts.revoke_token(redis_db, "alice", listed.id)


@pytest.mark.parametrize("name", ["", " ", "x" * 65, "new\nline", "<script>"])
def test_token_names_are_validated(redis_db, name):
    accounts.create_user(redis_db, "alice")
    with pytest.raises(InvalidName, match="token name"):
        accounts.create_token(redis_db, "alice", display_name=name)


def test_user_and_org_names_share_one_namespace(redis_db):
    accounts.create_user(redis_db, "bob")
    with pytest.raises(Conflict):
        accounts.create_user(redis_db, "bob")
    with pytest.raises(InvalidName):
        accounts.create_user(redis_db, "Bob_1")
    with pytest.raises(NotFound):
        accounts.create_token(redis_db, "nobody")
    accounts.create_org(redis_db, "acme", admin="bob")
    with pytest.raises(Conflict, match="organization"):
        accounts.create_user(redis_db, "acme")
    with pytest.raises(Conflict, match="user"):
        accounts.create_org(redis_db, "bob", admin="bob")
    assert accounts.namespace_kind(redis_db, "acme") == "org"
    assert accounts.orgs_of(redis_db, "bob") == {"acme": "admin"}


def test_members_and_the_last_admin(redis_db):
    accounts.create_user(redis_db, "bob")
    accounts.create_user(redis_db, "carol")
    accounts.create_org(redis_db, "acme", admin="bob")
    accounts.set_member(redis_db, "acme", "carol", "write")
    assert accounts.members_of(redis_db, "acme") == {"bob": "admin", "carol": "write"}
    with pytest.raises(InvalidInput, match="read, write, admin"):
        accounts.set_member(redis_db, "acme", "carol", "owner")
    with pytest.raises(Conflict, match="last admin"):
        accounts.remove_member(redis_db, "acme", "bob")
    accounts.remove_member(redis_db, "acme", "carol")
    assert accounts.orgs_of(redis_db, "carol") == {}


def test_passwords_are_argon2_hashed_and_checked(redis_db):
    accounts.create_user(redis_db, "dave", password="correct horse battery")
    stored = redis_db.hget("spaces:user:dave", "password")
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert accounts.check_password(redis_db, "dave", "correct horse battery")
    assert not accounts.check_password(redis_db, "dave", "wrong password!")
    assert not accounts.check_password(redis_db, "nobody", "correct horse battery")
    with pytest.raises(InvalidInput, match="10 to"):
        accounts.set_password(redis_db, "dave", "short")


def test_failures_are_limited_per_window(redis_db):
    for _ in range(3):
        sessions.check_failures(redis_db, "login-user", "eve", 3, "failed sign-ins")
        sessions.record_failure(redis_db, "login-user", "eve", 60)
    with pytest.raises(sessions.TooManyFailures) as refused:
        sessions.check_failures(redis_db, "login-user", "eve", 3, "failed sign-ins")
    assert 0 < refused.value.retry_after <= 60 and refused.value.status == 429


def test_tickets_are_single_use_and_bound_to_one_space(redis_db):
    ticket = sessions.issue_ticket(redis_db, "alice", "acme/app")
    assert sessions.redeem_ticket(redis_db, ticket, "other/app") is None  # used up by the wrong Space too
    assert sessions.redeem_ticket(redis_db, ticket, "acme/app") is None
    ticket = sessions.issue_ticket(redis_db, "alice", "acme/app")
    assert sessions.redeem_ticket(redis_db, ticket, "acme/app") == "alice"
    sid = sessions.start_space_session(redis_db, "alice", "acme/app")
    assert sessions.space_session_user(redis_db, sid, "acme/app") == "alice"
    assert sessions.space_session_user(redis_db, sid, "acme/other") is None


FIELDS = {"id": "acme/app", "owner": "acme", "visibility": "private"}
SPACE = Space.load(FIELDS)  # as the store reads the record


@pytest.mark.parametrize(("caller", "reads", "writes"), [
    (None, False, False),
    (Caller("stranger", token_role="write"), False, False),
    (Caller("reader", token_role="write", orgs={"acme": "read"}), True, False),
    (Caller("writer", token_role="read", orgs={"acme": "write"}), True, False),  # read token
    (Caller("writer", token_role="write", orgs={"acme": "write"}), True, True),
    (Caller("root", role="admin", token_role="write"), True, True),
    (Caller("acme", token_role="write"), True, True),
])
def test_access_rules_for_a_private_space(caller, reads, writes):
    assert may_read_space(caller, SPACE) is reads
    assert may_read_repo(caller, SPACE) is reads
    assert may_write_namespace(caller, "acme") is writes
    if not reads:
        with pytest.raises(NotFound):  # a private Space is not revealed
            require_read(caller, SPACE)
    if caller is not None and not writes:
        with pytest.raises(NotFound if not reads else Forbidden):
            require_write(caller, "acme", SPACE)


def test_protected_space_serves_everyone_but_keeps_its_repo():
    protected = Space.load({**FIELDS, "visibility": "protected"})
    assert may_read_space(None, protected)
    assert not may_read_repo(None, protected)
    with pytest.raises(Forbidden):
        require_read(Caller("stranger"), protected, repo=True)
    assert may_read_space(None, Space.load({**FIELDS, "visibility": "public"}))
    assert not may_read_space(None, Space.load({**FIELDS, "visibility": "bogus"}))  # unknown values fail closed


def test_owner_only_reads_take_a_browser_session_but_not_a_read_token():
    from core.access import require_owner_read

    public = Space.load({**FIELDS, "visibility": "public"})
    require_owner_read(Caller("writer", token_role="read", via="session", orgs={"acme": "write"}), public)
    with pytest.raises(Forbidden):
        require_owner_read(Caller("writer", token_role="read", orgs={"acme": "write"}), public)  # a read token
    with pytest.raises(Forbidden):
        require_owner_read(Caller("reader", token_role="read", via="session", orgs={"acme": "read"}), public)
    with pytest.raises(NotFound):
        require_owner_read(Caller("stranger", token_role="read", via="session"), SPACE)
