"""One root exception for the whole platform.

Each error carries a user-facing ``message`` (safe to show in push output, API answers and the
Space's stage) separately from ``detail``, which only goes to logs. ``status`` is the HTTP status
used when the error surfaces through the API.
"""

from __future__ import annotations


class SpacesError(Exception):
    status: int = 500

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail or message


class InvalidName(SpacesError):
    status = 400


class InvalidInput(SpacesError):
    status = 400


class NotFound(SpacesError):
    status = 404
    code = "RepoNotFound"  # X-Error-Code, as the Hub sends it (huggingface_hub maps it to its errors)


class EntryNotFound(NotFound):
    code = "EntryNotFound"


class RevisionNotFound(NotFound):
    code = "RevisionNotFound"


class Conflict(SpacesError):
    status = 409


class Unauthorized(SpacesError):
    status = 401


class Forbidden(SpacesError):
    status = 403


class ConfigError(SpacesError):
    """The repo's README front matter is missing or invalid (stage CONFIG_ERROR)."""

    status = 422


class NoAppFile(SpacesError):
    """The app file named by the config is not in the repo (stage NO_APP_FILE)."""

    status = 422


class BuildFailed(SpacesError):
    """Building the image failed (stage BUILD_ERROR)."""


class RuntimeFailed(SpacesError):
    """The container did not start or did not become healthy (stage RUNTIME_ERROR)."""


class BackendError(SpacesError):
    """A runtime backend (Docker, ...) failed in a way the user cannot fix."""
