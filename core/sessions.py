"""Browser sessions, private-Space tickets, CSRF tokens and failure rate limits.

- A **session** is a random cookie value on the platform's own host (never on Spaces'
  subdomains, whose apps are other people's code); Redis keeps only its hash, with a TTL.
- A **ticket** is a one-time value (60 s) that carries a signed-in browser from the platform to
  one private Space's subdomain, where it is swapped for a **Space session**: a cookie valid on
  that subdomain only and only for that Space (what the app there could steal grants nothing more).
- A **CSRF token** is an HMAC of the session (or, before sign-in, of a random cookie) under a key
  kept in ``<data dir>/session.key`` (mode 0600, created on first use).
- **Failures** (bad passwords, bad tokens) are counted per client and per user in fixed windows;
  past the limit, attempts are refused with 429 until the window ends.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from functools import lru_cache
from pathlib import Path

import redis

from core import keys
from core.errors import SpacesError
from core.settings import get_settings

SESSION_COOKIE = "spaces_session"
SPACE_SESSION_COOKIE = "spaces_space_session"
CSRF_COOKIE = "spaces_csrf"
SESSION_TTL = 14 * 24 * 3600
SPACE_SESSION_TTL = 24 * 3600
TICKET_TTL = 60


class TooManyFailures(SpacesError):
    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _key() -> bytes:
    path = get_settings().data_dir / "session.key"
    try:
        version = path.stat().st_mtime_ns
    except FileNotFoundError:
        version = 0
    return _key_in(path, version)


@lru_cache(maxsize=4)
def _key_in(path: Path, version: int) -> bytes:
    """The key in ``path``, made on first use; read again only when the file changes (a rotation)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes().strip()
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_hex(32).encode() + b"\n")
    return path.read_bytes().strip()


def rotate_key(r: redis.Redis) -> int:
    """Replace the session/CSRF key and end every browser session (platform and per-Space ones).

    For a key that may have been exposed: forms signed with the old key stop validating at once
    in every process (each notices the new file), and everyone signs in again. Returns the number
    of sessions ended.
    """
    path = get_settings().data_dir / "session.key"
    tmp = path.with_name(f".session.key.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(secrets.token_hex(32).encode() + b"\n")
    os.replace(tmp, path)
    ended = 0
    for pattern in (keys.session("*"), keys.space_session("*")):
        batch = list(r.scan_iter(match=pattern, count=1000))
        if batch:
            ended += r.delete(*batch)
    return ended


def csrf_token(bound_to: str) -> str:
    """The CSRF token for a form shown to the holder of ``bound_to`` (a session or CSRF cookie)."""
    return hmac.new(_key(), b"csrf:" + bound_to.encode(), hashlib.sha256).hexdigest()


def csrf_ok(bound_to: str | None, token: str | None) -> bool:
    return bool(bound_to and token) and hmac.compare_digest(csrf_token(bound_to), token)


# ---------------------------------------------------------------- sessions


def start_session(r: redis.Redis, user: str) -> str:
    sid = secrets.token_urlsafe(32)
    r.set(keys.session(_digest(sid)), json.dumps({"user": user, "created_at": time.time()}), ex=SESSION_TTL)
    return sid


def session_user(r: redis.Redis, sid: str | None) -> str | None:
    if not sid:
        return None
    raw = r.get(keys.session(_digest(sid)))
    return json.loads(raw)["user"] if raw else None


def end_session(r: redis.Redis, sid: str | None) -> None:
    if sid:
        r.delete(keys.session(_digest(sid)))


def issue_ticket(r: redis.Redis, user: str, space_id: str) -> str:
    ticket = secrets.token_urlsafe(32)
    r.set(keys.auth_ticket(_digest(ticket)), json.dumps({"user": user, "space": space_id}), ex=TICKET_TTL)
    return ticket


def redeem_ticket(r: redis.Redis, ticket: str, space_id: str) -> str | None:
    """The user a ticket was issued to, if it is unused, unexpired and for ``space_id``; it is used up."""
    raw = r.getdel(keys.auth_ticket(_digest(ticket))) if ticket else None
    if not raw:
        return None
    data = json.loads(raw)
    return data["user"] if data.get("space") == space_id else None


def start_space_session(r: redis.Redis, user: str, space_id: str) -> str:
    sid = secrets.token_urlsafe(32)
    r.set(keys.space_session(_digest(sid)), json.dumps({"user": user, "space": space_id}), ex=SPACE_SESSION_TTL)
    return sid


def space_session_user(r: redis.Redis, sid: str | None, space_id: str) -> str | None:
    raw = r.get(keys.space_session(_digest(sid))) if sid else None
    if not raw:
        return None
    data = json.loads(raw)
    return data["user"] if data.get("space") == space_id else None


# ---------------------------------------------------------------- failure limits


def check_failures(r: redis.Redis, kind: str, subject: str, limit: int, what: str) -> None:
    """Raise :class:`TooManyFailures` if ``subject`` has failed ``kind`` ``limit`` times this window."""
    key = keys.failures(kind, subject)
    count = int(r.get(key) or 0)
    if count >= limit:
        wait = max(1, r.ttl(key))
        raise TooManyFailures(f"too many {what}; try again in {wait} s", retry_after=wait)


def record_failure(r: redis.Redis, kind: str, subject: str, window: int) -> None:
    key = keys.failures(kind, subject)
    with r.pipeline(transaction=True) as p:
        p.incr(key)
        p.expire(key, window, nx=True)
        p.execute()
