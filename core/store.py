"""Records kept in Redis: Spaces and builds (users, organizations and tokens: :mod:`core.accounts`).

Plain functions over a Redis client; writes that belong together go through one transaction
(``pipeline(transaction=True)``) or one Lua script. Records are Redis hashes of strings; this module
reads them as typed records (:class:`core.models.Space`, :class:`core.models.Build`) and is the only
one that writes them (each write names its fields, checked against the record's declaration).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from functools import lru_cache

import redis

from core import keys
from core.errors import BackendError, Conflict, NotFound
from core.models import Build, Space
from core.names import subdomain_candidates
from core.replies import Fields, ScriptArgs, entries, hash_fields, range_members, texts
from core.settings import get_settings
from core.stages import BuildStatus, Stage

EVENTS_MAXLEN = 500
LOG_MAXLEN = 20000


@lru_cache
def _pool(url: str) -> redis.ConnectionPool:
    return redis.ConnectionPool.from_url(url, decode_responses=True)


def get_redis() -> redis.Redis:
    """A client on the platform's Redis (one pool per process)."""
    return redis.Redis(connection_pool=_pool(get_settings().redis_url))


def now() -> float:
    return time.time()


# ---------------------------------------------------------------- Spaces


@contextlib.contextmanager
def short_lock(r: redis.Redis, key: str, seconds: float, busy: str) -> Iterator[None]:
    """Hold ``key`` for a moment (a holder that died frees it after ``seconds``); if it stays taken
    for ``seconds``, raise :class:`BackendError` with ``busy``. An expired lock is logged, not raised."""
    lock = r.lock(key, timeout=seconds, blocking_timeout=seconds)
    if not lock.acquire():
        raise BackendError(busy)
    try:
        yield
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:
            logging.getLogger(__name__).warning("the lock %s expired before its holder finished", key)


def get_space(r: redis.Redis, space_id: str) -> Space | None:
    data = hash_fields(r.hgetall(keys.space(space_id)))
    return Space.load(data) if data else None


def require_space(r: redis.Redis, space_id: str) -> Space:
    data = get_space(r, space_id)
    if data is None:
        raise NotFound(f"Space {space_id} does not exist")
    return data


def create_space(r: redis.Redis, space_id: str, *, sdk: str = "") -> Space:
    """Create the Space record and claim its subdomain, atomically. Raises Conflict if it exists."""
    owner, name = space_id.split("/", 1)
    candidates = subdomain_candidates(space_id)
    watched = [keys.space(space_id), *(keys.subdomain(c) for c in candidates)]
    with r.pipeline(transaction=True) as p:
        try:
            p.watch(*watched)
            if p.exists(keys.space(space_id)):
                raise Conflict(f"Space {space_id} already exists")
            label = next((c for c in candidates if p.get(keys.subdomain(c)) in (None, space_id)), None)
            if label is None:  # pragma: no cover - needs a sha256 prefix collision
                raise Conflict(f"no free subdomain for {space_id}")
            created = now()
            record: Fields = {
                "id": space_id, "owner": owner, "name": name, "subdomain": label, "sdk": sdk,
                "stage": Stage.NO_APP_FILE.value, "error_message": "", "created_at": created,
                "updated_at": created, "hardware": "cpu-basic",
            }
            p.multi()
            p.set(keys.subdomain(label), space_id)
            p.hset(keys.space(space_id), mapping=record)
            p.zadd(keys.SPACES_INDEX, {space_id: created})
            p.execute()
        except redis.exceptions.WatchError:
            raise Conflict(f"Space {space_id} was created concurrently") from None
    return Space.load({str(k): str(v) for k, v in record.items()})


def sleep_seconds(space: Space, settings) -> int:
    """The Space's own sleep time, else the platform default (``SPACES_SLEEP_TIME``); -1 means never."""
    return space.sleep_seconds if space.sleep_seconds is not None else settings.sleep_time


def list_spaces(r: redis.Redis, *, author: str | None = None) -> list[Space]:
    """All Spaces, newest first, optionally of one owner."""
    ids = range_members(r.zrevrange(keys.SPACES_INDEX, 0, -1))
    if author:
        ids = [i for i in ids if i.split("/", 1)[0] == author]
    with r.pipeline(transaction=False) as p:
        for space_id in ids:
            p.hgetall(keys.space(space_id))
        return [Space.load(rec) for rec in p.execute() if rec]


# A Space's record is written only while it exists: a worker that finishes after the Space was
# deleted must not bring back a partial record (it would block the name and confuse every reader).
_UPDATE_SPACE = """
if redis.call('exists', KEYS[1]) == 0 then return 0 end
redis.call('hset', KEYS[1], unpack(ARGV))
return 1
"""
# KEYS: record, events. ARGV: events maxlen, number of stages that block the write, those stages,
# then the event's stage, message and build, then the record's fields and values.
_SET_STAGE = """
if redis.call('exists', KEYS[1]) == 0 then return 0 end
local blocking = tonumber(ARGV[2])
if blocking > 0 then
  local current = redis.call('hget', KEYS[1], 'stage')
  for i = 3, 2 + blocking do
    if current == ARGV[i] then return 0 end
  end
end
local e = 3 + blocking
redis.call('hset', KEYS[1], unpack(ARGV, e + 3))
redis.call('xadd', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', 'stage', ARGV[e], 'message', ARGV[e + 1], 'build', ARGV[e + 2])
return 1
"""


def update_space(r: redis.Redis, space_id: str, **values: object) -> bool:
    """Write fields of the Space's record; False (and nothing written) if the Space is gone."""
    args = [item for pair in Space.fields(**values).items() for item in pair]
    return bool(r.register_script(_UPDATE_SPACE)(keys=[keys.space(space_id)], args=args))


def set_stage(
    r: redis.Redis,
    space_id: str,
    stage: Stage,
    *,
    message: str = "",
    build_id: str = "",
    pipeline: redis.client.Pipeline | None = None,
    unless: tuple[Stage, ...] = (),
    **values: object,
) -> bool:
    """Record the Space's stage (and error message) and publish it on the Space's event stream.
    Nothing is written if the Space is gone or its stage is one of ``unless`` (a pause or deletion
    that came meanwhile wins); returns whether it was written. With ``pipeline`` (a transaction
    that watches the record) the write is queued there and always counts as written."""
    mapping: Fields = {"stage": stage.value, "error_message": message, "updated_at": now()}
    mapping.update(Space.fields(**values))
    if pipeline is not None:
        pipeline.hset(keys.space(space_id), mapping=mapping)
        pipeline.xadd(keys.space_events(space_id), {"stage": stage.value, "message": message, "build": build_id},
                      maxlen=EVENTS_MAXLEN, approximate=True)
        return True
    args: ScriptArgs = [EVENTS_MAXLEN, len(unless), *(s.value for s in unless), stage.value, message, build_id]
    args += [item for pair in mapping.items() for item in pair]
    return bool(r.register_script(_SET_STAGE)(keys=[keys.space(space_id), keys.space_events(space_id)], args=args))


# ---------------------------------------------------------------- builds


def create_build(r: redis.Redis, space_id: str, commit: str, *, factory: bool = False) -> str:
    """Record a new build of ``commit`` (the Space's latest from now on); ``factory`` = rebuild without caches."""
    build_id = str(r.incr(keys.BUILD_SEQ))
    with r.pipeline(transaction=True) as p:
        try:  # only for a Space that exists: a deletion that purged it meanwhile leaves nothing behind
            p.watch(keys.space(space_id))
            if not p.exists(keys.space(space_id)):
                raise NotFound(f"Space {space_id} does not exist")
            p.multi()
            p.hset(
                keys.build(build_id),
                mapping={
                    "id": build_id,
                    "space": space_id,
                    "commit": commit,
                    "status": BuildStatus.QUEUED.value,
                    "queued_at": now(),
                    "factory": "1" if factory else "0",
                },
            )
            p.lpush(keys.space_builds(space_id), build_id)
            p.hset(keys.space(space_id), mapping={"latest_build": build_id, "updated_at": now()})
            p.execute()
        except redis.exceptions.WatchError:
            if not r.exists(keys.space(space_id)):
                raise NotFound(f"Space {space_id} does not exist") from None
            return create_build(r, space_id, commit, factory=factory)  # the record changed meanwhile: again
    return build_id


def get_build(r: redis.Redis, build_id: str) -> Build | None:
    data = hash_fields(r.hgetall(keys.build(build_id))) if build_id else None
    return Build.load(data) if data else None


def update_build(r: redis.Redis, build_id: str, **values: object) -> None:
    r.hset(keys.build(build_id), mapping=Build.fields(**values))


def append_log(r: redis.Redis, build_id: str, line: str) -> None:
    r.xadd(keys.build_log(build_id), {"line": line}, maxlen=LOG_MAXLEN, approximate=True)


def read_log(r: redis.Redis, build_id: str, *, last: int | None = None) -> list[str]:
    """The build's log lines, oldest first; only the ``last`` ones if given."""
    if last is None:
        return [fields["line"] for _, fields in entries(r.xrange(keys.build_log(build_id)))]
    return [fields["line"] for _, fields in reversed(entries(r.xrevrange(keys.build_log(build_id), count=last)))]


def purge_space(r: redis.Redis, space_id: str) -> None:
    """Remove every record of the Space (builds, logs, events, subdomain claim) in one transaction."""
    space = get_space(r, space_id)
    build_ids = texts(r.lrange(keys.space_builds(space_id), 0, -1))
    with r.pipeline(transaction=True) as p:
        for build_id in build_ids:
            p.delete(keys.build(build_id), keys.build_log(build_id))
        p.delete(keys.space(space_id), keys.space_builds(space_id), keys.space_events(space_id),
                 keys.space_variables(space_id), keys.space_secrets(space_id), keys.space_run_log(space_id))
        if space is not None and space.subdomain:
            p.delete(keys.subdomain(space.subdomain))
        p.zrem(keys.SPACES_INDEX, space_id)
        p.execute()
