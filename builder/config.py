"""The Space's configuration: the YAML front matter of the repo's ``README.md``.

Keys and defaults follow Hugging Face's Spaces configuration reference. Parsing never executes
anything (``yaml.safe_load``); every problem becomes a :class:`~core.errors.ConfigError` whose
message names the key, the value and what is allowed, or the line of a YAML syntax error.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.errors import ConfigError

SDKS = ("gradio", "streamlit", "docker", "static")
_DURATION = re.compile(r"^(\d+)\s*([smh]?)$")


class SpaceConfig(BaseModel):
    """Validated front matter; unknown keys are kept in ``model_extra`` and reported as warnings."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    title: str | None = None
    emoji: str | None = None
    colorFrom: str | None = None  # noqa: N815 - HF's key
    colorTo: str | None = None  # noqa: N815 - HF's key
    sdk: Literal["gradio", "streamlit", "docker", "static"]
    sdk_version: str | None = None
    python_version: str | None = None
    app_file: str | None = None
    app_port: int = Field(default=7860, ge=1, le=65535)
    base_path: str = "/"
    short_description: str | None = None
    pinned: bool = False
    startup_duration_timeout: str = "30m"
    disable_embedding: bool = False
    tags: list[str] = Field(default_factory=list)

    @field_validator("sdk_version", "python_version", mode="before")
    @classmethod
    def _version_as_text(cls, value: Any) -> Any:
        # YAML reads 3.10 as the float 3.1; HF users write it unquoted all the time.
        if isinstance(value, float):
            raise ValueError(f"write the version in quotes, e.g. \"{value}\" (YAML read it as the number {value})")
        if isinstance(value, int):
            return str(value)
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
        number, unit = _DURATION.match(self.startup_duration_timeout).groups()  # type: ignore[union-attr]
        return int(number) * {"": 1, "s": 1, "m": 60, "h": 3600}[unit]

    @property
    def effective_app_file(self) -> str:
        if self.app_file:
            return self.app_file
        return {"static": "index.html", "streamlit": "app.py"}.get(self.sdk, "app.py")

    @property
    def unknown_keys(self) -> list[str]:
        return sorted(self.model_extra or {})


def split_front_matter(text: str) -> tuple[str, int]:
    """Return the YAML between the opening and closing ``---`` lines, and the line it starts on."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise ConfigError(
            "README.md has no YAML front matter: its first line must be '---', followed by the "
            "settings (for example 'sdk: gradio') and a closing '---' line"
        )
    for index, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return "\n".join(lines[1:index]), 2
    raise ConfigError("README.md front matter is not closed: add a line '---' after the settings")


def _describe(error: dict) -> str:
    key = ".".join(str(p) for p in error["loc"]) or "front matter"
    value = error.get("input")
    kind = error["type"]
    if kind == "missing":
        return f"'{key}' is required"
    if kind == "literal_error":
        return f"'{key}' is {value!r}; allowed values: {', '.join(SDKS)}"
    message = error["msg"].removeprefix("Value error, ")
    return f"'{key}' is {value!r}: {message}"


def parse_config(text: str) -> SpaceConfig:
    """Parse README.md's text into a :class:`SpaceConfig`, or raise ConfigError."""
    body, first_line = split_front_matter(text)
    try:
        data = yaml.safe_load(body)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" on line {mark.line + first_line}" if mark is not None else ""
        raise ConfigError(f"README.md front matter is not valid YAML{where}: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"README.md front matter is not valid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"README.md front matter must be a mapping of keys to values (like 'sdk: gradio'), "
            f"not a {type(data).__name__}"
        )
    try:
        return SpaceConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())
        raise ConfigError(f"invalid README.md front matter: {problems}") from exc


def load_config(repo: Path) -> SpaceConfig:
    readme = repo / "README.md"
    if not readme.is_file():
        raise ConfigError("the repository has no README.md; it must hold the Space's settings as YAML front matter")
    try:
        text = readme.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError("README.md is not UTF-8 text") from exc
    return parse_config(text)
