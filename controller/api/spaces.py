"""Space records on Hugging Face's paths: list, info, runtime, builds, build logs (SSE)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from controller.api.hub import repo_fields
from controller.api.models import BuildInfo, SettingsUpdate, SpaceDeletion, SpaceInfo, SpaceRepoInfo, SpaceRuntime, SpaceVisibility
from controller.deps import CurrentUser, OptionalUser, OwnedSpace, ReadableRepo, ReadableSpace, StoreDep
from controller.errors import NON_JSON_ERROR_RESPONSES
from controller.views import build_view, iso, runtime_view, space_view
from core import keys, services, store
from core.access import may_read_repo, may_read_space, require_owner_read
from core.errors import NotFound
from core.models import Visibility
from core.replies import stream_reads, texts
from core.repos import head_commit
from core.settings import get_settings
from core.stages import DEPLOY_ENDED, BuildStatus, Stage

router = APIRouter(prefix="/api/spaces", tags=["spaces"])

TERMINAL_BUILD = {BuildStatus.FAILED, BuildStatus.SUPERSEDED}


PAGE = 100


@router.get("", response_model=list[SpaceInfo])
def list_spaces(request: Request, response: Response, r: StoreDep, caller: OptionalUser, author: str | None = None,
                search: str | None = None, limit: int | None = Query(None, ge=1, le=1000),
                cursor: int = Query(0, ge=0)) -> list[dict]:
    """Spaces the caller may see, newest first, ``limit`` (default 100) at a time; a ``Link: <…>;
    rel="next"`` header points at the next page, as on the Hub."""
    settings = get_settings()
    spaces = [s for s in store.list_spaces(r, author=author) if may_read_space(caller, s)]
    if search:
        needle = search.lower()
        spaces = [s for s in spaces if needle in s.id.lower()]
    size = limit or PAGE
    if cursor + size < len(spaces):
        after = request.url.include_query_params(cursor=cursor + size)
        response.headers["Link"] = f'<{settings.public_url(settings.domain)}{after.path}?{after.query}>; rel="next"'
    return [space_view(s, settings, caller) for s in spaces[cursor:cursor + size]]


@router.get("/{owner}/{name}", response_model=SpaceRepoInfo, response_model_exclude_unset=True)
def space_info(caller: OptionalUser, space: ReadableSpace) -> dict:
    """The Space's record; with its ``sha`` and files (``siblings``) for those who may read its repository."""
    view = space_view(space.record, get_settings(), caller)
    if may_read_repo(caller, space.record):
        view.update(repo_fields(space.id, head_commit(space.id)))
    return view


@router.delete("/{owner}/{name}", status_code=202, response_model=SpaceDeletion)
def delete_space(space: OwnedSpace, r: StoreDep) -> dict:
    """Delete the Space: containers, route, images, repository and records (done by the run worker)."""
    services.delete(r, space.record)
    return {"id": space.id, "stage": Stage.DELETING.value}


@router.get("/{owner}/{name}/runtime", response_model=SpaceRuntime)
def space_runtime(caller: OptionalUser, space: ReadableSpace) -> dict:
    return runtime_view(space.record, caller)


@router.put("/{owner}/{name}/settings", response_model=SpaceVisibility)
def update_settings(space: OwnedSpace, body: SettingsUpdate, r: StoreDep) -> dict:
    """Change the Space's visibility. Takes ``{"private": bool}`` or ``{"visibility": "public" |
    "private" | "protected"}`` (what huggingface_hub's ``update_repo_settings`` sends, old and new).
    The Space's route follows at once: a private Space's subdomain then asks who is visiting."""
    # Record and route change together under the Space's route lock, which every route write
    # takes too: a deploy, wake or restart under way cannot put back a route without the check.
    services.set_visibility(r, space.id, body.wanted())
    record = store.require_space(r, space.id)
    return {"id": space.id, "private": record.visibility is not Visibility.PUBLIC, "visibility": record.visibility.value}


@router.get("/{owner}/{name}/builds", response_model=list[BuildInfo])
def space_builds(space: ReadableRepo, r: StoreDep) -> list[dict]:
    builds = [store.get_build(r, b) for b in texts(r.lrange(keys.space_builds(space.id), 0, 99))]
    return [build_view(b) for b in builds if b]


def _build_finished(r, build_id: str) -> bool:
    """Nothing more will be logged: the build failed or was superseded, or its deploy has ended."""
    build = store.get_build(r, build_id)
    if build is None:
        return False
    if build.status in TERMINAL_BUILD:
        return True
    return build.status is BuildStatus.SUCCEEDED and build.deploy in DEPLOY_ENDED


STREAM_ID = re.compile(r"\d{1,20}-\d{1,20}")


def resume_after(request: Request, prefix: str = "") -> str:
    """Where a reconnecting browser left off: its ``Last-Event-ID`` if that names an entry of this
    stream (``prefix`` + entry id), else the start."""
    last = request.headers.get("last-event-id", "")
    if last.startswith(prefix) and STREAM_ID.fullmatch(last[len(prefix):]):
        return last[len(prefix):]
    return "0-0"


async def _follow_stream(stream: str, request: Request, finished=None, prefix: str = "") -> AsyncIterator[bytes]:
    """Server-sent events of a log stream: what it holds, then new lines as they come, until the
    client leaves or ``finished()`` (run in a thread) says nothing more will come. Each event's
    ``id`` is ``prefix`` + its entry id, so a browser's EventSource that reconnects (as it does
    when a finished build's stream ends) gets only what it has not seen."""
    settings = get_settings()
    client = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    last = resume_after(request, prefix)
    quiet_since = time.monotonic()
    try:
        while not await request.is_disconnected():
            entries = stream_reads(await client.xread({stream: last}, block=1000, count=500))
            for _, items in entries or []:
                for entry_id, fields in items:
                    last = entry_id
                    stamp = float(fields.get("ts") or int(entry_id.split("-", 1)[0]) / 1000)
                    payload = {"data": fields.get("line", "") + "\n", "timestamp": iso(stamp)}
                    yield f"id: {prefix}{entry_id}\ndata: {json.dumps(payload)}\n\n".encode()
                quiet_since = time.monotonic()
            if not entries and finished is not None and await asyncio.to_thread(finished):
                return
            # A comment now and then keeps proxies from closing a quiet stream; not every second,
            # so that clients reading "what is there now" (huggingface_hub without follow) see
            # the stream go quiet and stop.
            if not entries and time.monotonic() - quiet_since > KEEPALIVE_EVERY:
                quiet_since = time.monotonic()
                yield b": keep-alive\n\n"
    finally:
        await client.aclose()


KEEPALIVE_EVERY = 15.0
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class EventStream(StreamingResponse):
    """Server-sent events; each ``data`` is ``{"data": line, "timestamp": ...}`` and each ``id`` the entry's."""

    media_type = "text/event-stream"


@router.get("/{owner}/{name}/logs/build", response_class=EventStream, responses=NON_JSON_ERROR_RESPONSES)
def build_logs(request: Request, space: ReadableRepo, r: StoreDep, build: str | None = None) -> EventStream:
    """The build log as server-sent events (each ``data`` is ``{"data": line, "timestamp": ...}``), live until the build ends."""
    build_id = build or space.record.latest_build
    record = store.get_build(r, build_id) if build_id else None
    if not build_id or record is None or record.space != space.id:
        raise NotFound(f"Space {space.id} has no build{' ' + build if build else ''}")
    sync = store.get_redis()
    return EventStream(
        _follow_stream(keys.build_log(build_id), request, lambda: _build_finished(sync, build_id), prefix=f"{build_id}:"),
        headers=SSE_HEADERS,
    )


@router.get("/{owner}/{name}/logs/run", response_class=EventStream, responses=NON_JSON_ERROR_RESPONSES)
def run_logs(request: Request, caller: CurrentUser, space: ReadableSpace) -> EventStream:
    """The app's output as server-sent events: the last lines kept (across restarts and redeploys),
    then live. Only for those who may write to the Space: apps print what visitors send them."""
    require_owner_read(caller, space.record)
    return EventStream(_follow_stream(keys.space_run_log(space.id), request), headers=SSE_HEADERS)
