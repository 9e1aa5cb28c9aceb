"""git's smart HTTP protocol at ``/spaces/{owner}/{name}[.git]``, served by git's own ``git http-backend``.

This module only authenticates, authorizes and relays: the request body goes to the CGI's stdin
and its output is streamed back as it comes, so the ``post-receive`` hook's progress lines reach
the pusher live. Pushing to a Space that does not exist yet creates it (in a namespace the pusher
may write to) — but only once a commit is accepted: the ``post-receive`` hook makes the record
(:mod:`controller.git_hook`). Until then the request works in an empty repository that is removed
again when the push is refused or ends without storing anything (:func:`_first_push`), so a refused
first push leaves no record, no repository and nothing in any listing. Errors are ``text/plain``,
which git prints to the user as ``remote:`` lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse

from controller.deps import StoreDep, resolve_caller
from core import accounts, keys, store
from core.access import Caller, may_read_repo, require_read, require_write
from core.errors import NotFound, SpacesError, Unauthorized
from core.names import parse_space_id
from core.repos import ensure_repo, has_refs, repo_path
from core.sessions import TooManyFailures
from core.settings import get_settings

log = logging.getLogger(__name__)

router = APIRouter(tags=["git"])

ACTIONS = {"info/refs", "git-upload-pack", "git-receive-pack"}
SERVICES = {"git-upload-pack", "git-receive-pack"}
PASS_HEADERS = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH",
                "content-encoding": "HTTP_CONTENT_ENCODING", "git-protocol": "GIT_PROTOCOL"}


class RelayResponse(StreamingResponse):
    """Streams ``body`` without listening for a disconnect on ``receive``.

    git's answer starts while its request body is still arriving; Starlette's StreamingResponse
    would read ``receive`` concurrently to watch for disconnects and so swallow body chunks
    that the request pump needs (pushes over 1 MiB then stall).
    """

    async def __call__(self, scope, receive, send) -> None:  # ASGI signature
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        async for chunk in self.body_iterator:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _text(status: int, message: str, headers: dict[str, str] | None = None) -> PlainTextResponse:
    return PlainTextResponse(message.rstrip() + "\n", status_code=status, headers=headers)


def _authorize_push(r, caller: Caller | None, space_id: str) -> bool:
    """Check that ``caller`` may push to ``space_id``; True if the Space has no record yet (the
    push would create it). Nothing is created here."""
    owner = space_id.split("/", 1)[0]
    if caller is None:
        raise Unauthorized("pushing needs an access token: use http://USER:TOKEN@host/spaces/OWNER/NAME")
    space = store.get_space(r, space_id)
    require_write(caller, owner, space, verb="push to")
    if space is None and accounts.namespace_kind(r, owner) is None:
        raise NotFound(f"there is no user or organization '{owner}' to own {space_id}")
    return space is None


FIRST_PUSH_STALE = 6 * 3600  # a request to a new Space older than this is taken for dead (its controller died)
FIRST_PUSH_LOCK_SECONDS = 30


def _first_push_lock(r, space_id: str) -> contextlib.AbstractContextManager[None]:
    return store.short_lock(r, keys.first_push_lock(space_id), FIRST_PUSH_LOCK_SECONDS,
                            f"the repository of {space_id} is busy (another push is creating it); try again")


def _begin_first_push(r, space_id: str) -> str:
    """A git request to a Space without a record: make its (empty) repository for the request and
    count the request as under way, so that another one ending meanwhile does not remove it."""
    token = uuid.uuid4().hex
    with _first_push_lock(r, space_id):
        r.zadd(keys.first_pushes(space_id), {token: time.time()})
        r.expire(keys.first_pushes(space_id), FIRST_PUSH_STALE)
        try:
            ensure_repo(space_id)
        except BaseException:
            r.zrem(keys.first_pushes(space_id), token)
            raise
    return token


def _end_first_push(r, space_id: str, token: str) -> None:
    """The request ``token`` has ended: if no commit was accepted (the Space still has no record
    and its repository no refs) and no other request to it is under way, remove the repository."""
    with _first_push_lock(r, space_id):
        pending = keys.first_pushes(space_id)
        r.zrem(pending, token)
        r.zremrangebyscore(pending, 0, time.time() - FIRST_PUSH_STALE)
        if r.zcard(pending) or store.get_space(r, space_id) is not None or has_refs(space_id):
            return
        path = repo_path(space_id)
        shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # the owner's folder, if this was its only repository
        log.info("push to new Space %s stored nothing; its empty repository was removed", space_id)


async def _first_push(r, space_id: str) -> Callable[[], None]:
    """Begin a request to a Space without a record; returns what ends it (to call exactly once)."""
    token = await asyncio.to_thread(_begin_first_push, r, space_id)

    def end() -> None:
        try:
            _end_first_push(r, space_id, token)
        except Exception:  # a cleanup that fails must not fail the answer already sent
            log.exception("cleaning up after a push to new Space %s failed", space_id)

    return end


def _authorize_fetch(r, caller: Caller | None, space_id: str) -> None:
    space = store.get_space(r, space_id)
    if space is None:
        raise NotFound(f"Space {space_id} does not exist")
    if caller is None and not may_read_repo(None, space):
        raise Unauthorized(f"the repository of {space_id} is private: use http://USER:TOKEN@host/spaces/{space_id}")
    require_read(caller, space, repo=True)


async def _pump_body(request: Request, proc: asyncio.subprocess.Process, expected: int | None) -> None:
    """Copy the request body to the CGI. If the CGI stops early (e.g. a pack over the size
    limit), keep reading and dropping the body: a client still sending never reads the answer.

    If the body ends short of its Content-Length (the connection was lost), stop the CGI instead
    of closing its input: git http-backend then loops forever reading an input at its end."""
    stream, sent = request.stream(), 0
    stdin = proc.stdin
    assert stdin is not None  # started with stdin=PIPE (_run_backend)
    try:
        async for chunk in stream:
            stdin.write(chunk)
            sent += len(chunk)
            await stdin.drain()
    except (ConnectionError, BrokenPipeError, RuntimeError) as exc:  # uvloop: RuntimeError on a closed pipe
        log.info("git http-backend stopped reading the request: %s", exc)
        with contextlib.suppress(Exception):  # it has its answer; the client may leave meanwhile
            async for _ in stream:
                pass
        return
    except Exception as exc:  # noqa: BLE001 - the client went away (ClientDisconnect) or worse
        log.warning("the request body ended after %d bytes (%s); stopping git http-backend", sent, type(exc).__name__)
        _stop(proc)
        return
    finally:
        stdin.close()
    if expected is not None and sent < expected:
        log.warning("the request body ended after %d of %d bytes; stopping git http-backend", sent, expected)
        _stop(proc)


def _stop(proc: asyncio.subprocess.Process) -> None:
    """Kill git http-backend and the helper it forked to copy the body (same process group)."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


async def _collect_stderr(stream: asyncio.StreamReader, keep: int = 8192) -> bytes:
    """Read the CGI's stderr as it comes (a full pipe would stall git), keeping the last ``keep`` bytes."""
    tail = b""
    while chunk := await stream.read(65536):
        tail = (tail + chunk)[-keep:]
    return tail


async def _run_backend(request: Request, env: dict[str, str], on_done: Callable[[], None] | None = None) -> Response:
    """Run git http-backend for the request and stream its answer; ``on_done`` (blocking) runs in a
    thread once the backend has exited."""
    proc = await asyncio.create_subprocess_exec(
        "git", "http-backend", env=env, start_new_session=True,  # its own process group: see _stop
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdin and proc.stdout and proc.stderr
    stdout = proc.stdout
    length = env.get("CONTENT_LENGTH", "")
    pump = asyncio.create_task(_pump_body(request, proc, int(length) if length.isdigit() else None))
    errors = asyncio.create_task(_collect_stderr(proc.stderr))
    head = b""
    while b"\r\n\r\n" not in head and b"\n\n" not in head:
        chunk = await proc.stdout.read(4096)
        if not chunk:
            break
        head += chunk
    sep = b"\r\n\r\n" if b"\r\n\r\n" in head else b"\n\n"
    raw_headers, _, rest = head.partition(sep)
    status, headers = 200, {}
    for line in raw_headers.decode("latin-1").splitlines():
        key, _, value = line.partition(":")
        if key.lower() == "status":
            status = int(value.strip().split()[0])
        elif key:
            headers[key.strip()] = value.strip()

    async def body() -> AsyncIterator[bytes]:
        try:
            if rest:
                yield rest
            while chunk := await stdout.read(65536):
                yield chunk
        except BaseException:  # the answer could not be sent (the client left): git must not linger
            _stop(proc)
            raise
        finally:
            await pump
            err = (await errors).decode(errors="replace").strip()
            rc = await proc.wait()
            if rc != 0 or err:
                log.info("git http-backend exited %s: %s", rc, err)
            if on_done is not None:
                await asyncio.to_thread(on_done)

    media = headers.pop("Content-Type", None)
    return RelayResponse(body(), status_code=status, headers=headers, media_type=media)


@router.api_route("/spaces/{owner}/{repo}/{action:path}", methods=["GET", "POST"], include_in_schema=False,
                  response_class=StreamingResponse)
async def git_smart_http(owner: str, repo: str, action: str, request: Request, r: StoreDep) -> Response:
    name = repo.removesuffix(".git")
    if action not in ACTIONS:
        return _text(404, f"not a git endpoint: {action}")
    service = request.query_params.get("service") if action == "info/refs" else action
    if service not in SERVICES:
        return _text(403, "only git's smart HTTP protocol is served (git 1.6.6 or newer)")
    on_done = None
    try:
        space_id = parse_space_id(owner, name)
        caller = resolve_caller(r, request)
        if service == "git-receive-pack" and _authorize_push(r, caller, space_id):
            on_done = await _first_push(r, space_id)
        else:
            if service != "git-receive-pack":
                _authorize_fetch(r, caller, space_id)
            ensure_repo(space_id)
    except Unauthorized as exc:
        return _text(401, exc.message, {"WWW-Authenticate": 'Basic realm="Spaces"'})
    except SpacesError as exc:  # 429 (bad tokens only: a valid one is never held back) says when to retry
        retry = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyFailures) else None
        return _text(exc.status, exc.message, retry)
    settings = get_settings()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HTTP_")}
    env.update({
        "GIT_PROJECT_ROOT": str(settings.repos_dir),
        "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": f"/{space_id}.git/{action}",
        "REQUEST_METHOD": request.method,
        "QUERY_STRING": request.url.query,
        "REMOTE_USER": caller.name if caller else "",
        "REMOTE_ADDR": request.client.host if request.client else "",
        # The current size limit for every push, whatever it was when the repo was made.
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "receive.maxInputSize",
        "GIT_CONFIG_VALUE_0": f"{settings.max_repo_mb}m",
    })
    for header, var in PASS_HEADERS.items():
        if header in request.headers:
            env[var] = request.headers[header]
    try:
        return await _run_backend(request, env, on_done)
    except BaseException:
        if on_done is not None:
            await asyncio.to_thread(on_done)
        raise
