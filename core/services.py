"""What an owner (or the platform) does to a Space, written once: the API, the HTML forms, the
admin pages, the ``spaces`` CLI and the reconciler all call these.

Each takes the Space's id, reads its record itself and writes through :mod:`core.store` and
:mod:`core.queues`; access checks are the caller's (the routers' dependencies). Errors are
:class:`core.errors.SpacesError` subclasses with a message for the user.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from core import envvars, repos, store
from core.errors import Conflict, InvalidInput, NotFound
from core.hardware import DEFAULT_TIER, STORAGE_TIERS, TIERS
from core.models import Build, BuildKind, Space
from core.queues import enqueue_build, enqueue_delete, enqueue_deploy, queue_build
from core.queues import pause as queue_pause
from core.settings import get_settings
from core.stages import BuildStatus, Stage

MAX_SLEEP_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True)
class Restarted:
    """What a restart started: the build that will serve, and whether it is a new (factory) build."""

    build: str
    factory: bool = False


def _succeeded(build: Build | None) -> bool:
    return build is not None and build.succeeded


def deploy(r: redis.Redis, space_id: str, build: Build) -> None:
    """Queue a deploy of ``build`` (a succeeded build of the Space): the one way a version is (re)started."""
    enqueue_deploy(r, space_id, build.id, startup_seconds=build.startup(get_settings().startup_timeout))


def redeploy_serving(r: redis.Redis, space_id: str) -> str | None:
    """Start the Space's current version again (after a change to its settings or environment):
    the serving build, else the latest one if it succeeded. Returns the build queued, or None if
    there is none to start (the next push will use the change)."""
    space = store.require_space(r, space_id)
    build = store.get_build(r, space.running_build or space.latest_build or "")
    if not _succeeded(build):
        return None
    assert build is not None
    deploy(r, space_id, build)
    return str(build.id)


def restart(r: redis.Redis, space_id: str, *, factory: bool = False) -> Restarted:
    """Restart the Space (also one its owner paused). ``factory``: rebuild its latest commit
    without any cache instead."""
    if factory:
        commit = repos.head_commit(space_id)
        if commit is None:
            raise Conflict(f"{space_id} has no commit to build yet; push one first")
        build_id = store.create_build(r, space_id, commit, factory=True)
        enqueue_build(r, space_id, build_id)
        return Restarted(build_id, factory=True)
    space = store.require_space(r, space_id)
    latest = store.get_build(r, space.latest_build or "") if space.latest_build else None
    if latest is not None and latest.status in (BuildStatus.QUEUED.value, BuildStatus.RUNNING.value):
        # A build is on its way and starts the Space when it is done (also one its owner paused).
        if space.stage == Stage.PAUSED.value:
            store.set_stage(r, space_id, Stage.BUILDING, build_id=latest.id)
        return Restarted(latest.id)
    build = latest if _succeeded(latest) else None
    if build is None and space.running_build:  # the latest push failed; the serving version restarts
        build = store.get_build(r, space.running_build)
    if build is None or not _succeeded(build):
        raise Conflict(f"{space_id} has no successful build to restart; push a fix or use factory=true")
    deploy(r, space_id, build)
    return Restarted(build.id)


def apply_env_change(r: redis.Redis, space_id: str) -> None:
    """Restart the Space so that its app sees a change of its variables or secrets.

    A Docker Space (or one whose first build has not read its README yet) is rebuilt from its
    latest commit, whatever its last build did: variables are its build arguments and secrets its
    build secrets (a build may have failed for want of one). Other Spaces start their latest
    successful build again with the new environment.
    """
    space = store.get_space(r, space_id)
    if space is None:
        return
    # Its builds take the environment in (the builder said so when it read the README), or no build
    # has read the README yet.
    if space.bakes_env or not space.sdk:
        if commit := repos.head_commit(space_id):
            enqueue_build(r, space_id, store.create_build(r, space_id, commit))
        return
    build = store.get_build(r, space.latest_build)
    if _succeeded(build):
        assert build is not None
        deploy(r, space_id, build)


def change_setting(r: redis.Redis, space_id: str, field: str, value: str) -> bool:
    """Record a runtime setting (hardware, storage); if it changed, restart the Space with it.
    Returns whether it changed."""
    space = store.require_space(r, space_id)
    if getattr(space, field) == value:
        return False
    store.update_space(r, space_id, **{field: value})
    redeploy_serving(r, space_id)
    return True


def set_hardware(r: redis.Redis, space_id: str, flavor: object) -> bool:
    if flavor not in TIERS:
        raise InvalidInput(f"flavor must be one of {', '.join(TIERS)} (this platform has no GPUs); got {flavor!r}")
    space = store.require_space(r, space_id)
    if (space.hardware or DEFAULT_TIER) == flavor:
        return False
    return change_setting(r, space_id, "hardware", str(flavor))


def serves_files_only(r: redis.Redis, space: Space) -> bool:
    """True for a Space whose version is a folder of files (a static Space): it runs no app. Its
    latest successful build (else the serving one) says; the builder sets what a build made."""
    for build_id in (space.latest_build, space.running_build):
        build = store.get_build(r, build_id) if build_id else None
        if _succeeded(build):
            assert build is not None
            return build.kind is BuildKind.STATIC
    return False


def set_storage(r: redis.Redis, space_id: str, tier: object) -> bool:
    """Give the Space a persistent ``/data`` of ``tier`` (never a smaller one than it has: that could
    lose data)."""
    if tier not in STORAGE_TIERS:
        raise InvalidInput(f"tier must be one of {', '.join(STORAGE_TIERS)}; got {tier!r}")
    space = store.require_space(r, space_id)
    if serves_files_only(r, space):
        raise Conflict(f"{space_id} is a static Space: it runs no app that could use /data")
    current = space.storage or ""
    if current in STORAGE_TIERS and STORAGE_TIERS.index(str(tier)) < STORAGE_TIERS.index(current):
        raise Conflict(f"{space_id} has {current} storage; a smaller tier could lose data: delete the storage first, "
                       f"then ask for {tier}")
    return change_setting(r, space_id, "storage", str(tier))


def delete_storage(r: redis.Redis, space_id: str) -> bool:
    return change_setting(r, space_id, "storage", "")


def check_sleep_seconds(seconds: object, field: str = "seconds") -> int:
    """A sleep time as the API takes it: -1 (never) or 1 to MAX_SLEEP_SECONDS."""
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not (seconds == -1 or 1 <= seconds <= MAX_SLEEP_SECONDS):
        raise InvalidInput(f"{field} must be -1 (never sleep) or a whole number from 1 to {MAX_SLEEP_SECONDS}; got {seconds!r}")
    return seconds


def set_sleep_time(r: redis.Redis, space_id: str, seconds: object) -> None:
    store.update_space(r, space_id, sleep_seconds=str(check_sleep_seconds(seconds)))


def pause(r: redis.Redis, space_id: str) -> None:
    """Pause the Space until its owner restarts it (visitors are told it is paused)."""
    space = store.require_space(r, space_id)
    if space.stage == Stage.DELETING.value:
        raise Conflict(f"{space_id} is being deleted")
    queue_pause(r, space_id)


def succeeded_build_of(r: redis.Redis, space_id: str, build: object) -> Build:
    """The Space's build ``build`` (a number), which must have succeeded (what a rollback serves again)."""
    record = store.get_build(r, str(build)) if isinstance(build, (int, str)) and str(build).isdigit() else None
    if record is None or record.space != space_id:
        raise NotFound(f"{space_id} has no build {build!r}")
    if not record.succeeded:
        raise Conflict(f"build #{build} of {space_id} did not succeed ({record.status.value}); roll back to one that did")
    return record


def rollback(r: redis.Redis, space_id: str, build: object, *, author: str) -> tuple[str, str]:
    """Serve an earlier successful build again: a new commit on main with that build's files (the
    history stays), built and deployed like a push. Returns the new commit and its build."""
    record = succeeded_build_of(r, space_id, build)
    commit = repos.revert_to(space_id, record.commit, author=author,
                             message=f"Roll back to build #{build} (commit {record.commit[:12]})")
    return commit, queue_build(r, space_id, commit)


def set_variable(r: redis.Redis, space_id: str, key: str, value: str, description: str = "") -> None:
    envvars.set_variable(r, space_id, key, value, description, at=store.now())
    apply_env_change(r, space_id)


def set_secret(r: redis.Redis, space_id: str, key: str, value: str, description: str = "") -> None:
    envvars.set_secret(r, space_id, key, value, description, at=store.now())
    apply_env_change(r, space_id)


def delete_env(r: redis.Redis, space_id: str, key: str, kind: str) -> None:
    """Remove a variable or a secret (``kind``) and restart the Space without it."""
    envvars.delete(r, space_id, key, kind)
    apply_env_change(r, space_id)


def set_visibility(r: redis.Redis, space_id: str, visibility: str) -> None:
    """Record the Space's visibility; its route follows at once (under the route lock every route
    write takes, so a deploy, wake or restart under way cannot put back a route without the check)."""
    from proxy.routes import set_space_visibility  # the one writer of routes; proxy imports core

    set_space_visibility(r, space_id, visibility)


def delete(r: redis.Redis, space: Space) -> None:
    """Delete the Space: ``DELETING`` at once, then the run worker removes its instances, route,
    images, repository and records. A deletion under way is left to finish."""
    if space.stage == Stage.DELETING.value and space.delete_job:
        return
    store.set_stage(r, space.id, Stage.DELETING)
    enqueue_delete(r, space.id)
