"""One serving interface: static Spaces run on the static backend like container Spaces on theirs,
and the deploy, the reconciler, sleep and deletion pick the backend without asking what the Space is.
The shared static server (a container) is replaced by this process's small HTTP server; the site
links, the records and the job code are the real ones."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

import worker.backends.static as static_backend
from core import keys, services, store
from core.errors import BackendError, Conflict
from core.settings import get_settings
from core.stages import BuildStatus, Stage
from proxy.routes import RedisRouteTable, check_routes, space_route_name
from tests.fakes import AppServer, FakeBackend, use_backend
from worker import jobs, sleep
from worker.backends import Capability, StaticBackend, backend_for, can, get_backend
from worker.reconcile import reconcile_once


@pytest.fixture(scope="module")
def server() -> Iterator[AppServer]:
    apps = AppServer()
    yield apps
    apps.close()


@pytest.fixture
def platform(redis_db: redis.Redis, server: AppServer, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBackend]:
    """Container Spaces on a fake backend; static ones on the real static backend (its files in a
    temporary data folder), whose shared server is this process's answering server."""
    monkeypatch.setenv("SPACES_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    fake = FakeBackend(server)
    use_backend(monkeypatch, fake)
    monkeypatch.setattr(static_backend, "ensure_server", lambda settings=None: server.answering_url)
    monkeypatch.setattr(static_backend, "server_target", lambda: server.answering_url)
    monkeypatch.setattr(static_backend, "check_site", lambda target, host, index: None)
    monkeypatch.setattr(jobs, "wait_drained", lambda target, timeout: True)
    monkeypatch.setattr(RedisRouteTable, "wait_live", staticmethod(lambda name, target, timeout=15.0: None))
    yield fake
    get_settings.cache_clear()


def built(r: redis.Redis, space_id: str, kind: str, tmp: Path | None = None, *, sdk: str = "gradio", **fields: str) -> str:
    if store.get_space(r, space_id) is None:
        store.create_space(r, space_id, sdk=sdk)
    build_id = store.create_build(r, space_id, "c0ffee")
    if kind == "static":
        assert tmp is not None
        release = tmp / "static" / "releases" / store.require_space(r, space_id).subdomain / f"c0ffee-{build_id}"
        release.mkdir(parents=True)
        (release / "index.html").write_text("<h1>hi</h1>")
        fields = {"release": str(release), "app_dir": ".", **fields}
    else:
        fields = {"image": f"img:{build_id}", **fields}
    store.update_build(r, build_id, status=BuildStatus.SUCCEEDED.value, kind=kind, **fields)
    return build_id


def site_of(tmp: Path, r: redis.Redis, space_id: str) -> Path:
    return tmp / "static" / "sites" / store.require_space(r, space_id).subdomain


def test_a_static_space_deploys_through_the_static_backend(redis_db, platform, tmp_path, server):
    build_id = built(redis_db, "ann/site", "static", tmp_path, sdk="static")
    jobs.deploy_space("ann/site", build_id)
    space = store.require_space(redis_db, "ann/site")
    assert space.stage == Stage.RUNNING.value and space.running_build == build_id
    assert space.runtime == "static" and space.instance == f"static:ann/site@{build_id}"
    assert os.readlink(site_of(tmp_path, redis_db, "ann/site")).endswith(f"c0ffee-{build_id}")
    assert RedisRouteTable(redis_db).target_of(space_route_name(space.subdomain)) == server.answering_url
    assert platform.of("ann/site") == []  # no container for it
    assert not sleep.sleeps(space) and not can(space, Capability.STORAGE)


def test_a_static_index_page_is_the_routes_root_path(redis_db, platform, tmp_path):
    build_id = built(redis_db, "ann/site", "static", tmp_path, sdk="static", index="home.html")
    jobs.deploy_space("ann/site", build_id)
    (inst,) = StaticBackend().instances_of("ann/site")
    assert inst.root_path == "/home.html" and inst.ready and inst.running


def test_a_space_that_became_static_stops_its_containers_and_back(redis_db, platform, tmp_path):
    jobs.deploy_space("ann/demo", built(redis_db, "ann/demo", "container"))
    (container,) = platform.of("ann/demo")
    jobs.deploy_space("ann/demo", built(redis_db, "ann/demo", "static", tmp_path))
    assert platform.of("ann/demo") == [] and container.id in platform.removed
    assert store.require_space(redis_db, "ann/demo").runtime == "static"
    jobs.deploy_space("ann/demo", built(redis_db, "ann/demo", "container"))
    assert StaticBackend().instances_of("ann/demo") == []  # the site is down
    assert not site_of(tmp_path, redis_db, "ann/demo").exists()
    assert store.require_space(redis_db, "ann/demo").runtime == "fake"


def test_the_reconciler_republishes_a_lost_site_and_adopts_an_old_record(redis_db, platform, tmp_path):
    build_id = built(redis_db, "ann/site", "static", tmp_path, sdk="static")
    jobs.deploy_space("ann/site", build_id)
    site_of(tmp_path, redis_db, "ann/site").unlink()  # lost (a restore from backup, a hand)
    store.update_space(redis_db, "ann/site", runtime="", instance="")  # as records were before the field
    assert backend_for(redis_db, store.require_space(redis_db, "ann/site")).name == "static"  # from the build's kind
    reconcile_once(redis_db, get_settings())
    space = store.require_space(redis_db, "ann/site")
    assert site_of(tmp_path, redis_db, "ann/site").is_symlink()
    assert (space.runtime, space.instance, space.stage) == ("static", f"static:ann/site@{build_id}", Stage.RUNNING.value)


def test_deleting_a_static_space_takes_its_site_and_files(redis_db, platform, tmp_path):
    build_id = built(redis_db, "ann/site", "static", tmp_path, sdk="static")
    jobs.deploy_space("ann/site", build_id)
    label = store.require_space(redis_db, "ann/site").subdomain
    jobs.delete_space("ann/site")
    assert not (tmp_path / "static" / "sites" / label).exists()
    assert not (tmp_path / "static" / "releases" / label).exists()
    assert StaticBackend().list_instances() == [] and store.get_space(redis_db, "ann/site") is None


def test_the_container_backend_setting_names_a_container_backend(monkeypatch):
    monkeypatch.setenv("SPACES_BACKEND", "static")
    get_settings.cache_clear()
    try:
        with pytest.raises(ValueError, match="unknown container runtime backend 'static'"):
            get_backend()
    finally:
        get_settings.cache_clear()


def test_a_backend_without_sleep_refuses_it_with_a_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("SPACES_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    with pytest.raises(Exception, match="the static backend cannot sleep"):
        StaticBackend().pause("static:ann/site@1")
    get_settings.cache_clear()


def test_settings_and_environment_changes_restart_through_one_path(redis_db, platform, tmp_path):
    first = built(redis_db, "ann/demo", "container")
    jobs.deploy_space("ann/demo", first)
    assert services.set_hardware(redis_db, "ann/demo", "cpu-upgrade") is True
    assert services.set_hardware(redis_db, "ann/demo", "cpu-upgrade") is False  # unchanged: no restart
    queued = [store.get_build(redis_db, first).deploy_job]
    assert queued[0] and services.redeploy_serving(redis_db, "ann/demo") == first
    services.apply_env_change(redis_db, "ann/demo")
    assert store.get_build(redis_db, first).deploy_requested_at
    jobs.deploy_space("ann/site", built(redis_db, "ann/site", "static", tmp_path, sdk="static"))
    with pytest.raises(Conflict, match="static Space: it runs no app"):
        services.set_storage(redis_db, "ann/site", "small")
    assert store.require_space(redis_db, "ann/site").storage == ""


def test_check_routes_removes_orphans_and_puts_back_the_access_check(redis_db, platform):
    jobs.deploy_space("ann/demo", built(redis_db, "ann/demo", "container"))
    table = RedisRouteTable(redis_db)
    table.add_route("space-gone", "gone.spaces.localhost", "http://127.0.0.1:1")
    store.update_space(redis_db, "ann/demo", visibility="private")  # written around the route lock
    space = store.require_space(redis_db, "ann/demo")
    repaired = check_routes(redis_db, [space])
    assert "removed the orphan route space-gone" in repaired
    assert "space-gone" not in table.get_all_routes()
    assert table.is_private(space_route_name(space.subdomain))
    assert check_routes(redis_db, [space]) == []  # nothing left to repair


def test_an_environment_change_rebuilds_only_what_took_the_environment_in(redis_db, platform, monkeypatch):
    """A Docker build took the variables in as build arguments (the builder records it): a change
    rebuilds; a Gradio build reads them when it starts: a change restarts the same build."""
    monkeypatch.setattr("core.repos.head_commit", lambda space_id: "c0ffee")
    gradio = built(redis_db, "ann/app", "container")
    docker = built(redis_db, "ann/box", "container", sdk="docker")
    old_docker = built(redis_db, "ann/old", "container", sdk="docker")
    store.update_space(redis_db, "ann/app", sdk="gradio")  # as the builder records what it read
    store.update_space(redis_db, "ann/box", sdk="docker", bakes_env=True)
    redis_db.hset(keys.space("ann/old"), "sdk", "docker")  # recorded before the builder said bakes_env
    services.apply_env_change(redis_db, "ann/app")
    assert store.require_space(redis_db, "ann/app").latest_build == gradio  # the same build, deployed again
    assert store.get_build(redis_db, gradio).deploy_requested_at > 0
    for space_id, before in (("ann/box", docker), ("ann/old", old_docker)):
        services.apply_env_change(redis_db, space_id)
        rebuilt = store.get_build(redis_db, store.require_space(redis_db, space_id).latest_build)
        assert rebuilt.id != before and rebuilt.commit == "c0ffee" and rebuilt.status == "queued"


def test_a_static_deploy_that_fails_leaves_the_site_and_the_reconciler_puts_the_old_one_back(redis_db, platform, tmp_path, monkeypatch):
    """A static version replaces the published one in place: a deploy that fails after that (here
    Traefik never confirms the route) does not take the site down, and the reconciler publishes the
    serving build's files again (kept for that)."""
    first = built(redis_db, "ann/site", "static", tmp_path, sdk="static")
    jobs.deploy_space("ann/site", first)
    second = built(redis_db, "ann/site", "static", tmp_path, sdk="static")

    def unconfirmed(*args, **kwargs):
        raise BackendError("Traefik did not pick up the route within 15 s")

    with monkeypatch.context() as m:
        m.setattr(jobs, "route_to", unconfirmed)
        jobs.deploy_space("ann/site", second)
    space = store.require_space(redis_db, "ann/site")
    assert space.stage == Stage.RUNTIME_ERROR and space.running_build == first
    assert site_of(tmp_path, redis_db, "ann/site").is_symlink()  # still up
    reconcile_once(redis_db, get_settings())
    assert os.readlink(site_of(tmp_path, redis_db, "ann/site")).endswith(f"c0ffee-{first}")
    assert store.require_space(redis_db, "ann/site").running_build == first


def test_a_static_server_that_is_down_for_a_while_takes_no_static_space_out_of_service(redis_db, platform, tmp_path, monkeypatch):
    build_id = built(redis_db, "ann/site", "static", tmp_path, sdk="static")
    jobs.deploy_space("ann/site", build_id)
    monkeypatch.setattr(static_backend, "server_target", lambda: "")

    def down(settings=None):
        raise BackendError("the static server did not answer within 15 s")

    monkeypatch.setattr(static_backend, "ensure_server", down)
    reconcile_once(redis_db, get_settings())
    space = store.require_space(redis_db, "ann/site")
    assert space.running_build == build_id and space.stage == Stage.RUNNING  # tried again next pass


def test_deleting_a_static_space_published_before_sites_had_records_takes_its_files(redis_db, platform, tmp_path):
    build_id = built(redis_db, "ann/site", "static", tmp_path, sdk="static")
    jobs.deploy_space("ann/site", build_id)
    label = store.require_space(redis_db, "ann/site").subdomain
    (tmp_path / "static" / "spaces" / "ann" / "site.json").unlink()  # as sites were before this record
    jobs.delete_space("ann/site")
    assert not (tmp_path / "static" / "sites" / label).exists()
    assert not (tmp_path / "static" / "releases" / label).exists()
