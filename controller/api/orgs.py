"""Organizations: a namespace several users share, with member roles ``read``, ``write``, ``admin``.

- ``POST /api/organizations {"name"}``: any signed-in user (write token) creates one and becomes its admin;
  a platform admin may name another user as its first admin (``{"name", "admin"}``).
- ``GET /api/organizations/{org}/members``: its members, for its members and platform admins.
- ``POST /api/organizations/{org}/members {"user", "role"}``: add a member or change a role (org admins).
- ``DELETE /api/organizations/{org}/members/{user}``: remove a member (org admins; the last admin stays).
- ``DELETE /api/organizations/{org}?spaces=delete``: delete the organization (org admins, platform
  admins): its memberships at once, its Spaces through Space deletion, its name when they are gone.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from controller.api.users import removal_answer
from controller.deps import CurrentUser, StoreDep
from controller.views import iso
from core import accounts, removal
from core.access import require_org_admin, require_platform_admin
from core.errors import Forbidden, NotFound

router = APIRouter(prefix="/api/organizations", tags=["organizations"])


class NewOrg(BaseModel):
    name: str = Field(max_length=100)
    admin: str | None = Field(default=None, max_length=100)  # its first admin; platform admins may name another user


class Member(BaseModel):
    user: str = Field(max_length=100)
    role: str = "read"


def org_view(r, org: str) -> dict:
    record = accounts.require_org(r, org)
    return {"type": "org", "name": org, "createdAt": iso(record.get("created_at")),
            "members": [{"user": u, "role": role} for u, role in accounts.members_of(r, org).items()]}


@router.post("", status_code=201)
def create_org(body: NewOrg, r: StoreDep, caller: CurrentUser) -> dict:
    if not caller.can_write:
        raise Forbidden(f"the token of {caller.name} is read-only; a write token is needed")
    if body.admin and body.admin != caller.name:
        require_platform_admin(caller)
    accounts.create_org(r, body.name, admin=body.admin or caller.name)
    return org_view(r, body.name)


@router.get("/{org}/members")
def list_members(org: str, r: StoreDep, caller: CurrentUser) -> dict:
    accounts.require_org(r, org)
    if caller.role_in(org) is None:
        raise NotFound(f"organization {org!r} does not exist")  # members are not public
    return org_view(r, org)


@router.post("/{org}/members")
def set_member(org: str, body: Member, r: StoreDep, caller: CurrentUser) -> dict:
    accounts.require_org(r, org)
    require_org_admin(caller, org)
    accounts.set_member(r, org, body.user, body.role)
    return org_view(r, org)


@router.delete("/{org}/members/{user}")
def remove_member(org: str, user: str, r: StoreDep, caller: CurrentUser) -> dict:
    accounts.require_org(r, org)
    require_org_admin(caller, org)
    accounts.remove_member(r, org, user)
    return org_view(r, org)


@router.delete("/{org}")
def delete_org(org: str, r: StoreDep, caller: CurrentUser, spaces: str | None = None,
               transfer_to: str | None = None) -> JSONResponse:
    accounts.require_org(r, org)
    require_org_admin(caller, org)
    return removal_answer(removal.delete_org(r, org, spaces=spaces, transfer_to=transfer_to))
