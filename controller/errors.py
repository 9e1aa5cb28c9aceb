"""The one shape of every failure the controller answers in JSON: ``{"error": message}`` with the
message's first line in an ``X-Error-Message`` header (what huggingface_hub shows its users).

:func:`error_response` builds it; :mod:`controller.app` turns every exception into it — the
platform's own errors (:class:`core.errors.SpacesError`), FastAPI's request validation errors (with
:func:`validation_message`, which names the field and what it takes) and Starlette's HTTP errors
(unknown paths, wrong methods). Git's smart HTTP endpoint answers ``text/plain`` instead, which git
prints to its user; the HTML pages render their own error pages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel

HEADER_MAX = 200


class ErrorBody(BaseModel):
    """What every refused or failed API request answers."""

    error: str


REFUSED = "Refused or failed: the message says why"
# For a router's ``responses``: how its routes fail. FastAPI documents a model under a route's own
# media type, so routes that answer something else (a stream, text) name the JSON body themselves.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {"4XX": {"model": ErrorBody, "description": REFUSED}}
NON_JSON_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"description": REFUSED, "content": {"application/json": {"schema": ErrorBody.model_json_schema()}}}}


def header_text(message: str) -> str:
    """``message`` as an HTTP header value: its first line, at most HEADER_MAX characters, in
    latin-1 (what HTTP headers carry; a name with an emoji in it must not turn a 400 into a 500)."""
    line = message.splitlines()[0] if message else ""
    return line[:HEADER_MAX].encode("latin-1", "replace").decode("latin-1")


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None, *, summary: str | None = None,
                   **fields: object) -> JSONResponse:
    """``{"error": message, **fields}`` with ``X-Error-Message`` (``summary`` if given, else the
    message's first line) and any other ``headers``."""
    return JSONResponse({"error": message, **fields}, status_code=status,
                        headers={"X-Error-Message": header_text(summary or message), **(headers or {})})


WHERE = {"query": "query parameter", "path": "path parameter", "header": "header", "cookie": "cookie"}
NOT_AN_OBJECT = {"dict_type", "model_type", "model_attributes_type"}


def _problem(error: Mapping[str, Any]) -> str:
    """One validation error in words: which input, and what it must be."""
    kind = error.get("type", "")
    loc = [str(part) for part in error.get("loc", ())]
    source, path = (loc[0], loc[1:]) if loc else ("body", [])
    msg = str(error.get("msg", "is invalid"))
    msg = msg[:1].lower() + msg[1:]
    if kind == "json_invalid":
        return f"the request body is not valid JSON: {(error.get('ctx') or {}).get('error', msg)}"
    if source == "body":
        if not path:
            if kind == "missing":
                return "a JSON request body is required"
            if kind in NOT_AN_OBJECT:
                return "the request body must be a JSON object"
            return f"the request body: {msg}"
        return f"body field {'.'.join(path)!r}: {'it is required' if kind == 'missing' else msg}"
    what = f"{WHERE.get(source, source)} {'.'.join(path)!r}"
    if kind == "missing":
        return f"{what} is required"
    given = error.get("input")
    shown = f" (got {given!r})" if isinstance(given, str) and len(given) <= 50 else ""
    return f"{what}: {msg}{shown}"


def validation_message(errors: Iterable[Mapping[str, Any]]) -> str:
    """FastAPI's validation errors as one message, e.g. ``query parameter 'limit': input should be
    less than or equal to 1000 (got '5000')``. Body values are never quoted back: they may be secrets."""
    problems = list(dict.fromkeys(_problem(error) for error in errors))
    return "; ".join(problems) or "the request is invalid"
