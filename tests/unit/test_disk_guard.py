"""Issue 17, finding 5: what an app writes outside /data is measured, shown and capped.

The walk that measures (real files in a temporary folder) and the monitor's decision and action
(the real records, routes and usage recorder, with the in-memory backend of tests/fakes.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
import redis

from core import keys, store
from core.hardware import limits_for
from core.settings import get_settings
from core.stages import Stage
from proxy.routes import RedisRouteTable, space_route_name
from tests.fakes import AppServer, FakeBackend, use_backend
from worker import jobs
from worker.crashes import CrashWatcher
from worker.diskguard import over_limit
from worker.diskuse import DiskUse, TreeSize, tree_size
from worker.usage import UsageRecorder

MIB = 1024 * 1024


def test_the_walk_counts_what_is_on_disk_and_follows_no_link(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "big").write_bytes(os.urandom(3 * MIB))
    (tmp_path / "sparse").touch()
    os.truncate(tmp_path / "sparse", 10 * 1024 * MIB)  # 10 GiB apparent, nothing written
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "huge").write_bytes(os.urandom(5 * MIB))
    (tmp_path / "link").symlink_to(outside)  # a tenant's link to a host folder is not followed
    size = tree_size(str(tmp_path), max_files=100)
    assert size.complete and size.files == 4
    assert 3 * MIB <= size.bytes < 4 * MIB


def test_the_walk_stops_at_its_file_limit(tmp_path):
    for i in range(50):
        (tmp_path / f"f{i}").touch()
    assert tree_size(str(tmp_path), max_files=10) == TreeSize(0, 10, False)
    assert tree_size(str(tmp_path / "missing"), max_files=10) == TreeSize(0, 0, True)


def test_the_reasons_name_what_was_written_and_what_is_allowed():
    limits = limits_for("cpu-basic", get_settings())
    ok = DiskUse(TreeSize(limits.disk_mb * MIB, 10, True))
    assert over_limit(ok, limits, "cpu-basic") == ""
    big = DiskUse(TreeSize(limits.disk_mb * MIB + 300 * MIB, 10, True))
    assert over_limit(big, limits, "cpu-basic").startswith(
        f"the app wrote {(limits.disk_mb + 300) / 1024:.1f} GiB outside /data; cpu-basic allows {limits.disk_mb / 1024:.1f} GiB")
    many = DiskUse(TreeSize(MIB, limits.files + 1, False))
    assert over_limit(many, limits, "cpu-basic").startswith(f"the app made more than {limits.files:,} files outside /data")
    assert limits_for("cpu-upgrade", get_settings()).disk_mb == 4 * limits.disk_mb


@pytest.fixture
def serving(redis_db: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeBackend, str]]:
    """ann/demo serving one instance (deployed by the real job code)."""
    server = AppServer()
    fake = FakeBackend(server)
    use_backend(monkeypatch, fake)
    monkeypatch.setattr(jobs, "wait_drained", lambda target, timeout: True)
    monkeypatch.setattr(RedisRouteTable, "wait_live", staticmethod(lambda name, target, timeout=15.0: None))
    store.create_space(redis_db, "ann/demo", sdk="gradio")
    build_id = store.create_build(redis_db, "ann/demo", "c0ffee")
    store.update_build(redis_db, build_id, status="SUCCEEDED", image="img:v1", kind="container")
    jobs.deploy_space("ann/demo", build_id)
    (inst,) = fake.of("ann/demo")
    yield fake, inst.id
    server.close()


def sample(r: redis.Redis, fake: FakeBackend) -> dict:
    recorder = UsageRecorder(r, fake, get_settings(), thread=False)
    spaces = store.list_spaces(r)
    recorder.sample(spaces, fake.states())
    return {k: json.loads(v) for k, v in r.hgetall(keys.SPACE_USAGE).items()}


def test_an_app_within_its_limits_has_its_disk_shown_and_keeps_running(redis_db, serving):
    fake, instance = serving
    fake.disk[instance] = DiskUse(TreeSize(40 * MIB, 12, True), TreeSize(2 * MIB, 3, True))
    used = sample(redis_db, fake)["ann/demo"]
    assert (used["disk"], used["disk_files"], used["data"]) == (40 * MIB, 12, 2 * MIB)
    assert store.require_space(redis_db, "ann/demo").stage == Stage.RUNNING.value
    assert fake.of("ann/demo")[0].running


def test_an_app_that_fills_the_disk_outside_data_is_stopped_with_the_reason(redis_db, serving):
    fake, instance = serving
    limit = limits_for("cpu-basic", get_settings()).disk_mb
    fake.disk[instance] = DiskUse(TreeSize((limit + 1024) * MIB, 3, True))
    sample(redis_db, fake)
    space = store.require_space(redis_db, "ann/demo")
    assert space.stage == Stage.RUNTIME_ERROR.value
    assert space.error_message.startswith("stopped: the app wrote") and "(push a fix or restart the Space)" in space.error_message
    assert fake.of("ann/demo") == [] and fake.removed == [instance], "what it wrote is removed with its container"
    route = RedisRouteTable(redis_db).target_of(space_route_name(space.subdomain))
    assert route == get_settings().waker_url, "visitors are told why, by the waker"
    CrashWatcher(redis_db, fake, get_settings()).check(store.list_spaces(redis_db), fake.states())
    assert store.require_space(redis_db, "ann/demo").restart_at == "", "not restarted by itself: it would fill the disk again"


def test_a_paused_space_is_left_alone(redis_db, serving):
    fake, instance = serving
    store.set_stage(redis_db, "ann/demo", Stage.PAUSED)
    fake.disk[instance] = DiskUse(TreeSize(10**12, 3, True))
    sample(redis_db, fake)
    assert store.require_space(redis_db, "ann/demo").stage == Stage.PAUSED.value
    assert fake.removed == [] and fake.of("ann/demo")[0].running, "the pause job stops it, not the disk check"
