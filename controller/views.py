"""How records look in API answers (Hugging Face's field names and shapes)."""

from __future__ import annotations

from datetime import datetime, timezone

from core.access import visibility
from core.settings import Settings, get_settings
from core.stages import Stage
from core.store import sleep_seconds


def iso(ts: str | float | None) -> str | None:
    """Epoch seconds → ISO 8601 in UTC ending in ``Z``, as the Hub writes timestamps."""
    if ts in (None, ""):
        return None
    moment = datetime.fromtimestamp(float(ts), tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _gc_timeout(space: dict) -> int | None:
    """Seconds of idleness before the Space sleeps; None if it never does."""
    seconds = sleep_seconds(space, get_settings())
    return None if seconds < 0 else seconds


def runtime_view(space: dict) -> dict:
    stage = Stage(space.get("stage", Stage.NO_APP_FILE.value))
    hardware = space.get("hardware") or "cpu-basic"
    return {
        "stage": stage.value,
        "hardware": {"current": hardware if stage.is_serving else None, "requested": hardware},
        "storage": space.get("storage") or None,
        "gcTimeout": _gc_timeout(space),
        "replicas": {"current": 1 if stage.is_serving else 0, "requested": 1},
        "devMode": False,
        "errorMessage": space.get("error_message") or None if stage.is_error else None,
    }


def space_view(space: dict, settings: Settings) -> dict:
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
            "title": space.get("title") or space["name"],
            "emoji": space.get("emoji") or None,
            "short_description": space.get("short_description") or None,
            "sdk": space.get("sdk") or None,
        },
        "runtime": runtime_view(space),
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
