"""Browser sessions, private-Space tickets, CSRF tokens and failure rate limits.

- A **session** is a random cookie value on the platform's own host (never on Spaces'
  subdomains, whose apps are other people's code); Redis keeps only its hash, with a TTL.
- A **ticket** is a one-time value (60 s) that carries a signed-in browser from the platform to
  one private Space's subdomain, where it is swapped for a **Space session**: a cookie valid on
  that subdomain only and only for that Space (what the app there could steal grants nothing more).
- A **CSRF token** is an HMAC of the session (or, before sign-in, of a random cookie) under a key
  kept in ``<data dir>/session.key`` (mode 0600, created on first use).
- **Failures** (bad passwords, bad tokens) are counted in fixed windows per client, per user and
  per bad token. A valid credential is never refused for others' failures (on one host every
  client is 127.0.0.1 behind Traefik): a token is looked up first and a valid one always works;
  past a budget only *bad* credentials get 429. Sign-ins: a user with ``per_user`` failures is
  locked for the window — except in browsers where they signed in before (a signed device cookie,
  with a budget of its own); past the client's budget each user keeps one attempt per window, so a
  correct password of a user nobody is guessing still works while a sprayer gets one guess per name.
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
DEVICE_COOKIE = "spaces_device"  # a browser where a user signed in before (its own sign-in budget)
DEVICE_TTL = 180 * 24 * 3600
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
    if not bound_to or not token:
        return False
    return hmac.compare_digest(csrf_token(bound_to), token)


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

TOKEN_WINDOW = 60
LOGIN_WINDOW = 300


def _refusal(r: redis.Redis, key: str, what: str) -> TooManyFailures:
    wait = max(1, r.ttl(key))
    return TooManyFailures(f"too many {what}; try again in {wait} s", retry_after=wait)


def failure_count(r: redis.Redis, kind: str, subject: str) -> int:
    return int(r.get(keys.failures(kind, subject)) or 0)


def check_failures(r: redis.Redis, kind: str, subject: str, limit: int, what: str) -> None:
    """Raise :class:`TooManyFailures` if ``subject`` has failed ``kind`` ``limit`` times this window."""
    if failure_count(r, kind, subject) >= limit:
        raise _refusal(r, keys.failures(kind, subject), what)


def record_failure(r: redis.Redis, kind: str, subject: str, window: int) -> int:
    """Count one failure of ``subject`` in this window; returns the count so far."""
    key = keys.failures(kind, subject)
    with r.pipeline(transaction=True) as p:
        p.incr(key)
        p.expire(key, window, nx=True)
        count, _ = p.execute()
    return int(count)


def bad_token(r: redis.Redis, token: str, client: str, limit: int) -> TooManyFailures | None:
    """Count a request with a bad ``token`` from ``client`` (per client and per token, never the
    token itself: its hash). Returns the refusal to answer with once either is past ``limit``
    (429: a flood is slowed), else None (401). Valid tokens never come here."""
    per_value = _digest(token or "")[:16]
    by_client = record_failure(r, "token-client", client, TOKEN_WINDOW)
    by_value = record_failure(r, "token-value", per_value, TOKEN_WINDOW)
    if by_client > limit:
        return _refusal(r, keys.failures("token-client", client), "requests with bad tokens from your address")
    if by_value > limit:
        return _refusal(r, keys.failures("token-value", per_value), "requests with this bad token")
    return None


def device_cookie(user: str) -> str:
    """A value for :data:`DEVICE_COOKIE`, given to a browser once ``user`` signed in with it."""
    nonce = secrets.token_urlsafe(16)
    return f"{nonce}.{_device_signature(user, nonce)}"


def _device_signature(user: str, nonce: str) -> str:
    return hmac.new(_key(), f"device:{user}\n{nonce}".encode(), hashlib.sha256).hexdigest()


def known_device(user: str, cookie: str | None) -> str | None:
    """The device id if ``cookie`` was given to a browser where ``user`` signed in before, else None."""
    nonce, _, signature = (cookie or "").partition(".")
    if nonce and signature and hmac.compare_digest(signature, _device_signature(user, nonce)):
        return nonce
    return None


def check_sign_in(r: redis.Redis, user: str, client: str, *, per_user: int, per_client: int,
                  device: str | None = None) -> None:
    """Before a password is checked: refuse (429) if ``user`` is under attack (``per_user``
    failures this window), or if ``client`` is past its budget and ``user`` already failed this
    window (past its budget a client gets one attempt per user). A user nobody failed for is
    always let through to the password check. A browser where ``user`` signed in before
    (``device``, see :func:`known_device`) has a budget of its own instead, so others' guesses
    lock the user out of new browsers only."""
    if device is not None:
        check_failures(r, "login-device", device, per_user, "failed sign-ins from this browser")
        return
    check_failures(r, "login-user", user, per_user, f"failed sign-ins for {user}")
    if failure_count(r, "login-ip", client) >= per_client and failure_count(r, "login-user", user) > 0:
        raise _refusal(r, keys.failures("login-ip", client), "failed sign-ins from your address")


def sign_in_failed(r: redis.Redis, user: str, client: str, *, per_client: int,
                   device: str | None = None) -> TooManyFailures | None:
    """Count a wrong password; the refusal (429) to answer with if ``client`` is past its budget."""
    if device is not None:
        record_failure(r, "login-device", device, LOGIN_WINDOW)
        return None
    record_failure(r, "login-user", user, LOGIN_WINDOW)
    if record_failure(r, "login-ip", client, LOGIN_WINDOW) > per_client:
        return _refusal(r, keys.failures("login-ip", client), "failed sign-ins from your address")
    return None
