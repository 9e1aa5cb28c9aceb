"""Users and their access tokens.

- ``GET /api/whoami-v2``: who the caller is, in Hugging Face's shape (what ``huggingface_hub``'s
  ``whoami()`` calls).
- ``GET/POST /api/tokens``, ``DELETE /api/tokens/{id}``: the caller's own tokens — listed without
  their values, created (the value is in that one answer only), revoked.
- ``GET/POST /api/admin/users``: platform admins list and create users (a new user gets a write
  token, shown once, and optionally a password for the browser);
  ``DELETE /api/admin/users/{user}/tokens/{id}`` revokes anyone's token;
  ``DELETE /api/admin/users/{user}?spaces=delete`` deletes a user (see :mod:`core.removal`): 200 when
  done, 202 while their Spaces are being deleted (the name is free again after that).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from controller.api.models import AccountRemoval, CreatedToken, CreatedUser, NewToken, NewUser, TokenInfo, UserInfo, WhoAmI
from controller.deps import CurrentUser, StoreDep
from controller.views import iso
from core import accounts, removal
from core.access import Caller, require_platform_admin
from core.errors import Forbidden
from core.models import Token, User

router = APIRouter(prefix="/api", tags=["users"])


@router.get("/whoami-v2", response_model=WhoAmI, response_model_exclude_unset=True)
def whoami(caller: CurrentUser) -> dict:
    auth: dict[str, object]
    if caller.via == "session":
        auth = {"type": "session"}
    else:
        auth = {"type": "access_token", "accessToken": {
            "displayName": caller.token_name or "default", "role": caller.token_role, "createdAt": iso(caller.token_created_at),
        }}
    return {
        "type": "user",
        "id": caller.name,
        "name": caller.name,
        "fullname": caller.name,
        "email": None,
        "emailVerified": False,
        "isPro": False,
        "canPay": False,
        "avatarUrl": None,
        "isAdmin": caller.is_admin,
        "orgs": [{"type": "org", "name": org, "fullname": org, "roleInOrg": role} for org, role in caller.orgs.items()],
        "auth": auth,
    }


def token_view(record: Token) -> dict:
    return {
        "id": record.id,
        "name": record.name,
        "role": record.role,
        "createdAt": iso(record.created_at or None),
        "lastUsedAt": iso(record.last_used_at or None),
    }


def _require_token_owner(caller: Caller) -> None:
    if not caller.can_write:
        raise Forbidden("managing tokens needs a write token; this one is read-only")


@router.get("/tokens", response_model=list[TokenInfo])
def list_tokens(r: StoreDep, caller: CurrentUser) -> list[dict]:
    return [token_view(t) for t in accounts.list_tokens(r, caller.name)]


@router.post("/tokens", status_code=201, response_model=CreatedToken)
def create_token(body: NewToken, r: StoreDep, caller: CurrentUser) -> dict:
    """A new token of the caller; its value is in this answer only."""
    _require_token_owner(caller)
    value = accounts.create_token(r, caller.name, role=body.role, display_name=body.name)
    record = accounts.lookup_token(r, value, touch=False)
    assert record is not None  # made just now
    return {**token_view(record), "token": value}


@router.delete("/tokens/{token_id}", status_code=204, response_class=Response)
def revoke_token(token_id: str, r: StoreDep, caller: CurrentUser) -> None:
    _require_token_owner(caller)
    accounts.revoke_token(r, caller.name, token_id)


def user_view(record: User, r) -> dict:
    return {"name": record.name, "role": record.role, "createdAt": iso(record.created_at or None),
            "hasPassword": bool(record.password), "orgs": accounts.orgs_of(r, record.name),
            "state": record.state or "active"}


@router.get("/admin/users", response_model=list[UserInfo])
def admin_list_users(r: StoreDep, caller: CurrentUser) -> list[dict]:
    require_platform_admin(caller, write=False)
    removal.finish_all(r)  # free the names of accounts whose last Space is gone
    return [user_view(u, r) for u in accounts.list_users(r)]


@router.post("/admin/users", status_code=201, response_model=CreatedUser)
def admin_create_user(body: NewUser, r: StoreDep, caller: CurrentUser) -> dict:
    """Create a user; the answer carries their first write token (shown once)."""
    require_platform_admin(caller)
    accounts.create_user(r, body.name, role=body.role, password=body.password)
    token = accounts.create_token(r, body.name, role="write", display_name="created by admin")
    return {**user_view(accounts.require_user(r, body.name), r), "token": token}


@router.delete("/admin/users/{user}/tokens/{token_id}", status_code=204, response_class=Response)
def admin_revoke_token(user: str, token_id: str, r: StoreDep, caller: CurrentUser) -> None:
    """Revoke any user's token (a leaked one, say); it stops working at once."""
    require_platform_admin(caller)
    accounts.require_user(r, user)
    accounts.revoke_token(r, user, token_id)


REMOVAL_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": AccountRemoval, "description": "The account's Spaces are being deleted; its name is free once they are gone"}}


def removal_status(result: dict) -> int:
    """200 when the account is gone, 202 while its Spaces are being deleted."""
    return 200 if result["state"] == "deleted" else 202


def delete_user_account(r, caller: Caller, user: str, *, spaces: str | None = None, transfer_to: str | None = None) -> dict:
    """Delete a user (platform admins only), as the API and the admin page do."""
    require_platform_admin(caller)
    return removal.delete_user(r, user, spaces=spaces, transfer_to=transfer_to)


@router.delete("/admin/users/{user}", response_model=AccountRemoval, responses=REMOVAL_RESPONSES)
def admin_delete_user(user: str, r: StoreDep, caller: CurrentUser, response: Response, spaces: str | None = None,
                      transfer_to: str | None = None) -> dict:
    """Delete a user: tokens, sessions and memberships at once; their Spaces through Space deletion
    (``spaces=delete`` is required when they own any); the name is free once those are gone."""
    result = delete_user_account(r, caller, user, spaces=spaces, transfer_to=transfer_to)
    response.status_code = removal_status(result)
    return result
