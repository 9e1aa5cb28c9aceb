"""FastAPI dependencies: the Redis store and the caller's identity.

``StoreDep`` gives a Redis client; ``OptionalUser`` is the caller (or None) from an
``Authorization: Bearer <token>`` header or HTTP basic auth with the token as password (git);
``CurrentUser`` requires one.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Annotated

import redis
from fastapi import Depends, Request

from core import store
from core.errors import Forbidden, Unauthorized
from core.names import parse_space_id


@dataclass(frozen=True)
class Caller:
    name: str
    role: str  # "user" or "admin"
    token_role: str  # "read" or "write"

    @property
    def can_write(self) -> bool:
        return self.token_role == "write"

    def may_write(self, owner: str) -> bool:
        return self.can_write and (self.name == owner or self.role == "admin")


def get_store() -> redis.Redis:
    return store.get_redis()


StoreDep = Annotated[redis.Redis, Depends(get_store)]


def token_from_request(request: Request) -> str | None:
    """The access token the request carries, if any (bearer, or basic auth's password)."""
    header = request.headers.get("authorization", "")
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


def resolve_caller(r: redis.Redis, request: Request) -> Caller | None:
    token = token_from_request(request)
    if token is None:
        return None
    record = store.lookup_token(r, token)
    if record is None:
        raise Unauthorized("invalid or revoked access token")
    user = store.get_user(r, record["user"]) or {}
    return Caller(name=record["user"], role=user.get("role", "user"), token_role=record.get("role", "read"))


def optional_user(request: Request, r: StoreDep) -> Caller | None:
    return resolve_caller(r, request)


def current_user(request: Request, r: StoreDep) -> Caller:
    caller = resolve_caller(r, request)
    if caller is None:
        raise Unauthorized("authentication required: send 'Authorization: Bearer <token>'")
    return caller


OptionalUser = Annotated[Caller | None, Depends(optional_user)]
CurrentUser = Annotated[Caller, Depends(current_user)]


def require_write(caller: Caller, owner: str) -> None:
    if not caller.can_write:
        raise Forbidden(f"the token of {caller.name} is read-only; a write token is needed")
    if not caller.may_write(owner):
        raise Forbidden(f"{caller.name} may not change Spaces of '{owner}'")


def owned_space(r: redis.Redis, owner: str, name: str, caller: Caller) -> tuple[str, dict]:
    """``(space id, record)`` of a Space that exists and that ``caller`` may change."""
    space_id = parse_space_id(owner, name)
    space = store.require_space(r, space_id)
    require_write(caller, owner)
    return space_id, space
