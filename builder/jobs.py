"""The build job (RQ queue ``builds``): one commit of a Space → something to serve, then a deploy job.

Every line of output goes to the build's log stream in Redis, where the API's server-sent events
and the waiting ``git push`` read it. Failures end in the Space stage that names them:
``CONFIG_ERROR``, ``NO_APP_FILE`` or ``BUILD_ERROR``, with the reason and the log's last lines.
A build that runs past ``SPACES_BUILD_TIMEOUT`` or is superseded by a newer push is stopped
by :func:`builder.guard.build_guard`.
"""

from __future__ import annotations

import logging
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import redis

from builder.config import load_config
from builder.guard import BuildSuperseded, build_guard
from builder.sdks import SDK_BUILDERS, BuildContext
from builder.source import export_commit
from core import envvars, metrics, store
from core.errors import ConfigError, NoAppFile, SpacesError
from core.models import Build, Space
from core.queues import enqueue_deploy
from core.settings import Settings, get_settings
from core.stages import BuildStatus, Stage

log = logging.getLogger(__name__)

LOG_TAIL = 12


class BuildLog:
    """Writes a build's lines to its Redis stream."""

    def __init__(self, r: redis.Redis, build_id: str, secrets: dict[str, str]) -> None:
        self.r, self.build_id, self.secrets = r, build_id, secrets

    def __call__(self, line: str) -> None:
        store.append_log(self.r, self.build_id, envvars.mask(line, self.secrets))

    def tail(self, n: int = LOG_TAIL) -> str:
        return "\n".join(store.read_log(self.r, self.build_id, last=n))


def _utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _building_stage(r: redis.Redis, space_id: str) -> Stage:
    space = store.get_space(r, space_id)
    serving = space is not None and space.running_build and space.stage.is_serving
    return Stage.RUNNING_BUILDING if serving else Stage.BUILDING


def _build(space: Space, build: Build, settings: Settings, emit: BuildLog, r: redis.Redis, secrets: dict[str, str]) -> dict:
    space_id, build_id, commit = space.id, build.id, build.commit
    with tempfile.TemporaryDirectory(prefix="spaces-build-") as tmp:
        src = Path(tmp) / "src"
        export_commit(settings.repos_dir / f"{space_id}.git", commit, src)
        config = load_config(src)
        for note in config.warnings():
            emit(f"warning: {note}")
        store.update_build(r, build_id, sdk=config.sdk)
        store.set_stage(
            r, space_id, _building_stage(r, space_id), build_id=build_id,
            sdk=config.sdk, bakes_env=SDK_BUILDERS[config.sdk].bakes_env, title=config.title or space.name, emoji=config.emoji or "",
            short_description=config.short_description or "", color_from=config.colorFrom or "",
            color_to=config.colorTo or "", pinned="1" if config.pinned else "",
            disable_embedding="1" if config.disable_embedding else "", full_width="1" if config.fullWidth else "",
            header=config.header,
        )
        ctx = BuildContext(
            space_id=space_id, build_id=build_id, commit=commit, subdomain=space.subdomain, src=src,
            workdir=Path(tmp), config=config, settings=settings, emit=emit, r=r, fresh=build.factory,
            variables={k: v["value"] for k, v in envvars.list_variables(r, space_id).items()},
            secrets=secrets,
        )
        result = SDK_BUILDERS[config.sdk].build(ctx)
        return {
            **result,
            "sdk": config.sdk,
            "startup_seconds": min(config.startup_seconds, settings.startup_timeout),
            "title": config.title or "",
        }


def build_space(space_id: str, build_id: str) -> None:
    """RQ entry point: build ``build_id`` of ``space_id`` and enqueue its deploy."""
    settings = get_settings()
    r = store.get_redis()
    build = store.get_build(r, build_id)
    space = store.get_space(r, space_id)
    if build is None or space is None:
        log.warning("build %s of %s: record gone, nothing to do", build_id, space_id)
        return
    if space.latest_build != build_id:
        _superseded(r, build_id)
        return
    secrets = envvars.secret_values(r, space_id)
    emit = BuildLog(r, build_id, secrets)
    started = time.monotonic()
    emit(f"===== Build Queued at {_utc()} / Commit SHA: {build.commit} =====")
    if build.factory:
        emit("--> factory rebuild: no cached layers or dependency images are reused")
    store.update_build(r, build_id, status=BuildStatus.RUNNING.value, started_at=store.now())
    store.set_stage(r, space_id, _building_stage(r, space_id), build_id=build_id)
    try:
        with build_guard(r, space_id, build_id, settings.build_timeout):
            result = _build(space, build, settings, emit, r, secrets)
    except BuildSuperseded:
        _superseded(r, build_id)
        return
    except (ConfigError, NoAppFile) as exc:
        stage = Stage.CONFIG_ERROR if isinstance(exc, ConfigError) else Stage.NO_APP_FILE
        _fail(r, space_id, build_id, emit, stage, exc.message, started)
        return
    except SpacesError as exc:
        log.warning("build %s of %s failed: %s", build_id, space_id, exc.detail)
        _fail(r, space_id, build_id, emit, Stage.BUILD_ERROR, exc.message, started)
        return
    except Exception as exc:
        log.exception("build %s of %s crashed", build_id, space_id)
        _fail(r, space_id, build_id, emit, Stage.BUILD_ERROR, f"internal error in the builder: {exc}", started)
        raise
    seconds = time.monotonic() - started
    emit(f"===== Build finished in {seconds:.1f} s; starting the app =====")
    store.update_build(
        r, build_id, status=BuildStatus.SUCCEEDED.value, finished_at=store.now(), duration=f"{seconds:.2f}", **result,
    )
    metrics.inc(r, "spaces_builds_total", result="succeeded")
    metrics.observe(r, "spaces_build_duration_seconds", seconds, metrics.BUILD_BUCKETS, result="succeeded")
    enqueue_deploy(r, space_id, build_id, startup_seconds=int(result["startup_seconds"]))


def _superseded(r: redis.Redis, build_id: str) -> None:
    metrics.inc(r, "spaces_builds_total", result="superseded")
    store.update_build(r, build_id, status=BuildStatus.SUPERSEDED.value, finished_at=store.now())
    store.append_log(r, build_id, "===== Build superseded by a newer push =====")


def _fail(r: redis.Redis, space_id: str, build_id: str, emit: BuildLog, stage: Stage, reason: str, started: float) -> None:
    emit(f"===== {stage.value}: {reason} =====")
    seconds = time.monotonic() - started
    metrics.inc(r, "spaces_builds_total", result="failed")
    metrics.observe(r, "spaces_build_duration_seconds", seconds, metrics.BUILD_BUCKETS, result="failed")
    store.update_build(
        r, build_id, status=BuildStatus.FAILED.value, finished_at=store.now(), duration=f"{seconds:.2f}", error=reason,
    )
    message = reason if stage != Stage.BUILD_ERROR else f"{reason}\n--- last build log lines ---\n{emit.tail()}"
    store.set_stage(r, space_id, stage, message=message, build_id=build_id)
