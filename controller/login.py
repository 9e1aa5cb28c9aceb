"""Browser sign-in on the platform's own host: ``/login``, ``/logout``.

Passwords are checked against argon2id hashes. A session is a random, HttpOnly, SameSite=Lax
cookie without a ``Domain`` (so Spaces' subdomains, which run other people's code, never get
it). Every form carries a CSRF token (an HMAC of the session, or before sign-in of a random
cookie) and every POST must come from the platform's own origin. Failed sign-ins are limited per
user and per client (429 with ``Retry-After``; see :func:`core.sessions.check_sign_in`: a correct
password of a user nobody is failing for works even from a client past its budget).
"""

from __future__ import annotations

import logging
import secrets
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from controller.deps import StoreDep, caller_for, client_ip
from controller.web.pages import templates
from core import accounts, sessions
from core.access import Caller
from core.errors import InvalidInput
from core.settings import get_settings

log = logging.getLogger(__name__)

router = APIRouter(tags=["sign-in"], include_in_schema=False)

MAX_FORM = 16 * 1024


def safe_next(value: str | None) -> str:
    """A path on this host to go to after signing in (never another site: ``//x`` and ``/\\x`` are refused)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")) or any(c in value for c in "\r\n"):
        return "/"
    return value


def same_origin(request: Request) -> bool:
    """A form POST must come from the platform's own pages (not from a Space's subdomain)."""
    settings = get_settings()
    origin = request.headers.get("origin")
    return origin is None or origin == settings.public_url(settings.domain)


async def read_form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM:
        raise InvalidInput(f"form too large (at most {MAX_FORM} bytes)")
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


def login_form(request: Request, *, next_path: str, error: str = "", status: int = 200, name: str = "") -> Response:
    nonce = request.cookies.get(sessions.CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = templates.TemplateResponse(request, "login.html", {
        "title": "Sign in", "caller": None, "csrf": sessions.csrf_token(nonce), "next_path": next_path,
        "name": name, "error": error}, status_code=status, headers={"Cache-Control": "no-store"})
    response.set_cookie(sessions.CSRF_COOKIE, nonce, httponly=True, samesite="strict", path="/")
    return response


def _too_many(request: Request, exc: sessions.TooManyFailures, *, next_path: str, name: str) -> Response:
    response = login_form(request, next_path=next_path, name=name, status=429, error=exc.message)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, r: StoreDep, next: str = "/") -> Response:
    if sessions.session_user(r, request.cookies.get(sessions.SESSION_COOKIE)):
        return RedirectResponse(safe_next(next), status_code=303)
    return login_form(request, next_path=safe_next(next))


@router.post("/login", response_class=RedirectResponse)
async def login(request: Request, r: StoreDep) -> Response:
    form = await read_form(request)
    next_path = safe_next(form.get("next"))
    name = form.get("username", "")[:100]
    if not same_origin(request) or not sessions.csrf_ok(request.cookies.get(sessions.CSRF_COOKIE), form.get("csrf")):
        return login_form(request, next_path=next_path, name=name, status=403,
                          error="This form expired or came from another site; please sign in again.")
    settings = get_settings()
    ip = client_ip(request)
    device = sessions.known_device(name, request.cookies.get(sessions.DEVICE_COOKIE))
    try:
        sessions.check_sign_in(r, name, ip, per_user=settings.login_failures_per_user,
                               per_client=settings.login_failures_per_client, device=device)
    except sessions.TooManyFailures as exc:
        return _too_many(request, exc, next_path=next_path, name=name)
    if not accounts.check_password(r, name, form.get("password", "")):
        log.info("failed sign-in for %r from %s", name, ip)
        refusal = sessions.sign_in_failed(r, name, ip, per_client=settings.login_failures_per_client, device=device)
        if refusal is not None:
            return _too_many(request, refusal, next_path=next_path, name=name)
        return login_form(request, next_path=next_path, name=name, status=401, error="Wrong user name or password.")
    sid = sessions.start_session(r, name)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(sessions.SESSION_COOKIE, sid, httponly=True, samesite="lax", path="/", max_age=sessions.SESSION_TTL)
    response.delete_cookie(sessions.CSRF_COOKIE, path="/")
    if device is None:  # this browser now has its own budget for this user's sign-ins
        response.set_cookie(sessions.DEVICE_COOKIE, sessions.device_cookie(name), httponly=True, samesite="strict",
                            path="/login", max_age=sessions.DEVICE_TTL)
    log.info("%s signed in from %s", name, ip)
    return response


@router.get("/logout", response_class=HTMLResponse)
def logout_page(request: Request, r: StoreDep) -> Response:
    sid = request.cookies.get(sessions.SESSION_COOKIE)
    user = sessions.session_user(r, sid)
    if not user or not sid:  # no sid, no user
        return RedirectResponse("/login", status_code=303)
    return templates.TemplateResponse(request, "logout.html", {
        "title": "Sign out", "caller": None, "user": user, "csrf": sessions.csrf_token(sid)},
        headers={"Cache-Control": "no-store"})


@router.post("/logout", response_class=RedirectResponse)
async def logout(request: Request, r: StoreDep) -> Response:
    form = await read_form(request)
    sid = request.cookies.get(sessions.SESSION_COOKIE)
    if not same_origin(request) or not sessions.csrf_ok(sid, form.get("csrf")):
        return templates.TemplateResponse(request, "logout.html", {
            "title": "Sign out", "caller": None, "csrf": sessions.csrf_token(sid) if sid else "",
            "error": "This form expired or came from another site; try again."}, status_code=403)
    sessions.end_session(r, sid)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(sessions.SESSION_COOKIE, path="/")
    return response


def form_caller(request: Request, r, csrf: str | None) -> Caller | None:
    """Who sent this form: the session's user if the form carries the session's CSRF token and came
    from our own origin, acting with write rights (the form proves the user sent it); else None."""
    sid = request.cookies.get(sessions.SESSION_COOKIE)
    user = sessions.session_user(r, sid)
    if not user or not same_origin(request) or not sessions.csrf_ok(sid, csrf):
        return None
    return caller_for(r, user, token_role="write", via="form")


def login_url(next_path: str) -> str:
    return f"/login?next={quote(next_path, safe='')}"
