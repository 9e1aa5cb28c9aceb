"""Users, organizations, memberships, access tokens and passwords, kept in Redis.

A *namespace* is a user or an organization; both share one name space (``keys.NAMESPACES``), so
``alice/demo`` always has exactly one owner. Organization members have a role: ``read`` (may see
the organization's private Spaces), ``write`` (may also push and change them) or ``admin`` (may
also manage members). Access tokens are ``read`` or ``write``, named, shown once and stored as a
SHA-256 hash; passwords (for browser sign-in) are stored as argon2id hashes.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time

import redis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core import keys
from core.errors import Conflict, InvalidInput, InvalidName, NotFound
from core.models import Org, Token, User
from core.names import validate_user_name
from core.replies import Fields, hash_fields, maybe_text, members

USER_ROLES = ("user", "admin")
MEMBER_ROLES = ("read", "write", "admin")
TOKEN_ROLES = ("read", "write")
TOKEN_NAME_RULE = "1 to 64 characters: letters, digits, spaces and . _ -"
_TOKEN_NAME = re.compile(r"^[A-Za-z0-9._ -]{1,64}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
TOKEN_PREFIX = "spc_"
DELETING = "deleting"  # an account's ``state`` while it is being deleted (see core.removal)

_hasher = PasswordHasher()


def _now() -> float:
    return time.time()


# ---------------------------------------------------------------- namespaces


def namespace_kind(r: redis.Redis, name: str) -> str | None:
    """``"user"``, ``"org"`` or None if nobody owns ``name`` (or its account is being deleted: it
    gets no new Spaces)."""
    kind = _claimed_as(r, name)
    return None if kind is None or being_deleted(r, name) else kind


def _claimed_as(r: redis.Redis, name: str) -> str | None:
    kind = maybe_text(r.hget(keys.NAMESPACES, name))
    if kind is None and r.sismember(keys.USERS, name):  # users made before namespaces were recorded
        return "user"
    return kind


def being_deleted(r: redis.Redis, name: str) -> bool:
    """Is the user or organization ``name`` being deleted (its name still taken until its Spaces are gone)?"""
    kind = _claimed_as(r, name)
    return kind is not None and r.hget(keys.user(name) if kind == "user" else keys.org(name), "state") == DELETING


def _claim_namespace(r: redis.Redis, name: str, kind: str) -> None:
    from core import removal  # removal builds on this module

    if being_deleted(r, name) and not removal.finish(r, name):
        raise Conflict(f"the name {name!r} is being deleted; it is free again once its Spaces are deleted")
    if r.sismember(keys.USERS, name) or not r.hsetnx(keys.NAMESPACES, name, kind):
        taken = namespace_kind(r, name) or "user"
        raise Conflict(f"the name {name!r} is taken (a {'organization' if taken == 'org' else 'user'} has it)")


# ---------------------------------------------------------------- users


def create_user(r: redis.Redis, name: str, *, role: str = "user", password: str | None = None) -> None:
    validate_user_name(name)
    if role not in USER_ROLES:
        raise InvalidName(f"invalid role {role!r}: a role is 'user' or 'admin'")
    hashed = hash_password(password) if password is not None else ""
    _claim_namespace(r, name, "user")
    with r.pipeline(transaction=True) as p:
        p.sadd(keys.USERS, name)
        p.hset(keys.user(name), mapping={"name": name, "role": role, "created_at": _now(), "password": hashed})
        p.execute()


def get_user(r: redis.Redis, name: str) -> User | None:
    data = hash_fields(r.hgetall(keys.user(name)))
    return User.load(data) if data else None


def require_user(r: redis.Redis, name: str) -> User:
    user = get_user(r, name)
    if user is None:
        raise NotFound(f"user {name!r} does not exist")
    if user.deleting:
        raise NotFound(f"user {name!r} is being deleted")
    return user


def list_users(r: redis.Redis) -> list[User]:
    names = sorted(members(r.smembers(keys.USERS)))
    with r.pipeline(transaction=False) as p:
        for name in names:
            p.hgetall(keys.user(name))
        return [User.load(u) for u in p.execute() if u]


def mark_deleting(r: redis.Redis, name: str, kind: str) -> None:
    """The user's or organization's (``kind``) record says its deletion runs; a user can no longer sign in."""
    if kind == "user":
        r.hset(keys.user(name), mapping=User.fields(state=DELETING, deleting_since=time.time(), password=""))
    else:
        r.hset(keys.org(name), mapping=Org.fields(state=DELETING, deleting_since=time.time()))


def drop_memberships(r: redis.Redis, name: str, kind: str) -> None:
    """End every membership of the user (or, ``kind`` "org", of the organization's members)."""
    pairs = [(org, name) for org in orgs_of(r, name)] if kind == "user" else [(name, m) for m in members_of(r, name)]
    with r.pipeline(transaction=True) as p:
        for org, user in pairs:
            p.hdel(keys.org_members(org), user)
            p.hdel(keys.user_orgs(user), org)
        p.execute()


def purge_account(r: redis.Redis, name: str, kind: str) -> None:
    """Remove the account's records and free its name (the last step of its deletion)."""
    with r.pipeline(transaction=True) as p:
        if kind == "user":
            p.delete(keys.user(name), keys.user_tokens(name), keys.user_orgs(name))
            p.srem(keys.USERS, name)
        else:
            p.delete(keys.org(name), keys.org_members(name))
            p.srem(keys.ORGS, name)
        p.delete(keys.deps_images_of(name))
        p.hdel(keys.NAMESPACES, name)
        p.execute()


def any_admin(r: redis.Redis) -> bool:
    return any(u.role == "admin" and not u.deleting for u in list_users(r))


def active_user(r: redis.Redis, name: str) -> User | None:
    """The user's record, unless it does not exist or is being deleted."""
    user = get_user(r, name)
    return user if user and not user.deleting else None


# ---------------------------------------------------------------- passwords


def hash_password(password: str) -> str:
    if not isinstance(password, str) or not (MIN_PASSWORD <= len(password) <= MAX_PASSWORD):
        raise InvalidInput(f"a password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long")
    return _hasher.hash(password)


def set_password(r: redis.Redis, name: str, password: str) -> None:
    require_user(r, name)
    r.hset(keys.user(name), "password", hash_password(password))


def check_password(r: redis.Redis, name: str, password: str) -> bool:
    """True if ``name`` exists, has a password and ``password`` is it. Takes the same time for
    unknown users (a dummy verification), so timing does not tell which names exist."""
    user = active_user(r, name)
    stored = user.password if user is not None else ""
    try:
        if not stored:
            _hasher.verify(_DUMMY_HASH, password + "x")
            return False
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


_DUMMY_HASH = _hasher.hash("dummy password for unknown users")


# ---------------------------------------------------------------- organizations


def create_org(r: redis.Redis, name: str, *, admin: str) -> None:
    """Create an organization with ``admin`` (an existing user) as its first admin member."""
    try:
        validate_user_name(name)
    except InvalidName as exc:
        raise InvalidName(exc.message.replace("user name", "organization name")) from None
    require_user(r, admin)
    _claim_namespace(r, name, "org")
    with r.pipeline(transaction=True) as p:
        p.sadd(keys.ORGS, name)
        p.hset(keys.org(name), mapping={"name": name, "created_at": _now()})
        p.hset(keys.org_members(name), admin, "admin")
        p.hset(keys.user_orgs(admin), name, "admin")
        p.execute()


def get_org(r: redis.Redis, name: str) -> Org | None:
    data = hash_fields(r.hgetall(keys.org(name)))
    return Org.load(data) if data else None


def require_org(r: redis.Redis, name: str) -> Org:
    org = get_org(r, name)
    if org is None:
        raise NotFound(f"organization {name!r} does not exist")
    if org.deleting:
        raise NotFound(f"organization {name!r} is being deleted")
    return org


def set_member(r: redis.Redis, org: str, user: str, role: str) -> None:
    require_org(r, org)
    require_user(r, user)
    if role not in MEMBER_ROLES:
        raise InvalidInput(f"invalid member role {role!r}: a role is one of {', '.join(MEMBER_ROLES)}")
    with r.pipeline(transaction=True) as p:
        p.hset(keys.org_members(org), user, role)
        p.hset(keys.user_orgs(user), org, role)
        p.execute()


def remove_member(r: redis.Redis, org: str, user: str) -> None:
    require_org(r, org)
    members = members_of(r, org)
    if user not in members:
        raise NotFound(f"{user!r} is not a member of {org!r}")
    if members[user] == "admin" and list(members.values()).count("admin") == 1:
        raise Conflict(f"{user!r} is the last admin of {org!r}; make someone else admin first")
    with r.pipeline(transaction=True) as p:
        p.hdel(keys.org_members(org), user)
        p.hdel(keys.user_orgs(user), org)
        p.execute()


def members_of(r: redis.Redis, org: str) -> dict[str, str]:
    return dict(sorted(hash_fields(r.hgetall(keys.org_members(org))).items()))


def orgs_of(r: redis.Redis, user: str) -> dict[str, str]:
    """The user's organizations and role in each."""
    return dict(sorted(hash_fields(r.hgetall(keys.user_orgs(user))).items()))


# ---------------------------------------------------------------- access tokens


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def validate_token_name(name: str) -> str:
    if not isinstance(name, str) or not _TOKEN_NAME.match(name) or not name.strip():
        raise InvalidName(f"invalid token name {name!r}: a token name is {TOKEN_NAME_RULE}")
    return name


def create_token(r: redis.Redis, user: str, *, role: str = "write", display_name: str = "default") -> str:
    """Create an access token for ``user`` and return it; only its hash is stored."""
    if role not in TOKEN_ROLES:
        raise InvalidName(f"invalid token role {role!r}: a token role is 'read' or 'write'")
    validate_token_name(display_name)
    require_user(r, user)
    token = TOKEN_PREFIX + secrets.token_urlsafe(30)
    digest = hash_token(token)
    record: Fields = {"id": digest[:16], "user": user, "role": role, "name": display_name, "created_at": _now()}
    with r.pipeline(transaction=True) as p:
        p.hset(keys.token(digest), mapping=record)
        p.sadd(keys.user_tokens(user), digest)
        p.execute()
    return token


def lookup_token(r: redis.Redis, token: str, *, touch: bool = True) -> Token | None:
    """The token's record (``user``, ``role``, ``name``, ...) or None if it is unknown or revoked.
    ``touch``: record that it was used just now."""
    if not token:
        return None
    digest = hash_token(token)
    data = hash_fields(r.hgetall(keys.token(digest)))
    if not data:
        return None
    if touch:
        r.hset(keys.token(digest), "last_used_at", _now())
    return Token.load(data)


def list_tokens(r: redis.Redis, user: str) -> list[Token]:
    """The user's tokens (never their values), oldest first."""
    digests = sorted(members(r.smembers(keys.user_tokens(user))))
    with r.pipeline(transaction=False) as p:
        for digest in digests:
            p.hgetall(keys.token(digest))
        records = [Token.load({**rec, "id": rec.get("id") or d[:16]}) for d, rec in zip(digests, p.execute(), strict=True) if rec]
    return sorted(records, key=lambda t: t.created_at)


def revoke_token(r: redis.Redis, user: str, token_id: str) -> None:
    """Revoke the user's token whose id is ``token_id``; it stops working at once."""
    for digest in members(r.smembers(keys.user_tokens(user))):
        if digest[:16] == token_id:
            with r.pipeline(transaction=True) as p:
                p.delete(keys.token(digest))
                p.srem(keys.user_tokens(user), digest)
                p.execute()
            return
    raise NotFound(f"{user} has no token with id {token_id!r}")
