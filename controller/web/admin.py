"""The admin dashboard (platform admins only): every Space in one table (stage, owner, SDK, uptime,
memory and CPU now, last visit, image size; sort, filter, bulk restart or pause), the users and
organizations, and the health of the platform's parts.

Usage figures come from the monitor (``worker.usage``) through Redis: the web process never talks
to Docker itself.
"""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, quote

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from controller.api import runtime as runtime_api
from controller.deps import OptionalUser, StoreDep, caller_for
from controller.login import MAX_FORM, login_url, same_origin
from controller.web.pages import card, templates
from core import accounts, keys, sessions, store
from core.errors import SpacesError
from core.queues import queue_status
from core.settings import get_settings

router = APIRouter(tags=["admin"], include_in_schema=False)

SORTS = {"id": lambda s: s["id"], "owner": lambda s: s["author"], "sdk": lambda s: s["sdk"] or "",
         "stage": lambda s: s["stage"], "uptime": lambda s: -(s["uptime"] or 0), "memory": lambda s: -(s["memory"] or 0),
         "cpu": lambda s: -(s["cpu"] or 0), "visit": lambda s: -(s["last_visit"] or 0), "image": lambda s: -(s["image_size"] or 0)}


def _admin_or_refusal(request: Request, caller):
    if caller is None:
        return RedirectResponse(login_url(str(request.url.path)), status_code=302)
    if not caller.is_admin:
        return templates.TemplateResponse(request, "missing.html", {"caller": caller, "title": "Admins only",
                                          "reason": "This page is for the platform's administrators."}, status_code=403)
    return None


def _csrf(request: Request) -> str:
    sid = request.cookies.get(sessions.SESSION_COOKIE)
    return sessions.csrf_token(sid) if sid else ""


def _rows(r) -> list[dict]:
    settings = get_settings()
    usage = {k: json.loads(v) for k, v in r.hgetall(keys.SPACE_USAGE).items()}
    now = time.time()
    rows = []
    for space in store.list_spaces(r):
        used = usage.get(space["id"], {})
        started = used.get("started_at")
        rows.append({**card(space, settings), "memory": used.get("memory"), "cpu": used.get("cpu_percent"),
                     "image_size": used.get("image_size"), "uptime": now - started if started else None,
                     "last_visit": float(space["last_active"]) if space.get("last_active") else None})
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
        "stages": stages, "sorts": list(SORTS), "csrf": _csrf(request), "now": time.time()})


@router.post("/admin/bulk")
async def admin_bulk(request: Request, r: StoreDep) -> Response:
    """Restart or pause the ticked Spaces (a form: ``action``, ``space`` repeated, ``csrf``)."""
    body = await request.body()
    if len(body) > MAX_FORM:
        return HTMLResponse("<p>Too many Spaces ticked at once.</p>", status_code=413)
    fields = parse_qs(body.decode("utf-8", "replace"))
    sid = request.cookies.get(sessions.SESSION_COOKIE)
    user = sessions.session_user(r, sid)
    caller = caller_for(r, user, token_role="write", via="form") if user else None
    if caller is None or not caller.is_admin or not same_origin(request) or not sessions.csrf_ok(sid, (fields.get("csrf") or [""])[0]):
        return HTMLResponse("<p>This form expired, came from another site, or you are not an admin.</p>", status_code=403)
    action = (fields.get("action") or [""])[0]
    ids = fields.get("space") or []
    if action not in ("restart", "pause") or not ids:
        return RedirectResponse("/admin?done=" + quote("Tick some Spaces and choose restart or pause"), status_code=303)
    outcomes = []
    for space_id in ids[:500]:
        owner, _, name = space_id.partition("/")
        try:
            if action == "restart":
                runtime_api.restart_space(owner, name, r, caller)
            else:
                runtime_api.pause_space(owner, name, r, caller)
            outcomes.append(f"{space_id}: {action} queued")
        except SpacesError as exc:
            outcomes.append(f"{space_id}: {exc.message}")
    return RedirectResponse("/admin?done=" + quote("; ".join(outcomes)), status_code=303)


@router.get("/admin/users", response_class=HTMLResponse)
def admin_users(request: Request, r: StoreDep, caller: OptionalUser) -> Response:
    refused = _admin_or_refusal(request, caller)
    if refused:
        return refused
    users = [{**u, "orgs": accounts.orgs_of(r, u["name"]), "tokens": accounts.list_tokens(r, u["name"])}
             for u in accounts.list_users(r)]
    orgs = [{"name": o, "members": accounts.members_of(r, o)} for o in sorted(r.smembers(keys.ORGS))]
    return templates.TemplateResponse(request, "admin_users.html", {"caller": caller, "title": "Admin · Users",
                                                                    "users": users, "orgs": orgs})


def health(r) -> list[dict]:
    """One line per part of the platform: name, ok, detail."""
    settings = get_settings()
    parts = []
    try:
        info = r.info()
        parts.append({"name": "Redis", "ok": True, "detail": f"{info.get('used_memory_human')} used, AOF {'on' if info.get('aof_enabled') else 'off'}"})
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
def admin_system(request: Request, r: StoreDep, caller: OptionalUser) -> Response:
    refused = _admin_or_refusal(request, caller)
    if refused:
        return refused
    return templates.TemplateResponse(request, "admin_system.html", {"caller": caller, "title": "Admin · System",
                                                                     "parts": health(r)})
