"""The waker: where Traefik sends visitors of a sleeping or paused Space.

``python -m worker.waker`` serves on 127.0.0.1:``SPACES_WAKER_PORT``. For a request to
``<label>.<domain>`` it finds the Space and

- **sleeping, paused tier**: thaws it (milliseconds) and relays the request — the visitor just
  gets the answer;
- **sleeping, stopped tier**: starts it. A browser (a ``GET`` that accepts HTML) gets a page that
  shows the app's real startup log and reloads itself once the app answers; any other client
  (``curl``, ``gradio_client``, ``httpx``) is held until the app is ready (bounded by the Space's
  startup timeout) and then gets the real answer;
- **running** (Traefik has not picked up the new route yet): relays the request;
- **paused by its owner**, or in an error: says so (503).

Concurrent visits share one wake per Space. The Space's lock serialises wakes with the sleeper,
deploys and deletes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import html
import json
import logging
import time

import anyio
import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.typing import Subprotocol

from core import envvars, keys, store
from core.access import error_message_for
from core.errors import SpacesError
from core.models import Space
from core.replies import maybe_text
from core.settings import get_settings
from core.stages import Stage
from worker.backends import RuntimeBackend, get_backend, runtime_of
from worker.jobs import space_lock
from worker.sleep import TIER_PAUSED, wake

log = logging.getLogger(__name__)

STATUS_PATH = "/__spaces/wake-status"
WAKER_HEADER = "X-Spaces-Waker"  # on the waker's own answers; the page reloads once the app answers instead
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "transfer-encoding", "upgrade", "content-length"}

_wakes: dict[str, asyncio.Task] = {}
_client: httpx.AsyncClient | None = None


def space_for_host(host: str) -> Space | None:
    settings = get_settings()
    name = host.rsplit(":", 1)[0].lower() if not host.startswith("[") else host
    suffix = "." + settings.domain.lower()
    if not name.endswith(suffix):
        return None
    r = store.get_redis()
    space_id = maybe_text(r.get(keys.subdomain(name[: -len(suffix)])))
    return store.get_space(r, space_id) if space_id else None


@functools.cache
def backend(name: str) -> RuntimeBackend:
    return get_backend(name)


def _wake_blocking(space_id: str) -> str:
    settings = get_settings()
    r = store.get_redis()
    space = store.get_space(r, space_id)
    build = store.get_build(r, space.running_build) if space is not None else None
    limit = float(build.startup(settings.startup_timeout) if build else settings.startup_timeout) + 60
    with space_lock(r, space_id, limit):
        return wake(r, space_id, settings)


def start_wake(space_id: str) -> asyncio.Task:
    """One wake per Space at a time; later visitors wait for the same one."""
    task = _wakes.get(space_id)
    if task is None or task.done():
        task = asyncio.ensure_future(anyio.to_thread.run_sync(_wake_blocking, space_id))
        _wakes[space_id] = task
        task.add_done_callback(lambda t: t.exception())  # retrieved: a failed wake is reported per visitor
    return task


def wants_html(request: Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("accept", "")


async def relay(request: Request, target: str) -> Response:
    """Send the visitor's request to the app and stream its answer back."""
    assert _client is not None
    body = await request.body()
    headers = [(k, v) for k, v in request.headers.raw if k.decode("latin-1").lower() not in HOP_BY_HOP]
    url = target + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    upstream = await _client.send(_client.build_request(request.method, url, headers=headers, content=body), stream=True)
    out = [(k, v) for k, v in upstream.headers.raw if k.decode("latin-1").lower() not in HOP_BY_HOP - {"content-length"}]
    response = StreamingResponse(upstream.aiter_raw(), status_code=upstream.status_code, background=BackgroundTask(upstream.aclose))
    response.raw_headers = [(k.lower(), v) for k, v in out]
    return response


def unavailable(request: Request, space: Space, title: str, detail: str = "") -> Response:
    if wants_html(request):
        page = PAGE.format(title=html.escape(title), space=html.escape(space.id), detail=html.escape(detail),
                           script="")
        return HTMLResponse(page, status_code=503)
    return JSONResponse({"error": title, "detail": detail or None, "space": space.id}, status_code=503)


async def status(space: Space) -> Response:
    settings = get_settings()
    r = store.get_redis()
    lines: list[str] = []
    if space.instance:  # the container's own last lines, live; secrets masked as everywhere
        text = await anyio.to_thread.run_sync(lambda: backend(runtime_of(space)).logs(space.instance, tail=40))
        lines = envvars.mask(text, envvars.secret_values(r, space.id)).splitlines()
    task = _wakes.get(space.id)
    error = ""
    if task is not None and task.done() and not task.cancelled() and task.exception() is not None:
        exc = task.exception()
        error = exc.message if isinstance(exc, SpacesError) else str(exc)
    fresh = store.get_space(r, space.id) or space
    return JSONResponse(headers={WAKER_HEADER: "1", "Cache-Control": "no-store"}, content={
        "stage": fresh.stage, "ready": fresh.stage == Stage.RUNNING.value,
        "error": error or (error_message_for(None, fresh, Stage.RUNTIME_ERROR.value, fresh.error_message or "")
                           if fresh.stage == Stage.RUNTIME_ERROR.value else ""),
        "log": lines, "url": settings.public_url(settings.space_host(space.subdomain)) + "/",
    })


async def handle(request: Request) -> Response:
    space = space_for_host(request.headers.get("host", ""))
    if space is None:
        return JSONResponse({"error": "no Space lives at this address"}, status_code=404)
    if request.url.path == STATUS_PATH:
        return await status(space)
    stage = Stage(space.stage)
    if stage == Stage.SLEEPING:
        task = start_wake(space.id)
        if space.sleep_tier != TIER_PAUSED and wants_html(request):
            script = SCRIPT.replace("STATUS_PATH", json.dumps(STATUS_PATH))
            page = PAGE.format(title="Waking up…", space=html.escape(space.id), detail="", script=script)
            return HTMLResponse(page, status_code=200, headers={"Cache-Control": "no-store"})
        try:
            await asyncio.shield(task)
        except SpacesError as exc:
            return unavailable(request, space, "This Space failed to wake up", exc.message)
        except Exception as exc:  # e.g. the Space's lock stayed taken; the visitor gets a reason
            log.exception("waking %s failed", space.id)
            return unavailable(request, space, "This Space failed to wake up", str(exc))
        space = store.get_space(store.get_redis(), space.id) or space
        stage = Stage(space.stage)
    if stage.is_serving and space.target:
        store.update_space(store.get_redis(), space.id, last_active=str(time.time()))
        try:
            return await relay(request, space.target)
        except httpx.HTTPError as exc:
            return unavailable(request, space, "The Space did not answer", str(exc))
    if stage == Stage.PAUSED:
        return unavailable(request, space, "This Space has been paused by its owner",
                           "Only its owner can restart it.")
    # Visitors are not known here: the reason without log lines, as the API shows it to anyone.
    message = error_message_for(None, space, stage.value, space.error_message or "")
    return unavailable(request, space, f"This Space is not running ({stage.value})", message)


WS_FORWARDED = ("cookie", "origin", "user-agent", "authorization", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host")


async def handle_websocket(socket: WebSocket) -> None:
    """A websocket opened while Traefik still sends the Space's host here: wake the Space if it
    sleeps, then relay both ways until either side closes."""
    space = space_for_host(socket.headers.get("host", ""))
    if space is not None and space.stage == Stage.SLEEPING.value:
        try:
            await asyncio.shield(start_wake(space.id))
        except Exception:  # the close code tells the client
            log.exception("waking %s for a websocket failed", space.id)
        space = store.get_space(store.get_redis(), space.id)
    if space is None or not Stage(space.stage).is_serving or not space.target:
        await socket.close(code=1013)  # try again later
        return
    target = space.target.replace("http://", "ws://", 1) + socket.url.path
    if socket.url.query:
        target += f"?{socket.url.query}"
    headers = [(k, v) for k, v in socket.headers.items() if k in WS_FORWARDED]
    protocols = [Subprotocol(p.strip()) for p in socket.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    try:
        upstream = await ws_connect(target, additional_headers=headers, subprotocols=protocols or None,
                                    open_timeout=30, max_size=None, compression=None)
    except (OSError, WebSocketException) as exc:
        log.warning("relaying a websocket to %s failed: %s", space.id, exc)
        await socket.close(code=1011)
        return
    async with upstream:
        await socket.accept(subprotocol=upstream.subprotocol)

        async def to_app() -> None:
            try:
                while True:
                    message = await socket.receive()
                    if message["type"] == "websocket.disconnect":
                        break
                    text = message.get("text")
                    await upstream.send(text if text is not None else message["bytes"])
            finally:
                await upstream.close()

        async def to_visitor() -> None:
            try:
                async for data in upstream:
                    await (socket.send_text(data) if isinstance(data, str) else socket.send_bytes(data))
            except ConnectionClosed:
                pass
            finally:
                with contextlib.suppress(RuntimeError):  # already closed by the visitor
                    await socket.close()

        with contextlib.suppress(WebSocketDisconnect, ConnectionClosed):
            await asyncio.gather(to_app(), to_visitor())


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} · {space}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:52rem;margin:3rem auto;padding:0 1rem;color:#222}}
pre{{background:#111;color:#ddd;padding:1rem;border-radius:6px;min-height:8rem;max-height:24rem;overflow:auto;
white-space:pre-wrap}}</style></head>
<body><h1 id="title">{title}</h1><p><strong>{space}</strong></p><p id="detail">{detail}</p>
<pre id="log"></pre>{script}</body></html>
"""

SCRIPT = """<script>
const statusPath = STATUS_PATH;
async function poll() {
  let data;
  try {
    const res = await fetch(statusPath, {cache: "no-store"});
    if (!res.headers.get("X-Spaces-Waker")) { location.reload(); return; }
    data = await res.json();
  } catch (e) { location.reload(); return; }   // the app itself answered: it is up
  document.getElementById("log").textContent = data.log.join("\\n");
  if (data.ready) { location.reload(); return; }
  if (data.error) {
    document.getElementById("title").textContent = "This Space failed to wake up";
    document.getElementById("detail").textContent = data.error;
    return;
  }
  setTimeout(poll, 400);
}
poll();
</script>"""


@contextlib.asynccontextmanager
async def lifespan(_app: Starlette):
    global _client
    # No idle keep-alive connections: an open connection to a Space counts as a visitor (worker.sleeper).
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=None), limits=limits, follow_redirects=False) as client:
        _client = client
        yield


app = Starlette(
    routes=[Route("/{path:path}", handle, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]),
            WebSocketRoute("/{path:path}", handle_websocket)],
    lifespan=lifespan,
)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = get_settings()
    uvicorn.run(app, host="127.0.0.1", port=settings.waker_port, log_level="warning")


if __name__ == "__main__":
    main()
