"""The Space's configuration: the YAML front matter of the repo's ``README.md``.

Keys and defaults follow Hugging Face's Spaces configuration reference. Parsing never executes
anything (a safe loader) and stays within fixed bounds (:mod:`builder.yaml_limits`: size, aliases,
nesting, the length of every value); every problem becomes a :class:`~core.errors.ConfigError` whose
message names the key, the value (cut short) and what is allowed, or the line of a YAML syntax error.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from builder.repofiles import read_top_level
from builder.yaml_limits import MAX_FRONT_MATTER_BYTES, load_front_matter, quote, too_large
from core.errors import BuildFailed, ConfigError

SDKS = ("gradio", "streamlit", "docker", "static")
PYTHON_VERSIONS = ("3.11",)  # what the runtime images offer (Debian bookworm's python3)
COLORS = ("red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray")
HARDWARE = (
    "cpu-basic", "cpu-upgrade", "cpu-xl", "zero-a10g", "t4-small", "t4-medium", "l4x1", "l4x4", "l40sx1",
    "l40sx4", "l40sx8", "a10g-small", "a10g-large", "a10g-largex2", "a10g-largex4", "a100-large", "h100", "h100x8",
)
STORAGE = ("small", "medium", "large")
CUSTOM_HEADERS = ("cross-origin-embedder-policy", "cross-origin-opener-policy", "cross-origin-resource-policy")
SHORT_DESCRIPTION_MAX = 60
TITLE_MAX = 100
MAX_PROBLEMS = 10  # problems (or unknown keys) listed in one message
TEXT_LIMITS = {"title": TITLE_MAX, "short_description": SHORT_DESCRIPTION_MAX}  # others: yaml_limits.MAX_TEXT
EMOJI_MAX_CODE_POINTS = 16  # the longest emoji sequences (families, tag flags) have about ten
_DURATION = re.compile(r"^(\d+)\s*([smh]?)$")


def _joins(code_point: int) -> bool:
    """Code points that extend the character before them into one visible character: the zero-width
    joiner, variation selectors, skin tones, tags, the keycap and combining marks."""
    return (code_point == 0x200D or 0xFE00 <= code_point <= 0xFE0F or 0x1F3FB <= code_point <= 0x1F3FF
            or 0xE0020 <= code_point <= 0xE007F or code_point == 0x20E3
            or unicodedata.category(chr(code_point)).startswith("M"))


def is_one_grapheme(text: str) -> bool:
    """Is ``text`` one user-perceived character (an emoji sequence such as 👩‍💻, 👍🏽 or 🇫🇷 included)?"""
    points = [ord(c) for c in text]
    if not points or len(points) > EMOJI_MAX_CODE_POINTS or _joins(points[0]) or text.isspace():
        return False
    regional = [0x1F1E6 <= p <= 0x1F1FF for p in points]
    if all(regional):
        return len(points) <= 2
    for before, point in itertools.pairwise(points):
        if not (_joins(point) or before == 0x200D):
            return False
    return points[-1] != 0x200D


def _one_of(value: Any, allowed: tuple[str, ...]) -> Any:
    if value is not None and value not in allowed:
        raise ValueError(f"allowed values: {', '.join(allowed)}")
    return value


class SpaceConfig(BaseModel):
    """Validated front matter; unknown keys are kept in ``model_extra`` and reported as warnings."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    title: str | None = None
    emoji: str | None = None
    colorFrom: str | None = None  # HF's key
    colorTo: str | None = None  # HF's key
    sdk: Literal["gradio", "streamlit", "docker", "static"]
    sdk_version: str | None = None
    python_version: str = PYTHON_VERSIONS[0]
    app_file: str | None = None
    app_port: int = Field(default=7860, ge=1, le=65535)
    base_path: str = "/"
    fullWidth: bool = True  # HF's key
    header: Literal["mini", "default"] = "default"
    short_description: str | None = None
    models: list[str] = Field(default_factory=list)
    datasets: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    thumbnail: str | None = None
    pinned: bool = False
    license: str | None = None
    disable_embedding: bool = False
    startup_duration_timeout: str = "30m"
    custom_headers: dict[str, str] = Field(default_factory=dict)
    preload_from_hub: list[str] = Field(default_factory=list)
    suggested_hardware: str | None = None
    suggested_storage: str | None = None
    hf_oauth: bool = False
    hf_oauth_scopes: list[str] = Field(default_factory=list)
    hf_oauth_expiration_minutes: int | None = Field(default=None, ge=1)
    hf_oauth_authorized_org: str | list[str] | None = None

    @field_validator("sdk_version", "python_version", mode="before")
    @classmethod
    def _version_as_text(cls, value: Any) -> Any:
        # YAML reads 3.10 as the float 3.1; HF users write it unquoted all the time.
        if isinstance(value, float):
            raise ValueError(f"write the version in quotes, e.g. \"{value}\" (YAML read it as the number {value})")
        if isinstance(value, int):
            return str(value)
        return value

    @field_validator("python_version")
    @classmethod
    def _offered_python(cls, value: str) -> str:
        return _one_of(value, PYTHON_VERSIONS)

    @field_validator("sdk_version")
    @classmethod
    def _version_shape(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d+(\.\d+){0,3}([a-z]+\d*)?", value):
            raise ValueError("must be a version number such as 4.44.1")
        return value

    @field_validator("colorFrom", "colorTo")
    @classmethod
    def _color(cls, value: str | None) -> str | None:
        return _one_of(value, COLORS)

    @field_validator("suggested_hardware")
    @classmethod
    def _hardware(cls, value: str | None) -> str | None:
        return _one_of(value, HARDWARE)

    @field_validator("suggested_storage")
    @classmethod
    def _storage(cls, value: str | None) -> str | None:
        return _one_of(value, STORAGE)

    @field_validator("title")
    @classmethod
    def _title(cls, value: str | None) -> str | None:
        if value is not None and len(value) > TITLE_MAX:
            raise ValueError(f"must be at most {TITLE_MAX} characters (it has {len(value)})")
        return value

    @field_validator("emoji")
    @classmethod
    def _emoji(cls, value: str | None) -> str | None:
        if value is not None and not is_one_grapheme(value):
            raise ValueError("must be a single emoji (one character, e.g. 🚀)")
        return value

    @field_validator("short_description")
    @classmethod
    def _short(cls, value: str | None) -> str | None:
        if value is not None and len(value) > SHORT_DESCRIPTION_MAX:
            raise ValueError(f"must be at most {SHORT_DESCRIPTION_MAX} characters (it has {len(value)})")
        return value

    @field_validator("base_path")
    @classmethod
    def _base_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value

    @field_validator("custom_headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(CUSTOM_HEADERS))
        if unknown:
            raise ValueError(f"unsupported header {unknown[0]!r}; allowed: {', '.join(CUSTOM_HEADERS)}")
        return value

    @field_validator("app_file")
    @classmethod
    def _app_file_inside_repo(cls, value: str | None) -> str | None:
        if value is None:
            return value
        path = PurePosixPath(value)
        if path.is_absolute() or ".." in path.parts or not value.strip():
            raise ValueError("must be a relative path inside the repository")
        return value

    @field_validator("startup_duration_timeout")
    @classmethod
    def _duration(cls, value: str) -> str:
        if not _DURATION.match(str(value).strip()):
            raise ValueError("must be a duration such as 30m, 90s or 1h")
        return str(value).strip()

    @property
    def startup_seconds(self) -> int:
        match = _DURATION.match(self.startup_duration_timeout)
        assert match is not None  # the field's validator accepted it
        number, unit = match.groups()
        return int(number) * {"": 1, "s": 1, "m": 60, "h": 3600}[unit]

    @property
    def effective_app_file(self) -> str:
        if self.app_file:
            return self.app_file
        return {"static": "index.html", "docker": "Dockerfile"}.get(self.sdk, "app.py")

    @property
    def unknown_keys(self) -> list[str]:
        return sorted(self.model_extra or {})

    def unsupported(self) -> list[str]:
        """Keys that ask for something this platform cannot do; the build says so up front."""
        notes = []
        if self.preload_from_hub:
            notes.append("'preload_from_hub' is not available: this platform has no connection to the "
                         "Hugging Face Hub; download the files in your app or ship them in the repository")
        return notes

    def warnings(self) -> list[str]:
        """Keys that are accepted but have no effect here."""
        unknown = self.unknown_keys
        notes = [f"unknown README.md key '{key}' is ignored" for key in unknown[:MAX_PROBLEMS]]
        if len(unknown) > MAX_PROBLEMS:
            notes.append(f"and {len(unknown) - MAX_PROBLEMS} more unknown README.md keys are ignored")
        if self.hf_oauth:
            notes.append("'hf_oauth' is ignored: Sign in with Hugging Face is not available on this platform")
        if self.suggested_hardware and self.suggested_hardware != "cpu-basic":
            notes.append(f"'suggested_hardware: {self.suggested_hardware}' is noted; this platform runs Spaces on CPU")
        return notes


def split_front_matter(text: str) -> tuple[str, int]:
    """Return the YAML between the opening and closing ``---`` lines, and the line it starts on.
    Only the README's head is read: front matter longer than the limit is refused, not scanned."""
    head = text[: MAX_FRONT_MATTER_BYTES + 4096]
    lines = head.splitlines()
    if not lines or lines[0].strip() != "---":
        raise ConfigError(
            "README.md has no YAML front matter: its first line must be '---', followed by the "
            "settings (for example 'sdk: gradio') and a closing '---' line"
        )
    for index, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return "\n".join(lines[1:index]), 2
    if len(head) < len(text):  # no closing line within the limit: refused, naming an overlong value if any
        raise too_large(lines[1:], 2, TEXT_LIMITS)
    raise ConfigError("README.md front matter is not closed: add a line '---' after the settings")


def _describe(error: ErrorDetails) -> str:
    key = ".".join(str(p)[:60] for p in error["loc"]) or "front matter"
    value = error.get("input")
    kind = error["type"]
    if kind == "missing":
        return f"'{key}' is required"
    if kind == "literal_error":
        allowed = error.get("ctx", {}).get("expected", "")
        return f"'{key}' is {quote(value)}; allowed values: {allowed.replace(' or ', ', ').replace(chr(39), '')}"
    message = error["msg"].removeprefix("Value error, ")
    return f"'{key}' is {quote(value)}: {message}"


def _cut(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_config(text: str) -> SpaceConfig:
    """Parse README.md's text into a :class:`SpaceConfig`, or raise ConfigError."""
    body, first_line = split_front_matter(text)
    try:
        data = load_front_matter(body, first_line, TEXT_LIMITS)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" on line {mark.line + first_line}" if mark is not None else ""
        raise ConfigError(f"README.md front matter is not valid YAML{where}: {_cut(str(exc.problem))}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"README.md front matter is not valid YAML: {_cut(str(exc))}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"README.md front matter must be a mapping of keys to values (like 'sdk: gradio'), "
            f"not a {type(data).__name__}"
        )
    bad_keys = [k for k in data if not isinstance(k, str)]
    if bad_keys:
        raise ConfigError(f"README.md front matter keys must be text; {quote(bad_keys[0])} is not")
    try:
        config = SpaceConfig.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        problems = "; ".join(_describe(e) for e in errors[:MAX_PROBLEMS])
        if len(errors) > MAX_PROBLEMS:
            problems += f"; and {len(errors) - MAX_PROBLEMS} more problem(s)"
        raise ConfigError(f"invalid README.md front matter: {problems}") from exc
    unsupported = config.unsupported()
    if unsupported:
        raise ConfigError("; ".join(unsupported))
    return config


README_MAX_BYTES = 32 << 20  # a README's body may be long (a model card); its front matter is bounded apart


def load_config(repo: Path) -> SpaceConfig:
    try:
        raw = read_top_level(repo, "README.md", max_bytes=README_MAX_BYTES)
    except BuildFailed as exc:
        raise ConfigError(exc.message) from exc
    if raw is None:
        raise ConfigError("the repository has no README.md; it must hold the Space's settings as YAML front matter")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError("README.md is not UTF-8 text") from exc
    return parse_config(text)
