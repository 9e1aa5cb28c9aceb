"""How records look in API answers (Hugging Face's field names and shapes)."""

from __future__ import annotations

from datetime import UTC, datetime

from core.access import Caller, error_message_for, visibility
from core.settings import Settings, get_settings
from core.stages import Stage
from core.store import sleep_seconds


def iso(ts: str | float | None) -> str | None:
    """Epoch seconds → ISO 8601 in UTC ending in ``Z``, as the Hub writes timestamps."""
    if ts in (None, ""):
        return None
    moment = datetime.fromtimestamp(float(ts), tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _gc_timeout(space: dict) -> int | None:
    """Seconds of idleness before the Space sleeps; None if it never does."""
    seconds = sleep_seconds(space, get_settings())
    return None if seconds < 0 else seconds


CARD_TEXT_MAX = 200  # a record from before the front matter limits could hold megabytes


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def runtime_view(space: dict, caller: Caller | None = None) -> dict:
    """The Space's runtime as ``caller`` may see it (None: an anonymous visitor): its
    ``errorMessage`` holds log lines only for those who may read those logs."""
    stage = Stage(space.get("stage", Stage.NO_APP_FILE.value))
    message = space.get("error_message") or "" if stage.is_error else ""
    hardware = space.get("hardware") or "cpu-basic"
    return {
        "stage": stage.value,
        "hardware": {"current": hardware if stage.is_serving else None, "requested": hardware},
        "storage": space.get("storage") or None,
        "gcTimeout": _gc_timeout(space),
        "replicas": {"current": 1 if stage.is_serving else 0, "requested": 1},
        "devMode": False,
        "errorMessage": error_message_for(caller, space, stage.value, message) or None,
    }


def space_view(space: dict, settings: Settings, caller: Caller | None = None) -> dict:
    host = settings.space_host(space["subdomain"])
    return {
        "_id": space["id"],
        "id": space["id"],
        "author": space["owner"],
        "sdk": space.get("sdk") or None,
        "private": visibility(space) != "public",
        "visibility": visibility(space),
        "createdAt": iso(space.get("created_at")),
        "lastModified": iso(space.get("updated_at")),
        "subdomain": space["subdomain"],
        "host": settings.public_url(host),
        "url": settings.public_url(host) + "/",
        "cardData": {
            "title": _cut(space.get("title") or space["name"], CARD_TEXT_MAX),
            "emoji": _cut(space.get("emoji") or "", 16) or None,
            "short_description": _cut(space.get("short_description") or "", CARD_TEXT_MAX) or None,
            "sdk": space.get("sdk") or None,
        },
        "runtime": runtime_view(space, caller),
    }


def build_view(build: dict) -> dict:
    return {
        "id": build["id"],
        "commit": build.get("commit"),
        "status": build.get("status"),
        "queuedAt": iso(build.get("queued_at")),
        "startedAt": iso(build.get("started_at")),
        "finishedAt": iso(build.get("finished_at")),
        "durationSeconds": float(build["duration"]) if build.get("duration") else None,
        "error": build.get("error") or None,
    }
