"""The controller's FastAPI application: REST API and git endpoint behind Traefik.

Run with ``uvicorn controller.app:app --host 127.0.0.1 --port 8000`` (``make up`` does). It
listens on the host's loopback only; visitors reach it through Traefik at ``http://<domain>:<port>``.
"""

from __future__ import annotations

import logging
import re
from email.utils import formatdate
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from controller.api import api_router
from controller.errors import error_response, validation_message
from controller.files import router as files_router
from controller.gate import router as gate_router
from controller.git_http import router as git_router
from controller.login import router as login_router
from controller.metrics import router as metrics_router
from controller.web.admin import router as admin_router
from controller.web.pages import router as pages_router
from controller.web.pages import static_files
from controller.web.settings import router as settings_router
from core import store
from core.errors import SpacesError
from core.settings import get_settings

log = logging.getLogger(__name__)


class DateHeader:
    """An exact ``Date`` on every response. uvicorn's own (switched off with ``--no-date-header``)
    is refreshed once a second and can lag by up to two; huggingface_hub reads logs "up to the
    server's Date + 1 s", so a lagging Date would hide the newest log lines from it."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_date(message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                message = {**message, "headers": [*headers, (b"date", formatdate(usegmt=True).encode())]}
            await send(message)

        await self.app(scope, receive, send_with_date)


COMMIT_PATH = re.compile(r"^/api/spaces/[^/]+/[^/]+/commit/")


class BodyLimit:
    """Refuse API and form requests whose body is over ``limit`` bytes (413), before reading it.
    git pushes (``/spaces/…``) and API commits (``…/commit/…``) are exempt: the repository size
    limit (``SPACES_MAX_REPO_MB``) bounds them."""

    def __init__(self, app, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/spaces/") or COMMIT_PATH.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await self._refuse(send)
            return
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send) -> None:
        message = f"request body too large: at most {self.limit // 1024} KiB"
        body = f'{{"error": "{message}"}}'.encode()
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"x-error-message", message.encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


class Health(BaseModel):
    ok: bool


def add_error_handlers(app: FastAPI) -> None:
    """Every failure answers ``{"error": message}`` with ``X-Error-Message`` (see :mod:`controller.errors`)."""

    @app.exception_handler(SpacesError)
    async def spaces_error(request: Request, exc: SpacesError) -> JSONResponse:
        headers: dict[str, str] = {}
        if exc.status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="Spaces"'
        if exc.status == 404:
            headers["X-Error-Code"] = getattr(exc, "code", "RepoNotFound")
        if exc.status == 429:
            headers["Retry-After"] = str(getattr(exc, "retry_after", 60))
        return error_response(exc.status, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, validation_message(exc.errors()))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        """Starlette's own refusals (no route for the path, a method the path does not take),
        and any ``HTTPException``: its own words, or a sentence saying what was asked for."""
        headers = dict(exc.headers or {})
        if exc.status_code in (204, 304) or exc.status_code < 200:
            return Response(status_code=exc.status_code, headers=headers)
        message = str(exc.detail)
        if message == HTTPStatus(exc.status_code).phrase:  # Starlette's default detail
            if exc.status_code == 404:
                message = f"there is nothing at {request.url.path}: no such page, file or API endpoint"
            elif exc.status_code == 405:
                allowed = headers.get("Allow") or headers.get("allow")
                message = f"{request.method} is not allowed at {request.url.path}" + (f"; it takes {allowed}" if allowed else "")
        return error_response(exc.status_code, message, headers)

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> JSONResponse:
        """A bug: the answer says so in the usual shape; the traceback goes to the log (Starlette
        raises the exception again after this answer, and uvicorn logs it)."""
        return error_response(500, "internal error: the controller failed on this request; its log has the details")


def create_app() -> FastAPI:
    if not logging.getLogger().handlers:  # uvicorn configures only its own loggers
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = FastAPI(title="Spaces", version="0.1.0")

    add_error_handlers(app)

    @app.get("/healthz", include_in_schema=False, response_model=Health)
    def healthz() -> Health:
        store.get_redis().ping()
        return Health(ok=True)

    app.include_router(api_router)
    app.include_router(metrics_router)
    # Before git's catch-all /spaces/{owner}/{repo}/{action:path}:
    app.include_router(files_router)
    app.include_router(pages_router)
    app.include_router(settings_router)
    app.include_router(git_router)
    app.include_router(login_router)
    app.include_router(admin_router)
    app.mount("/static", static_files, name="static")
    app.include_router(gate_router)
    app.add_middleware(BodyLimit, limit=get_settings().max_api_body_kb * 1024)
    app.add_middleware(DateHeader)
    return app


app = create_app()


def endpoints(application: FastAPI) -> set[tuple[str, str]]:
    """Every ``(method, path)`` the application answers (HEAD aside): what the authorization
    matrix test must cover."""
    found: set[tuple[str, str]] = set()

    def walk(routes) -> None:
        for route in routes:
            if hasattr(route, "path"):
                found.update((m, route.path) for m in (getattr(route, "methods", None) or {"GET"}) if m != "HEAD")
            else:  # a router included lazily (FastAPI 0.16x)
                walk(route.effective_route_contexts())

    walk(application.routes)
    return found
