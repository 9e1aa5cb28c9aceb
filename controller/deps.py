"""FastAPI dependencies: the Redis store and the caller's identity.

``StoreDep`` gives a Redis client; ``OptionalUser`` is the caller (or None) from an
``Authorization: Bearer <token>`` header, HTTP basic auth with the token as password (git), or —
for reading only — the browser session cookie; ``CurrentUser`` requires one. A token is looked up
first: a valid one always works, whatever others sent from the same address. Bad tokens are counted
per client and per token; past ``SPACES_TOKEN_FAILURES_PER_MINUTE`` bad ones get 429 for a while.
The caller is resolved once per request, whichever of these a route and its dependencies ask for.

A route with ``{owner}/{name}`` in its path gets its Space through ``ReadableSpace`` (the caller
may see it), ``ReadableRepo`` (also its repository, logs and variables) or ``OwnedSpace`` (the
caller may change it). Their order of checks decides the status, as it did when handlers called
:func:`readable_space` and :func:`owned_space` themselves: the caller first (a bad token 401/429;
nobody signed in 401 for ``OwnedSpace``), then the names (400), then that the Space exists (404),
then the caller's rights (404 for a Space they may not see, 403 for one they see but may not read
the repository of or change). A route that needs someone signed in besides a readable Space
declares ``CurrentUser`` before the Space, so that anonymous callers get 401 before any lookup.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, NamedTuple

import redis
from fastapi import Depends, Request

from core import accounts, sessions, store
from core.access import Caller, require_read, require_write
from core.errors import Unauthorized
from core.models import Space, Token
from core.names import parse_space_id
from core.settings import get_settings

SAFE_METHODS = {"GET", "HEAD"}


def get_store() -> redis.Redis:
    return store.get_redis()


StoreDep = Annotated[redis.Redis, Depends(get_store)]


def client_ip(request: Request) -> str:
    """The visitor's address: Traefik puts it in X-Real-Ip (and strips what clients send there)."""
    forwarded = request.headers.get("x-real-ip") or request.headers.get("x-forwarded-for", "").split(",")[0].strip()
    return forwarded or (request.client.host if request.client else "unknown")


def token_from_request(request: Request) -> str | None:
    """The access token the request carries, if any: bearer, basic auth's password (git), or
    ``X-HF-Authorization`` (what gradio_client sends a token as, to keep ``Authorization`` for the app)."""
    header = request.headers.get("authorization") or request.headers.get("x-hf-authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic" and value.strip():
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("malformed basic authorization header") from None
        _, _, password = decoded.partition(":")
        return password or None
    return None


def form_csrf(request: Request) -> str:
    """The CSRF token a page puts in its forms: bound to the browser's session ("" without one)."""
    sid = request.cookies.get(sessions.SESSION_COOKIE)
    return sessions.csrf_token(sid) if sid else ""


def caller_for(r: redis.Redis, user: str, *, token_role: str, via: str = "token", token: Token | None = None) -> Caller | None:
    """The signed-in ``user`` as this request presents them (``token``: the token record used)."""
    record = accounts.active_user(r, user)  # a user being deleted acts no more
    if record is None:
        return None
    return Caller(name=user, role=record.role, token_role=token_role, orgs=accounts.orgs_of(r, user),
                  token_name=token.name if token else "", token_created_at=repr(token.created_at) if token else "", via=via)


def caller_from_token(r: redis.Redis, token: str, ip: str) -> Caller:
    """The caller a token stands for. A valid token is never refused for failures (its own client's
    or anyone's); a bad one is counted against the client and the token, and refused: 401, or 429
    once either is past ``SPACES_TOKEN_FAILURES_PER_MINUTE``."""
    record = accounts.lookup_token(r, token)
    caller = caller_for(r, record.user, token_role=record.role, token=record) if record else None
    if caller is not None:
        return caller
    refusal = sessions.bad_token(r, token, ip, get_settings().token_failures_per_minute)
    if refusal is not None:
        raise refusal
    raise Unauthorized("invalid or revoked access token")


def resolve_caller(r: redis.Redis, request: Request) -> Caller | None:
    token = token_from_request(request)
    if token is not None:
        return caller_from_token(r, token, client_ip(request))
    if request.method in SAFE_METHODS:
        user = sessions.session_user(r, request.cookies.get(sessions.SESSION_COOKIE))
        if user:
            return caller_for(r, user, token_role="read", via="session")
    return None


def optional_user(request: Request, r: StoreDep) -> Caller | None:
    return resolve_caller(r, request)


OptionalUser = Annotated[Caller | None, Depends(optional_user)]


def current_user(caller: OptionalUser) -> Caller:
    if caller is None:
        raise Unauthorized("authentication required: send 'Authorization: Bearer <token>'")
    return caller


CurrentUser = Annotated[Caller, Depends(current_user)]


class SpaceRef(NamedTuple):
    """A Space a route may act on: its id and its record."""

    id: str
    record: Space


def readable_space(r: redis.Redis, owner: str, name: str, caller: Caller | None, *, repo: bool = False) -> SpaceRef:
    """The Space, if it exists and ``caller`` may see it (``repo``: also its repository, logs and variables)."""
    space_id = parse_space_id(owner, name)
    space = store.require_space(r, space_id)
    require_read(caller, space, repo=repo)
    return SpaceRef(space_id, space)


def owned_space(r: redis.Redis, owner: str, name: object, caller: Caller) -> SpaceRef:
    """The Space, if it exists and ``caller`` may change it."""
    space_id = parse_space_id(owner, name)
    space = store.require_space(r, space_id)
    require_write(caller, owner, space)
    return SpaceRef(space_id, space)


def _readable_space(owner: str, name: str, r: StoreDep, caller: OptionalUser) -> SpaceRef:
    return readable_space(r, owner, name, caller)


def _readable_repo(owner: str, name: str, r: StoreDep, caller: OptionalUser) -> SpaceRef:
    return readable_space(r, owner, name, caller, repo=True)


def _owned_space(owner: str, name: str, r: StoreDep, caller: CurrentUser) -> SpaceRef:
    return owned_space(r, owner, name, caller)


ReadableSpace = Annotated[SpaceRef, Depends(_readable_space)]
ReadableRepo = Annotated[SpaceRef, Depends(_readable_repo)]
OwnedSpace = Annotated[SpaceRef, Depends(_owned_space)]
