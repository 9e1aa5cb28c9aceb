"""Typed records: a Space and a Build as the platform reads them, and how each is kept in Redis.

Records are Redis hashes of strings (so that a Lua script, ``redis-cli`` and older records read
the same); :meth:`Record.load` turns one into a typed record and :meth:`Record.fields` turns
typed values back into strings, each field by its annotation (``int``, ``float``, ``bool``, an
enum, ``str``). Only :mod:`core.store` reads and writes them. A field a record does not declare
(written by a newer version) is kept in ``extra`` and never dropped.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from enum import Enum
from typing import Any, ClassVar, Self

from core.replies import Fields
from core.stages import BuildStatus, DeployState, Stage


class Visibility(str, Enum):  # noqa: UP042 - kept like Stage
    PUBLIC = "public"
    PROTECTED = "protected"  # the app is public, its files are not
    PRIVATE = "private"


class SleepTier(str, Enum):  # noqa: UP042 - kept like Stage
    """How deep a sleeping Space sleeps (empty while awake)."""

    AWAKE = ""
    PAUSED = "paused"  # frozen in memory: wakes in milliseconds
    STOPPED = "stopped"  # stopped: waking starts it again


class BuildKind(str, Enum):  # noqa: UP042 - kept like Stage
    """What a build made, and so which backend serves it."""

    UNKNOWN = ""  # not built yet
    CONTAINER = "container"  # an image: the platform's container backend
    STATIC = "static"  # a folder of files: the static backend


RESTART_QUEUED = "queued"  # a crashed Space's ``restart_at`` while its restart job is queued or running


def _decode(kind: Any, raw: str) -> Any:
    if kind is bool:
        return raw not in ("", "0", "false", "False")
    if kind is int:
        try:
            return int(float(raw)) if raw else 0
        except ValueError:
            return 0
    if kind is float:
        try:
            return float(raw) if raw else 0.0
        except ValueError:
            return 0.0
    if isinstance(kind, type) and issubclass(kind, Enum):
        try:
            return kind(raw)
        except ValueError:
            return None
    return raw


def _encode(value: Any) -> str:
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, float):
        return repr(value) if value else ""
    if isinstance(value, int):
        return str(value)
    return "" if value is None else str(value)


_KINDS: dict[type, dict[str, tuple[Any, bool]]] = {}


def _kinds(cls: type) -> dict[str, tuple[Any, bool]]:
    """Each declared field's plain type, and whether it may be None (``X | None``: "" reads as None)."""
    if cls in _KINDS:
        return _KINDS[cls]
    hints = typing.get_type_hints(cls)
    kinds = {}
    for f in dataclasses.fields(cls):
        kind, optional = hints[f.name], False
        if isinstance(kind, types.UnionType):
            kind, optional = next(a for a in typing.get_args(kind) if a is not type(None)), True
        kinds[f.name] = (kind, optional)
    _KINDS[cls] = kinds
    return kinds


@dataclasses.dataclass
class Record:
    """A record kept as a Redis hash of strings."""

    extra: dict[str, str] = dataclasses.field(default_factory=dict, repr=False, compare=False)
    FALLBACKS: ClassVar[dict[str, Any]] = {}  # a value a bad or unknown enum string reads as

    @classmethod
    def load(cls, raw: dict[str, str]) -> Self:
        kinds = _kinds(cls)
        values: dict[str, Any] = {}
        extra = {}
        for key, value in raw.items():
            if key == "extra" or key not in kinds:
                extra[key] = value
                continue
            kind, optional = kinds[key]
            if optional and value == "":
                values[key] = None
                continue
            decoded = _decode(kind, value)
            values[key] = cls.FALLBACKS.get(key) if decoded is None and key in cls.FALLBACKS else decoded
        return cls(**values, extra=extra)

    @classmethod
    def fields(cls, **values: Any) -> Fields:
        """Typed values of some of the record's fields, as the strings Redis keeps."""
        kinds = _kinds(cls)
        unknown = sorted(set(values) - set(kinds))
        if unknown:
            raise TypeError(f"{cls.__name__} has no field {', '.join(unknown)}")
        return {k: _encode(v) for k, v in values.items()}

    def to_fields(self) -> dict[str, str]:
        out = dict(self.extra)
        out.update({f.name: _encode(getattr(self, f.name)) for f in dataclasses.fields(self) if f.name != "extra"})
        return out


@dataclasses.dataclass
class Space(Record):
    id: str = ""
    owner: str = ""
    name: str = ""
    subdomain: str = ""
    sdk: str = ""  # from the README's front matter, once a build read it
    bakes_env: bool = False  # its builds take its variables and secrets in (a Docker Space): a change rebuilds
    stage: Stage = Stage.NO_APP_FILE
    error_message: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0
    visibility: Visibility = Visibility.PUBLIC
    hardware: str = "cpu-basic"
    storage: str = ""  # the persistent /data tier, or "" for none
    sleep_seconds: int | None = None  # its own sleep time (-1: never); None: the platform's default
    latest_build: str = ""
    running_build: str = ""  # the build that serves (or would, once awake)
    runtime: str = ""  # the backend serving it (worker.backends)
    instance: str = ""  # the serving instance, as its backend names it
    target: str = ""  # where its route sends visitors while it serves
    sleep_tier: SleepTier = SleepTier.AWAKE
    slept_at: float = 0.0
    last_active: float = 0.0
    paused_at: float = 0.0
    crash_count: int = 0
    restart_at: str = ""  # unix time of the next crash restart, RESTART_QUEUED, or ""
    delete_job: str = ""
    # The card, from the README's front matter
    title: str = ""
    emoji: str = ""
    short_description: str = ""
    color_from: str = ""
    color_to: str = ""
    pinned: bool = False
    disable_embedding: bool = False
    full_width: bool = True  # a Space never built shows its app full width (Hugging Face's default)
    header: str = ""

    FALLBACKS: ClassVar[dict[str, Any]] = {
        "visibility": Visibility.PRIVATE,  # an unknown value fails closed
        "stage": Stage.RUNTIME_ERROR,
        "sleep_tier": SleepTier.STOPPED,
    }

    @classmethod
    def load(cls, raw: dict[str, str]) -> Self:
        space = super().load(raw)
        if "bakes_env" not in raw and raw.get("sdk") == "docker":
            space.bakes_env = True  # recorded before the builder said so itself: Docker builds take the environment
        return space

    @property
    def is_private(self) -> bool:
        return self.visibility is Visibility.PRIVATE


@dataclasses.dataclass
class Build(Record):
    id: str = ""
    space: str = ""
    commit: str = ""
    status: BuildStatus = BuildStatus.QUEUED
    factory: bool = False  # rebuilt without any cache
    queued_at: float = 0.0
    started_at: float = 0.0
    finished_at: float = 0.0
    duration: float = 0.0
    error: str = ""
    build_job: str = ""
    # What it is (set by the builder once it read the README) and what it made (once it succeeded)
    sdk: str = ""
    kind: BuildKind = BuildKind.UNKNOWN
    title: str = ""
    image: str = ""
    app_port: int = 7860
    startup_seconds: int = 0  # its own startup timeout; 0: the platform's
    release: str = ""  # static: the folder of its files
    app_dir: str = "."
    index: str = "index.html"
    # Its deploy
    deploy: DeployState | None = None
    deploy_job: str = ""
    deploy_requested_at: float = 0.0
    deploy_started: float = 0.0
    instance: str = ""

    FALLBACKS: ClassVar[dict[str, Any]] = {"status": BuildStatus.FAILED, "kind": BuildKind.CONTAINER}

    @property
    def succeeded(self) -> bool:
        return self.status is BuildStatus.SUCCEEDED

    def startup(self, default: int) -> int:
        """Its own startup timeout (``startup_duration_timeout``), else ``default`` (the platform's)."""
        return self.startup_seconds or default


@dataclasses.dataclass
class User(Record):
    name: str = ""
    role: str = "user"  # user | admin
    created_at: float = 0.0
    password: str = ""  # its hash (empty: signs in with tokens only)
    state: str = ""  # "deleting" while its deletion runs
    deleting_since: float = 0.0

    @property
    def deleting(self) -> bool:
        return self.state == "deleting"


@dataclasses.dataclass
class Org(Record):
    name: str = ""
    created_at: float = 0.0
    state: str = ""
    deleting_since: float = 0.0

    @property
    def deleting(self) -> bool:
        return self.state == "deleting"


@dataclasses.dataclass
class Token(Record):
    """An access token's record (never its value: the record's key is the value's hash)."""

    id: str = ""
    user: str = ""
    role: str = "read"  # read | write (a record without one reads as read-only: fails closed)
    name: str = ""
    created_at: float = 0.0
    last_used_at: float = 0.0
