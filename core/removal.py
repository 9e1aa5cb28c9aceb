"""Deleting users and organizations (issue 17, finding 9).

Deleting an account happens in two steps:

1. **At once** (:func:`delete_user`, :func:`delete_org`): the account is marked ``deleting`` (it can
   no longer sign in, act, or receive new Spaces), its tokens are revoked, its browser sessions end,
   its memberships go, and each of its Spaces is handed to the existing Space deletion path
   (``DELETING`` and the run workers' ``worker.jobs.delete_space`` job).
2. **When its last Space is gone** (:func:`finish`): the name itself is freed — the account's
   records, its namespace claim and what builds cached under its name (the owner's dependency
   images and wheel cache, so a newcomer with the same name inherits nothing). Until then the name
   stays taken, so nobody can own ``alice/x`` while the old ``alice/x`` is still being removed.
   :func:`finish` runs whenever the name is claimed again or the accounts are listed; it also
   hands any Space that appeared meanwhile (a push already under way) to deletion.

Moving Spaces to another owner is **not offered**: a Space's identity is ``owner/name`` in its
subdomain label (its URL and every link to it), its Docker objects (image repository, ``/data``
volume and containers are named ``owner.name``; Docker cannot rename a volume, so its data would
have to be copied through a container), its git repository's path, and every Redis key of its
builds, logs, variables, secrets and route. A correct move is a worker job doing all of that under
the Space's lock; until one exists, the choice is refused with this reason rather than half done.
"""

from __future__ import annotations

import json
import logging
import shutil

import redis

from core import accounts, keys, services, store
from core.errors import Conflict, InvalidInput, NotFound
from core.models import Org, Space, User
from core.replies import members
from core.settings import get_settings

log = logging.getLogger(__name__)

DELETING = accounts.DELETING
SPACE_CHOICES = ("delete",)
NO_TRANSFER = ("moving Spaces to another owner is not offered: a Space's subdomain, Docker image, /data volume, "
               "repository and records are all named after its owner, and no step moves them all yet; "
               "choose spaces=delete, or duplicate the Spaces you want to keep into another namespace first")


def is_deleting(record: User | Org | None) -> bool:
    return record is not None and record.deleting


def spaces_of(r: redis.Redis, namespace: str) -> list[Space]:
    return store.list_spaces(r, author=namespace)


def _check_choice(r: redis.Redis, namespace: str, what: str, spaces: str | None, transfer_to: str | None) -> list[Space]:
    """The namespace's Spaces, once the caller said what happens to them (only ``delete`` is offered)."""
    if transfer_to:
        raise InvalidInput(NO_TRANSFER)
    if spaces is not None and spaces not in SPACE_CHOICES:
        raise InvalidInput(f"spaces={spaces!r}: what happens to the Spaces of {what} is one of {', '.join(SPACE_CHOICES)}"
                           f" ({NO_TRANSFER})")
    owned = spaces_of(r, namespace)
    if owned and spaces != "delete":
        listed = ", ".join(s.id for s in owned[:10]) + (" …" if len(owned) > 10 else "")
        raise Conflict(f"{what} owns {len(owned)} Space(s) ({listed}); say what happens to them: spaces=delete "
                       "deletes them with the account (moving them to another owner is not offered)")
    return owned


def start_space_deletion(r: redis.Redis, space: Space) -> None:
    """The platform's Space deletion path (as ``DELETE /api/spaces/{id}``): ``DELETING``, then the delete job."""
    services.delete(r, space)


def _end_sessions(r: redis.Redis, user: str) -> int:
    ended = 0
    for pattern in (keys.session("*"), keys.space_session("*")):
        for key in r.scan_iter(match=pattern, count=1000):
            raw = r.get(key)
            if raw and json.loads(raw).get("user") == user:
                ended += r.delete(key)
    return ended


def _revoke_tokens(r: redis.Redis, user: str) -> int:
    digests = list(members(r.smembers(keys.user_tokens(user))))
    with r.pipeline(transaction=True) as p:
        for digest in digests:
            p.delete(keys.token(digest))
        p.delete(keys.user_tokens(user))
        p.execute()
    return len(digests)


def _admins_left(r: redis.Redis, besides: str) -> int:
    return sum(1 for u in accounts.list_users(r) if u.role == "admin" and u.name != besides and not is_deleting(u))


def delete_user(r: redis.Redis, name: str, *, spaces: str | None = None, transfer_to: str | None = None) -> dict:
    """Delete the user ``name`` (see the module's doc). Refused for the last platform admin and for
    the last admin of an organization (it would be left without one)."""
    user = accounts.get_user(r, name)
    if user is None:
        raise NotFound(f"user {name!r} does not exist")
    if not is_deleting(user):
        if user.role == "admin" and _admins_left(r, name) == 0:
            raise Conflict(f"{name!r} is the platform's last admin and cannot be deleted; make another user admin first")
        for org, role in accounts.orgs_of(r, name).items():
            members = accounts.members_of(r, org)
            if role == "admin" and list(members.values()).count("admin") == 1:
                raise Conflict(f"{name!r} is the last admin of the organization {org!r}: make another member its admin, "
                               "or delete the organization first")
    owned = _check_choice(r, name, f"user {name!r}", spaces, transfer_to)
    accounts.mark_deleting(r, name, "user")
    tokens = _revoke_tokens(r, name)
    ended = _end_sessions(r, name)
    accounts.drop_memberships(r, name, "user")
    for space in owned:
        start_space_deletion(r, space)
    log.info("deleting user %s: %d token(s) revoked, %d session(s) ended, %d Space(s) to delete", name, tokens, ended, len(owned))
    done = finish(r, name)
    return {"name": name, "type": "user", "state": "deleted" if done else DELETING, "spaces": [s.id for s in owned]}


def delete_org(r: redis.Redis, org: str, *, spaces: str | None = None, transfer_to: str | None = None) -> dict:
    """Delete the organization ``org``: its memberships at once, its Spaces through deletion, its name when they are gone."""
    if accounts.get_org(r, org) is None:
        raise NotFound(f"organization {org!r} does not exist")
    owned = _check_choice(r, org, f"organization {org!r}", spaces, transfer_to)
    accounts.mark_deleting(r, org, "org")
    accounts.drop_memberships(r, org, "org")
    for space in owned:
        start_space_deletion(r, space)
    log.info("deleting organization %s: %d Space(s) to delete", org, len(owned))
    done = finish(r, org)
    return {"name": org, "type": "org", "state": "deleted" if done else DELETING, "spaces": [s.id for s in owned]}


def _pushes_under_way(r: redis.Redis, namespace: str) -> bool:
    """A first push to a new Space of ``namespace`` that may still make its record."""
    return any(r.zcard(key) for key in r.scan_iter(match=keys.first_pushes(f"{namespace}/*"), count=1000))


def finish(r: redis.Redis, name: str) -> bool:
    """Free the name of an account being deleted once none of its Spaces is left; True if it is free
    (or was never taken). A Space that appeared meanwhile is handed to deletion too."""
    kind = r.hget(keys.NAMESPACES, name) or ("user" if r.sismember(keys.USERS, name) else None)
    if kind is None:
        return True
    if not accounts.being_deleted(r, name):
        return False
    left = spaces_of(r, name)
    for space in left:
        start_space_deletion(r, space)
    if left or _pushes_under_way(r, name):
        return False
    accounts.purge_account(r, name, str(kind))
    shutil.rmtree(get_settings().owner_wheel_cache(name), ignore_errors=True)
    log.info("the %s %s is deleted; its name is free again", "user" if kind == "user" else "organization", name)
    return True


def finish_all(r: redis.Redis) -> None:
    """:func:`finish` every account still being deleted (cheap when there is none)."""
    doomed = [u.name for u in accounts.list_users(r) if is_deleting(u)]
    orgs = sorted(members(r.smembers(keys.ORGS)))
    with r.pipeline(transaction=False) as p:
        for org in orgs:
            p.hget(keys.org(org), "state")
        doomed += [org for org, state in zip(orgs, p.execute(), strict=True) if state == DELETING]
    for name in doomed:
        finish(r, name)
