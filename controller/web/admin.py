"""The admin dashboard (platform admins only): every Space in one table (stage, owner, SDK, uptime,
memory and CPU now, last visit, image size, disk written outside and in /data; sort, filter, bulk restart or pause), the users,
organizations and tokens (create and delete users and organizations, add members, revoke tokens), and the
health of the platform's parts with the disk its images and caches use (and a clean-up).

Usage figures come from the monitor (``worker.usage``) through Redis: the web process never talks
to Docker itself.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from urllib.parse import parse_qs, quote

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from controller.api import orgs as orgs_api
from controller.api import users as users_api
from controller.api.models import Member, NewOrg, NewUser
from controller.deps import OptionalUser, StoreDep, form_csrf, owned_space
from controller.login import MAX_FORM, form_caller, login_url, read_form
from controller.web.pages import card, templates
from core import accounts, keys, removal, services, store
from core.errors import InvalidInput, SpacesError
from core.queues import enqueue_clean_up, queue_status
from core.settings import get_settings

router = APIRouter(tags=["admin"], include_in_schema=False)

SORTS = {"id": lambda s: s["id"], "owner": lambda s: s["author"], "sdk": lambda s: s["sdk"] or "",
         "stage": lambda s: s["stage"], "uptime": lambda s: -(s["uptime"] or 0), "memory": lambda s: -(s["memory"] or 0),
         "cpu": lambda s: -(s["cpu"] or 0), "visit": lambda s: -(s["last_visit"] or 0), "image": lambda s: -(s["image_size"] or 0),
         "disk": lambda s: -((s["disk"] or 0) + (s["data"] or 0))}


def _admin_or_refusal(request: Request, caller):
    if caller is None:
        return RedirectResponse(login_url(str(request.url.path)), status_code=302)
    if not caller.is_admin:
        return templates.TemplateResponse(request, "missing.html", {"caller": caller, "title": "Admins only",
                                          "reason": "This page is for the platform's administrators."}, status_code=403)
    return None


FORM_REFUSED = "<p>This form expired, came from another site, or you are not an admin.</p>"


def _form_caller(request: Request, r, csrf: str | None):
    """The admin who sent this form (see :func:`controller.login.form_caller`); else None."""
    caller = form_caller(request, r, csrf)
    return caller if caller is not None and caller.is_admin else None


def _rows(r) -> list[dict]:
    settings = get_settings()
    usage = {k: json.loads(v) for k, v in r.hgetall(keys.SPACE_USAGE).items()}
    now = time.time()
    rows = []
    for space in store.list_spaces(r):
        used = usage.get(space.id, {})
        started = used.get("started_at")
        rows.append({**card(space, settings), "memory": used.get("memory"), "cpu": used.get("cpu_percent"),
                     "image_size": used.get("image_size"), "disk": used.get("disk"), "data": used.get("data"),
                     "uptime": now - started if started else None,
                     "last_visit": space.last_active or None})
    return rows


@router.get("/admin", response_class=HTMLResponse)
def admin_spaces(request: Request, r: StoreDep, caller: OptionalUser, sort: str = "id", q: str = "", stage: str = "",
                 done: str = "") -> Response:
    refused = _admin_or_refusal(request, caller)
    if refused:
        return refused
    rows = _rows(r)
    stages = sorted({row["stage"] for row in rows})
    if q:
        rows = [row for row in rows if q.lower() in row["id"].lower()]
    if stage:
        rows = [row for row in rows if row["stage"] == stage]
    rows.sort(key=SORTS.get(sort, SORTS["id"]))
    return templates.TemplateResponse(request, "admin_spaces.html", {
        "caller": caller, "title": "Admin · Spaces", "rows": rows, "sort": sort, "q": q, "stage": stage, "done": done[:300],
        "stages": stages, "sorts": list(SORTS), "csrf": form_csrf(request), "now": time.time()})


@router.post("/admin/bulk", response_class=RedirectResponse)
async def admin_bulk(request: Request, r: StoreDep) -> Response:
    """Restart or pause the ticked Spaces (a form: ``action``, ``space`` repeated, ``csrf``)."""
    body = await request.body()
    if len(body) > MAX_FORM:
        return HTMLResponse("<p>Too many Spaces ticked at once.</p>", status_code=413)
    fields = parse_qs(body.decode("utf-8", "replace"))
    caller = _form_caller(request, r, (fields.get("csrf") or [""])[0])
    if caller is None:
        return HTMLResponse(FORM_REFUSED, status_code=403)
    action = (fields.get("action") or [""])[0]
    ids = fields.get("space") or []
    if action not in ("restart", "pause") or not ids:
        return RedirectResponse("/admin?done=" + quote("Tick some Spaces and choose restart or pause"), status_code=303)
    outcomes = []
    for space_id in ids[:500]:
        owner, _, name = space_id.partition("/")
        try:
            space = owned_space(r, owner, name, caller)  # the same access check as the API
            if action == "restart":
                services.restart(r, space.id)
            else:
                services.pause(r, space.id)
            outcomes.append(f"{space_id}: {action} queued")
        except SpacesError as exc:
            outcomes.append(f"{space_id}: {exc.message}")
    return RedirectResponse("/admin?done=" + quote("; ".join(outcomes)), status_code=303)


def _users_page(request: Request, r, caller, *, notice: str = "", error: str = "", token: str = "", status: int = 200) -> Response:
    removal.finish_all(r)  # free the names of accounts whose last Space is gone
    users = [{"name": u.name, "role": u.role, "state": u.state, "password": bool(u.password),
              "orgs": accounts.orgs_of(r, u.name), "tokens": accounts.list_tokens(r, u.name)} for u in accounts.list_users(r)]
    orgs = [{"name": o, "members": accounts.members_of(r, o), "state": org.state if (org := accounts.get_org(r, o)) else ""}
            for o in sorted(r.smembers(keys.ORGS))]
    return templates.TemplateResponse(request, "admin_users.html", {
        "caller": caller, "title": "Admin · Users", "users": users, "orgs": orgs, "csrf": form_csrf(request),
        "notice": notice, "form_error": error, "new_token": token, "now": time.time()}, status_code=status,
        headers={"Cache-Control": "no-store"})  # it may show a new token, once


@router.get("/admin/users", response_class=HTMLResponse)
def admin_users(request: Request, r: StoreDep, caller: OptionalUser, done: str = "") -> Response:
    refused = _admin_or_refusal(request, caller)
    if refused:
        return refused
    return _users_page(request, r, caller, notice=done[:300])


# action -> (what it runs with the store, the admin and the form; what the page says afterwards)
USER_ACTIONS = {
    "create-org": (lambda r, c, f: orgs_api.create_org(NewOrg(name=f.get("name", ""), admin=f.get("admin") or None), r, c),
                   "Organization {name} created; {admin} is its admin"),
    "add-member": (lambda r, c, f: orgs_api.set_member(f.get("org", ""), Member(user=f.get("user", ""), role=f.get("role", "read")), r, c),
                   "{user} is now {role} in {org}"),
    "revoke-token": (lambda r, c, f: users_api.admin_revoke_token(f.get("user", ""), f.get("id", ""), r, c),
                     "Token {name} of {user} revoked"),
}


# action -> (the form field naming the account, what deletes it with the store, the admin, the name and the choice)
DELETE_ACTIONS = {
    "delete-user": ("user", lambda r, c, name, spaces: users_api.delete_user_account(r, c, name, spaces=spaces)),
    "delete-org": ("org", lambda r, c, name, spaces: orgs_api.delete_organization(r, c, name, spaces=spaces)),
}


def _delete_account(action: str, r, caller, form: dict[str, str]) -> Response:
    """Delete the user or organization the form names, once its name was typed again to confirm."""
    field, delete = DELETE_ACTIONS[action]
    name = form.get(field, "")
    if not name or form.get("confirm", "") != name:
        raise InvalidInput(f"type the name {name!r} again in the confirmation box to delete it")
    result = delete(r, caller, name, form.get("spaces") or None)
    what = "User" if result["type"] == "user" else "Organization"
    if result["state"] == "deleted":
        message = f"{what} {name} deleted; the name is free"
    else:
        message = f"{what} {name} is being deleted with its {len(result['spaces'])} Space(s); the name is free once they are gone"
    return RedirectResponse("/admin/users?done=" + quote(message), status_code=303)


@router.post("/admin/users/{action}", response_class=RedirectResponse)
async def admin_users_action(request: Request, action: str, r: StoreDep) -> Response:
    form = await read_form(request)
    caller = _form_caller(request, r, form.get("csrf"))
    if caller is None:
        return HTMLResponse(FORM_REFUSED, status_code=403)
    try:
        if action == "create-user":  # the answer shows the new user's token once: no redirect
            created = users_api.admin_create_user(NewUser(
                name=form.get("name", ""), role=form.get("role", "user"), password=form.get("password") or None), r, caller)
            return _users_page(request, r, caller, notice=f"User {created['name']} created", token=created["token"])
        if action in DELETE_ACTIONS:
            return _delete_account(action, r, caller, form)
        if action not in USER_ACTIONS:
            raise InvalidInput(f"unknown action {action!r}")
        handler, notice = USER_ACTIONS[action]
        handler(r, caller, form)
    except SpacesError as exc:
        return _users_page(request, r, caller, error=exc.message, status=exc.status)
    except ValidationError as exc:
        problem = "; ".join(f"{e['loc'][-1]}: {e['msg']}" for e in exc.errors())
        return _users_page(request, r, caller, error=problem, status=400)
    message = notice.format_map(defaultdict(str, form, admin=form.get("admin") or caller.name))
    return RedirectResponse("/admin/users?done=" + quote(message), status_code=303)


def health(r) -> list[dict]:
    """One line per part of the platform: name, ok, detail."""
    settings = get_settings()
    parts = []
    try:
        info = r.info()
        aof = "on" if info.get("aof_enabled") else "off"
        parts.append({"name": "Redis", "ok": True, "detail": f"{info.get('used_memory_human')} used, AOF {aof}"})
    except Exception as exc:  # noqa: BLE001 - shown, not raised
        parts.append({"name": "Redis", "ok": False, "detail": str(exc)})
    try:
        ok = httpx.get(f"{settings.traefik_api_url}/ping", timeout=2).status_code == 200
        parts.append({"name": "Traefik", "ok": ok, "detail": "answers its ping" if ok else "no answer"})
    except httpx.HTTPError as exc:
        parts.append({"name": "Traefik", "ok": False, "detail": str(exc)})
    beat = r.get(keys.MONITOR_HEARTBEAT)
    if beat:
        data = json.loads(beat)
        age = time.time() - data["at"]
        parts.append({"name": "Docker (seen by the monitor)", "ok": age < 15,
                      "detail": f"{data['instances']} container(s), {age:.0f} s ago"})
    else:
        parts.append({"name": "Docker (seen by the monitor)", "ok": False, "detail": "the monitor has not reported for 30 s"})
    for queue_name, what in ((keys.QUEUE_BUILDS, "builder"), (keys.QUEUE_RUNS, "run")):
        waiting, workers = queue_status(r, queue_name)
        parts.append({"name": f"{what} workers", "ok": workers > 0,
                      "detail": f"{workers} alive; {waiting} job(s) waiting in the '{queue_name}' queue"})
    return parts


@router.get("/admin/system", response_class=HTMLResponse)
def admin_system(request: Request, r: StoreDep, caller: OptionalUser, done: str = "") -> Response:
    refused = _admin_or_refusal(request, caller)
    if refused:
        return refused
    disk = json.loads(r.get(keys.DISK_USAGE) or "null")
    cleanup = json.loads(r.get(keys.CLEANUP_RESULT) or "null")
    return templates.TemplateResponse(request, "admin_system.html", {
        "caller": caller, "title": "Admin · System", "parts": health(r), "disk": disk, "cleanup": cleanup,
        "csrf": form_csrf(request), "done": done[:300], "now": time.time()})


@router.post("/admin/system/clean-up", response_class=RedirectResponse)
async def admin_clean_up(request: Request, r: StoreDep) -> Response:
    """Queue the clean-up of unused images and caches (``worker.disk.clean_up``)."""
    caller = _form_caller(request, r, (await read_form(request)).get("csrf"))
    if caller is None:
        return HTMLResponse(FORM_REFUSED, status_code=403)
    enqueue_clean_up(r)
    return RedirectResponse("/admin/system?done=" + quote("Clean-up queued; its result shows below when it is done"),
                            status_code=303)
