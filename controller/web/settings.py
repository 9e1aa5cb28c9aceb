"""A Space's Settings tab, for its owners: visibility, sleep time, hardware, variables and secrets,
restart, factory rebuild, pause, and delete with a typed confirmation.

Plain HTML forms. Each POST needs the browser session, its CSRF token and our own origin; it then
runs the same access check, request model and service as the API (so the rules and the checks are
the same) as the session's user, and comes back to the tab with what happened — or with the error, nothing changed.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from urllib.parse import quote

import redis
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from controller.api.models import EnvEntry, EnvKey, HardwareRequest, Rollback, SettingsUpdate, SleepTime
from controller.deps import OptionalUser, StoreDep, form_csrf, owned_space
from controller.login import form_caller, login_url, read_form
from controller.web.pages import space_context, space_or_404, templates
from core import envvars, services
from core.access import VISIBILITIES, Caller, require_owner_read
from core.errors import InvalidInput, SpacesError
from core.hardware import TIERS
from core.models import Space

log = logging.getLogger(__name__)
router = APIRouter(tags=["pages"], include_in_schema=False)


def _settings_page(request: Request, r, space: Space, caller, *, notice: str = "", error: str = "", status: int = 200) -> Response:
    return templates.TemplateResponse(request, "settings.html", {
        **space_context(space, caller, "settings"), "csrf": form_csrf(request),
        "variables": envvars.list_variables(r, space.id), "secrets": envvars.list_secrets(r, space.id),
        "visibilities": VISIBILITIES, "tiers": list(TIERS), "notice": notice, "form_error": error,
        "sleep_seconds": space.sleep_seconds if space.sleep_seconds is not None else "",
        "hardware": space.hardware or "cpu-basic", "visibility": space.visibility.value}, status_code=status)


@router.get("/spaces/{owner}/{name}/settings", response_class=HTMLResponse)
def settings_page(request: Request, owner: str, name: str, r: StoreDep, caller: OptionalUser, done: str = "") -> Response:
    if caller is None:
        return RedirectResponse(login_url(f"/spaces/{owner}/{name}/settings"), status_code=302)
    space = space_or_404(request, r, owner, name, caller)
    if isinstance(space, Response):
        return space
    try:
        require_owner_read(caller, space)
    except SpacesError as exc:
        return templates.TemplateResponse(request, "missing.html", {"caller": caller, "title": "Not allowed",
                                                                    "space_id": space.id, "reason": exc.message},
                                          status_code=exc.status)
    return _settings_page(request, r, space, caller, notice=done[:200])


def _int(value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"{what} must be a whole number; got {value!r}") from None


def _validated_entry(form: dict) -> EnvEntry:
    return EnvEntry(key=form.get("key", ""), value=form.get("value", ""), description=form.get("description", ""))


def _key(form: dict) -> str:
    return EnvKey(key=form.get("key", "")).key


# action -> (the service it runs, given the store, the Space's id, the caller and the form (checked by
# the API's own request models); what the page says afterwards)
ACTIONS: dict[str, tuple[Callable[[redis.Redis, str, Caller, dict], object], str]] = {
    "visibility": (lambda r, s, c, f: services.set_visibility(r, s, SettingsUpdate.model_validate({"visibility": f.get("visibility")}).wanted()),
                   "Visibility is now {visibility}"),
    "sleeptime": (lambda r, s, c, f: services.set_sleep_time(r, s, SleepTime(seconds=_int(f.get("seconds", ""), "The sleep time")).seconds),
                  "Sleep time saved"),
    "hardware": (lambda r, s, c, f: services.set_hardware(r, s, HardwareRequest.model_validate({"flavor": f.get("flavor")}).flavor),
                 "Hardware: {flavor}"),
    "variable": (lambda r, s, c, f: services.set_variable(r, s, *_fields(_validated_entry(f))), "Variable {key} saved; the Space restarts with it"),
    "variable-delete": (lambda r, s, c, f: services.delete_env(r, s, _key(f), "variable"), "Variable {key} removed; the Space restarts"),
    "secret": (lambda r, s, c, f: services.set_secret(r, s, *_fields(_validated_entry(f))), "Secret {key} saved; the Space restarts with it"),
    "secret-delete": (lambda r, s, c, f: services.delete_env(r, s, _key(f), "secret"), "Secret {key} removed; the Space restarts"),
    "restart": (lambda r, s, c, f: services.restart(r, s), "Restarting"),
    "factory": (lambda r, s, c, f: services.restart(r, s, factory=True), "Rebuilding from scratch"),
    "pause": (lambda r, s, c, f: services.pause(r, s), "Paused: restart to resume"),
    "rollback": (lambda r, s, c, f: services.rollback(r, s, Rollback(build=f.get("build", "")).build, author=c.name),
                 "Rolling back to build #{build}"),
}


def _fields(entry: EnvEntry) -> tuple[str, str, str]:
    return entry.key, entry.value, entry.description


@router.post("/spaces/{owner}/{name}/settings/{action}", response_class=RedirectResponse)
async def settings_action(request: Request, owner: str, name: str, action: str, r: StoreDep) -> Response:
    form = await read_form(request)
    caller = form_caller(request, r, form.get("csrf"))  # write rights, under the usual rules
    if caller is None:
        return HTMLResponse("<p>This form expired or came from another site. Reload the settings page and try again.</p>",
                            status_code=403)
    space = space_or_404(request, r, owner, name, caller)
    if isinstance(space, Response):
        return space
    try:
        if action == "delete":
            if form.get("confirm") != space.id:
                raise InvalidInput(f"type the Space's full name, {space.id}, to delete it")
            services.delete(r, owned_space(r, owner, name, caller).record)
            log.info("%s deleted %s from the settings page", caller.name, space.id)
            return RedirectResponse(f"/?owner={quote(owner)}", status_code=303)
        if action not in ACTIONS:
            raise InvalidInput(f"unknown settings action {action!r}")
        handler, notice = ACTIONS[action]
        handler(r, owned_space(r, owner, name, caller).id, caller, form)
        notice = notice.format_map(defaultdict(str, form))
    except SpacesError as exc:
        return _settings_page(request, r, space, caller, error=exc.message, status=exc.status)
    except ValidationError as exc:  # a field over its length
        problem = "; ".join(f"{e['loc'][-1]}: {e['msg']}" for e in exc.errors())
        return _settings_page(request, r, space, caller, error=problem, status=400)
    return RedirectResponse(f"/spaces/{owner}/{name}/settings?done={quote(notice)}", status_code=303)
