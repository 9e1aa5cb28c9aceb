"""The types of the platform's Redis replies, said once for the type checker.

Every client of the platform's records is made with ``decode_responses=True``
(:func:`core.store.get_redis`), so each key, field and value it reads comes back as ``str``, and a
stream read on a synchronous client is a list. redis-py's annotations cannot know how a client
was made: they say ``bytes | str`` (and ``... | None`` for stream ranges). These helpers narrow a
reply to what it is; each returns its argument unchanged (no copy, no conversion at run time).

Not for RQ's client (:mod:`core.queues`), which reads bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias, cast

if TYPE_CHECKING:  # redis-py's reply types (recent versions only): for the type checker alone
    from redis.typing import EncodableT, FieldT, KeyT, StreamIdT, StreamRangeResponse, XReadResponse, ZSetRangeResponse

# What ``hset(mapping=...)`` and ``xadd`` are annotated to take: a dict built for them is declared
# so (their annotations make the key type invariant, so a ``dict[str, str]`` is refused).
Fields: TypeAlias = "dict[FieldT, EncodableT]"
# What a script is annotated to take as its arguments.
ScriptArgs: TypeAlias = "list[EncodableT]"
# What ``xread`` is annotated to take (the same): stream name -> the last entry id seen.
StreamIds: TypeAlias = "dict[KeyT, StreamIdT]"

# One stream entry: its id and its fields.
Entry: TypeAlias = "tuple[str, dict[str, str]]"


def text(reply: bytes | str) -> str:
    """A string reply (``get``, ``hget``, a member of ``smembers``...) known to be there."""
    return cast(str, reply)


def maybe_text(reply: bytes | str | None) -> str | None:
    """A string reply that may be missing (``get`` or ``hget`` of an absent key or field)."""
    return cast("str | None", reply)


def texts(reply: list[bytes | str]) -> list[str]:
    """A list reply of strings (``lrange``, ``keys``)."""
    return cast("list[str]", reply)


def maybe_texts(reply: list[bytes | str | None]) -> list[str | None]:
    """A list reply whose items may be missing (``mget``)."""
    return cast("list[str | None]", reply)


def members(reply: set[bytes | str]) -> set[str]:
    """A set reply (``smembers``)."""
    return cast("set[str]", reply)


def range_members(reply: ZSetRangeResponse) -> list[str]:
    """A sorted set's members read without their scores (``zrange``/``zrevrange``, no ``withscores``)."""
    return cast("list[str]", reply)


def hash_fields(reply: dict[bytes | str, bytes | str]) -> dict[str, str]:
    """A hash reply (``hgetall``)."""
    return cast("dict[str, str]", reply)


def entries(reply: StreamRangeResponse | None) -> list[Entry]:
    """A stream range (``xrange``/``xrevrange``): a list on a synchronous client, never None."""
    return cast("list[Entry]", reply)


def stream_reads(reply: XReadResponse | None) -> list[tuple[str, list[Entry]]] | None:
    """An ``xread`` reply (RESP2): ``[stream, entries]`` pairs, or None when the block timed out."""
    return cast("list[tuple[str, list[Entry]]] | None", reply)
