"""The build job (RQ queue ``builds``): one commit of a Space → one image, then a deploy job.

Every line of output goes to the build's log stream in Redis, where the API's server-sent events
and the waiting ``git push`` read it. Failures end in the Space stage that names them:
``CONFIG_ERROR``, ``NO_APP_FILE`` or ``BUILD_ERROR``, with the reason and the log's last lines.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import redis
from rq.timeouts import JobTimeoutException

from builder import base_images, images, wheels
from builder.config import SpaceConfig, load_config
from builder.dockerfile import app_dockerfile, deps_dockerfile
from builder.source import export_commit
from core import keys, store
from core.errors import BuildFailed, ConfigError, NoAppFile, SpacesError
from core.names import app_image_repo
from core.queues import enqueue_deploy
from core.settings import Settings, get_settings
from core.stages import BuildStatus, Stage

log = logging.getLogger(__name__)

DEPS_REPO = "spaces-deps"
SUPPORTED_SDKS = ("gradio",)
LOG_TAIL = 12


class BuildLog:
    """Writes a build's lines to its Redis stream (and to this process's log)."""

    def __init__(self, r: redis.Redis, build_id: str) -> None:
        self.r, self.build_id = r, build_id

    def __call__(self, line: str) -> None:
        store.append_log(self.r, self.build_id, line)

    def tail(self, n: int = LOG_TAIL) -> str:
        return "\n".join(store.read_log(self.r, self.build_id)[-n:])


def _utc() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _requirements(src: Path) -> str:
    path = src / "requirements.txt"
    if not path.is_file():
        return ""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise BuildFailed("requirements.txt is not UTF-8 text: it must list one requirement a line") from exc
    if "\x00" in text:
        raise BuildFailed("requirements.txt contains binary data: it must list one requirement a line")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return "\n".join(lines) + ("\n" if lines else "")


def _base_image(config: SpaceConfig, settings: Settings, emit: BuildLog) -> str:
    version = config.sdk_version or base_images.default_gradio_version()
    tag = base_images.gradio_image(version)
    if not images.image_exists(tag):
        emit(f"--> Gradio {version} is not in a runtime image yet; building {tag} once for every Space")
        base_images.ensure_gradio(settings, version, emit)
    return tag


def _deps_image(base: str, requirements: str, src: Path, settings: Settings, emit: BuildLog, r: redis.Redis) -> str:
    """The image with requirements.txt installed, built once per (base, requirements) and shared."""
    base_id = images.docker_client().images.get(base).id
    digest = hashlib.sha256(f"{base_id}\n{requirements}".encode()).hexdigest()[:20]
    tag = f"{DEPS_REPO}:{digest}"
    with r.lock(keys.deps_lock(digest), timeout=settings.build_timeout, blocking_timeout=settings.build_timeout):
        if images.image_exists(tag):
            emit(f"--> requirements unchanged: reusing {tag}")
            return tag
        emit("--> resolving requirements.txt into the wheel cache")
        wheels.resolve(src / "requirements.txt", settings.wheel_cache, emit, timeout=settings.build_timeout)
        with tempfile.TemporaryDirectory(prefix="spaces-deps-") as ctx:
            (Path(ctx) / "requirements.txt").write_text(requirements)
            (Path(ctx) / "Dockerfile").write_text(deps_dockerfile(base))
            emit("--> installing requirements into the image")
            with wheels.serve(settings.wheel_cache) as url:
                images.build_image(
                    Path(ctx), tag, emit, buildargs={"WHEELS_URL": url}, host_network=True,
                    labels={"org.spaces.kind": "deps"}, timeout=settings.build_timeout,
                )
    return tag


def _build(space_id: str, build_id: str, commit: str, settings: Settings, emit: BuildLog, r: redis.Redis) -> dict:
    with tempfile.TemporaryDirectory(prefix="spaces-build-") as tmp:
        src = Path(tmp) / "src"
        export_commit(settings.repos_dir / f"{space_id}.git", commit, src)
        config = load_config(src)
        for key in config.unknown_keys:
            emit(f"warning: unknown README.md key '{key}' is ignored")
        if config.sdk not in SUPPORTED_SDKS:
            raise ConfigError(f"'sdk' is {config.sdk!r}: this platform builds {', '.join(SUPPORTED_SDKS)} Spaces so far")
        app_file = config.effective_app_file
        if not (src / app_file).is_file():
            raise NoAppFile(f"app file '{app_file}' not found in the repository (set 'app_file' in README.md)")
        store.set_stage(
            r, space_id, _building_stage(r, space_id), build_id=build_id,
            sdk=config.sdk, title=config.title or space_id.split("/", 1)[1],
            emoji=config.emoji or "", short_description=config.short_description or "",
        )
        base = _base_image(config, settings, emit)
        requirements = _requirements(src)
        if requirements:
            base = _deps_image(base, requirements, src, settings, emit, r)
        labels = {"org.spaces.space": space_id, "org.spaces.build": build_id, "org.spaces.commit": commit}
        dockerfile = Path(tmp) / "Dockerfile"
        dockerfile.write_text(app_dockerfile(config, base, labels))
        tag = f"{app_image_repo(space_id)}:{commit[:12]}"
        emit(f"--> building {tag}")
        step = time.monotonic()
        images.build_image(src, tag, emit, dockerfile=str(dockerfile), timeout=settings.build_timeout)
        emit(f"--> app layer built in {time.monotonic() - step:.1f} s")
        return {
            "image": tag,
            "app_port": config.app_port,
            "startup_seconds": min(config.startup_seconds, settings.startup_timeout),
            "title": config.title or "",
        }


def _building_stage(r: redis.Redis, space_id: str) -> Stage:
    space = store.get_space(r, space_id) or {}
    serving = space.get("running_build") and Stage(space.get("stage", "BUILDING")).is_serving
    return Stage.RUNNING_BUILDING if serving else Stage.BUILDING


def build_space(space_id: str, build_id: str) -> None:
    """RQ entry point: build ``build_id`` of ``space_id`` and enqueue its deploy."""
    settings = get_settings()
    r = store.get_redis()
    build = store.get_build(r, build_id)
    space = store.get_space(r, space_id)
    if build is None or space is None:
        log.warning("build %s of %s: record gone, nothing to do", build_id, space_id)
        return
    if space.get("latest_build") != build_id:
        store.update_build(r, build_id, status=BuildStatus.SUPERSEDED.value, finished_at=store.now())
        store.append_log(r, build_id, "===== Build superseded by a newer push =====")
        return
    emit = BuildLog(r, build_id)
    started = time.monotonic()
    emit(f"===== Build Queued at {_utc()} / Commit SHA: {build['commit']} =====")
    store.update_build(r, build_id, status=BuildStatus.RUNNING.value, started_at=store.now())
    store.set_stage(r, space_id, _building_stage(r, space_id), build_id=build_id)
    try:
        result = _build(space_id, build_id, build["commit"], settings, emit, r)
    except (ConfigError, NoAppFile) as exc:
        stage = Stage.CONFIG_ERROR if isinstance(exc, ConfigError) else Stage.NO_APP_FILE
        _fail(r, space_id, build_id, emit, stage, exc.message, started)
        return
    except JobTimeoutException:
        _fail(r, space_id, build_id, emit, Stage.BUILD_ERROR, f"build timed out after {settings.build_timeout} s", started)
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
    enqueue_deploy(r, space_id, build_id, startup_seconds=int(result["startup_seconds"]))


def _fail(r: redis.Redis, space_id: str, build_id: str, emit: BuildLog, stage: Stage, reason: str, started: float) -> None:
    emit(f"===== {stage.value}: {reason} =====")
    seconds = time.monotonic() - started
    store.update_build(
        r, build_id, status=BuildStatus.FAILED.value, finished_at=store.now(), duration=f"{seconds:.2f}", error=reason,
    )
    message = reason if stage != Stage.BUILD_ERROR else f"{reason}\n--- last build log lines ---\n{emit.tail()}"
    store.set_stage(r, space_id, stage, message=message, build_id=build_id)


def cleanup_workdir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
