"""How records look in API answers (Hugging Face's field names and shapes)."""

from __future__ import annotations

from datetime import UTC, datetime

from core.access import Caller, error_message_for
from core.models import Build, Space, Visibility
from core.settings import Settings, get_settings
from core.store import sleep_seconds


def iso(ts: str | float | None) -> str | None:
    """Epoch seconds → ISO 8601 in UTC ending in ``Z``, as the Hub writes timestamps."""
    if ts in (None, ""):
        return None
    moment = datetime.fromtimestamp(float(ts), tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _when(ts: float) -> str | None:
    """A record's time as :func:`iso` writes it; None while unset (0.0)."""
    return iso(ts) if ts else None


def _gc_timeout(space: Space) -> int | None:
    """Seconds of idleness before the Space sleeps; None if it never does."""
    seconds = sleep_seconds(space, get_settings())
    return None if seconds < 0 else seconds


CARD_TEXT_MAX = 200  # a record from before the front matter limits could hold megabytes


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def runtime_view(space: Space, caller: Caller | None = None) -> dict:
    """The Space's runtime as ``caller`` may see it (None: an anonymous visitor): its
    ``errorMessage`` holds log lines only for those who may read those logs."""
    stage = space.stage
    message = space.error_message if stage.is_error else ""
    hardware = space.hardware or "cpu-basic"
    return {
        "stage": stage.value,
        "hardware": {"current": hardware if stage.is_serving else None, "requested": hardware},
        "storage": space.storage or None,
        "gcTimeout": _gc_timeout(space),
        "replicas": {"current": 1 if stage.is_serving else 0, "requested": 1},
        "devMode": False,
        "errorMessage": error_message_for(caller, space, stage.value, message) or None,
    }


def space_view(space: Space, settings: Settings, caller: Caller | None = None) -> dict:
    host = settings.space_host(space.subdomain)
    return {
        "_id": space.id,
        "id": space.id,
        "author": space.owner,
        "sdk": space.sdk or None,
        "private": space.visibility is not Visibility.PUBLIC,
        "visibility": space.visibility.value,
        "createdAt": _when(space.created_at),
        "lastModified": _when(space.updated_at),
        "subdomain": space.subdomain,
        "host": settings.public_url(host),
        "url": settings.public_url(host) + "/",
        "cardData": {
            "title": _cut(space.title or space.name, CARD_TEXT_MAX),
            "emoji": _cut(space.emoji, 16) or None,
            "short_description": _cut(space.short_description, CARD_TEXT_MAX) or None,
            "sdk": space.sdk or None,
        },
        "runtime": runtime_view(space, caller),
    }


def build_view(build: Build) -> dict:
    return {
        "id": build.id,
        "commit": build.commit,
        "status": build.status.value,
        "queuedAt": _when(build.queued_at),
        "startedAt": _when(build.started_at),
        "finishedAt": _when(build.finished_at),
        "durationSeconds": build.duration or None,
        "error": build.error or None,
    }
