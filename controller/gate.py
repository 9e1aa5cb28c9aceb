"""The door of private Spaces: Traefik's forwardAuth asks ``/auth/space`` before every request.

Traefik sends the visitor's headers and, in ``X-Forwarded-Host`` / ``X-Forwarded-Uri``, what
they asked for (set by Traefik itself; what a client sends in those headers is not trusted). The
answer 2xx lets the request through; anything else goes back to the visitor as it is.

- ``Authorization: Bearer <token>`` of someone who may read the Space: through (API clients,
  ``gradio_client`` with a token). A token that may not: 404, as for a Space that does not exist.
- A browser with this Space's own session cookie: through.
- A browser without: sent to ``/auth/space-login`` on the platform's host, which asks them to sign
  in if needed and sends them back with a one-time ticket; ``/__spaces/auth?ticket=…`` on the
  Space's subdomain swaps it for a cookie valid for that subdomain only.
- Anyone else: 401 with a one-line reason.

A host that is not a Space's subdomain is refused (fail closed).
"""

from __future__ import annotations

import html
import logging
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from controller.deps import StoreDep, caller_for, client_ip, resolve_caller, token_from_request
from controller.errors import error_response
from controller.login import login_url, safe_next
from core import keys, sessions, store
from core.access import is_private, may_read_space
from core.errors import SpacesError
from core.models import Space
from core.names import parse_space_id
from core.settings import get_settings

log = logging.getLogger(__name__)

router = APIRouter(tags=["private Spaces"], include_in_schema=False)

TICKET_PATH = "/__spaces/auth"


def page(title: str, body: str, *, status: int = 200) -> HTMLResponse:
    """A small page served on a Space's own host, where the platform's /static is not routed: its style inline."""
    doc = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} · Spaces</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem;color:#111;background:#fff}}
label{{display:block;margin:.8rem 0 .2rem}}input{{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}}
button{{margin-top:1rem;padding:.5rem 1.2rem;font-size:1rem}}.error{{color:#a00000;font-weight:600}}</style>
</head><body><main>{body}</main></body></html>"""
    return HTMLResponse(doc, status_code=status, headers={"Cache-Control": "no-store"})


def space_of_host(r, host: str) -> Space | None:
    settings = get_settings()
    host = host.strip().lower().rsplit(":", 1)[0] if host.count(":") == 1 else host.strip().lower()
    suffix = "." + settings.domain
    label = host[: -len(suffix)] if host.endswith(suffix) else ""
    if not label or "." in label:
        return None
    space_id = r.get(keys.subdomain(label))
    return store.get_space(r, space_id) if space_id else None


def wants_page(request: Request) -> bool:
    return request.headers.get("x-forwarded-method", "GET") == "GET" and "text/html" in request.headers.get("accept", "")


def refuse(status: int, message: str, **headers: str) -> Response:
    return error_response(status, message, headers)


@router.api_route("/auth/space", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"], response_class=Response)
def check(request: Request, r: StoreDep) -> Response:
    space = space_of_host(r, request.headers.get("x-forwarded-host", ""))
    if space is None:
        return refuse(404, "no Space is served at this address")
    if not is_private(space):
        return Response(status_code=204)
    path, _, query = request.headers.get("x-forwarded-uri", "/").partition("?")
    if path == TICKET_PATH:
        return _redeem(r, space, parse_qs(query))
    try:
        caller = resolve_caller(r, request) if token_from_request(request) else None
    except SpacesError as exc:
        return refuse(exc.status, exc.message, **({"Retry-After": str(exc.retry_after)} if hasattr(exc, "retry_after") else {}))
    if caller is None:
        user = sessions.space_session_user(r, request.cookies.get(sessions.SPACE_SESSION_COOKIE), space.id)
        caller = caller_for(r, user, token_role="read", via="session") if user else None
    if caller is not None:
        if may_read_space(caller, space):
            return Response(status_code=204)
        log.info("refused %s at private Space %s (%s)", caller.name, space.id, client_ip(request))
        return refuse(404, f"Space {space.id} does not exist")
    if wants_page(request):
        settings = get_settings()
        back = urlencode({"space": space.id, "next": safe_next(path + ("?" + query if query else ""))})
        return RedirectResponse(f"{settings.public_url(settings.domain)}/auth/space-login?{back}", status_code=302)
    return refuse(401, f"Space {space.id} is private: send 'Authorization: Bearer <token>' of someone who may see it",
                  **{"WWW-Authenticate": 'Bearer realm="Spaces"'})


def _redeem(r, space: Space, params: dict[str, list[str]]) -> Response:
    user = sessions.redeem_ticket(r, (params.get("ticket") or [""])[0], space.id)
    caller = caller_for(r, user, token_role="read", via="session") if user else None
    if user is None or caller is None or not may_read_space(caller, space):
        return page("Sign-in link expired", '<h1>This sign-in link has expired</h1><p><a href="/">Open the Space again</a>.</p>',
                    status=403)
    # Absolute: Traefik resolves a relative Location against the controller's own address.
    settings = get_settings()
    here = settings.public_url(settings.space_host(space.subdomain))
    response = RedirectResponse(here + safe_next((params.get("next") or ["/"])[0]), status_code=302)
    response.set_cookie(sessions.SPACE_SESSION_COOKIE, sessions.start_space_session(r, user, space.id),
                        httponly=True, samesite="lax", path="/", max_age=sessions.SPACE_SESSION_TTL)
    return response


@router.get("/auth/space-login", response_class=RedirectResponse)
def space_login(request: Request, r: StoreDep, space: str = "", next: str = "/") -> Response:
    """On the platform's host: a signed-in visitor who may see ``space`` gets a one-time ticket to its subdomain."""
    owner, _, name = space.partition("/")
    try:
        record = store.require_space(r, parse_space_id(owner, name))
    except SpacesError:
        return page("Not found", "<h1>There is no such Space</h1>", status=404)
    user = sessions.session_user(r, request.cookies.get(sessions.SESSION_COOKIE))
    if not user:
        return RedirectResponse(login_url(f"/auth/space-login?{urlencode({'space': record.id, 'next': safe_next(next)})}"),
                                status_code=302)
    caller = caller_for(r, user, token_role="read", via="session")
    if caller is None or not may_read_space(caller, record):
        return page("Not found", f"<h1>There is no such Space</h1><p>Signed in as {user}. <a href=\"/logout\">Sign out</a></p>",
                    status=404)
    settings = get_settings()
    ticket = sessions.issue_ticket(r, user, record.id)
    target = settings.public_url(settings.space_host(record.subdomain))
    return RedirectResponse(f"{target}{TICKET_PATH}?{urlencode({'ticket': ticket, 'next': safe_next(next)})}", status_code=302)
