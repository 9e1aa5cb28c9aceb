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

from fastapi import APIRouter, Response

from controller.api.models import AccountRemoval, Member, NewOrg, OrgInfo
from controller.api.users import REMOVAL_RESPONSES, removal_status
from controller.deps import CurrentUser, StoreDep
from controller.views import iso
from core import accounts, removal
from core.access import Caller, require_org_admin, require_platform_admin
from core.errors import Forbidden, NotFound

router = APIRouter(prefix="/api/organizations", tags=["organizations"])


def org_view(r, org: str) -> dict:
    record = accounts.require_org(r, org)
    return {"type": "org", "name": org, "createdAt": iso(record.created_at or None),
            "members": [{"user": u, "role": role} for u, role in accounts.members_of(r, org).items()]}


@router.post("", status_code=201, response_model=OrgInfo)
def create_org(body: NewOrg, r: StoreDep, caller: CurrentUser) -> dict:
    if not caller.can_write:
        raise Forbidden(f"the token of {caller.name} is read-only; a write token is needed")
    if body.admin and body.admin != caller.name:
        require_platform_admin(caller)
    accounts.create_org(r, body.name, admin=body.admin or caller.name)
    return org_view(r, body.name)


@router.get("/{org}/members", response_model=OrgInfo)
def list_members(org: str, r: StoreDep, caller: CurrentUser) -> dict:
    accounts.require_org(r, org)
    if caller.role_in(org) is None:
        raise NotFound(f"organization {org!r} does not exist")  # members are not public
    return org_view(r, org)


@router.post("/{org}/members", response_model=OrgInfo)
def set_member(org: str, body: Member, r: StoreDep, caller: CurrentUser) -> dict:
    accounts.require_org(r, org)
    require_org_admin(caller, org)
    accounts.set_member(r, org, body.user, body.role)
    return org_view(r, org)


@router.delete("/{org}/members/{user}", response_model=OrgInfo)
def remove_member(org: str, user: str, r: StoreDep, caller: CurrentUser) -> dict:
    accounts.require_org(r, org)
    require_org_admin(caller, org)
    accounts.remove_member(r, org, user)
    return org_view(r, org)


def delete_organization(r, caller: Caller, org: str, *, spaces: str | None = None, transfer_to: str | None = None) -> dict:
    """Delete an organization (its admins, platform admins), as the API and the admin page do."""
    accounts.require_org(r, org)
    require_org_admin(caller, org)
    return removal.delete_org(r, org, spaces=spaces, transfer_to=transfer_to)


@router.delete("/{org}", response_model=AccountRemoval, responses=REMOVAL_RESPONSES)
def delete_org(org: str, r: StoreDep, caller: CurrentUser, response: Response, spaces: str | None = None,
               transfer_to: str | None = None) -> dict:
    """Delete the organization: memberships at once, its Spaces through Space deletion (``spaces=delete``
    is required when it owns any); the name is free once those are gone."""
    result = delete_organization(r, caller, org, spaces=spaces, transfer_to=transfer_to)
    response.status_code = removal_status(result)
    return result
