from __future__ import annotations

import pytest

from core import keys, store
from core.errors import Conflict
from core.stages import Stage


def test_ambiguous_space_ids_get_distinct_subdomains(redis_db):
    first = store.create_space(redis_db, "a-b/c")
    second = store.create_space(redis_db, "a/b-c")
    assert first.subdomain == "a-b-c"
    assert second.subdomain != first.subdomain
    assert second.subdomain.startswith("a-b-c-")
    assert redis_db.get(keys.subdomain(second.subdomain)) == "a/b-c"


def test_creating_a_space_twice_conflicts_and_keeps_the_record(redis_db):
    store.create_space(redis_db, "alice/demo")
    store.set_stage(redis_db, "alice/demo", Stage.RUNNING)
    with pytest.raises(Conflict):
        store.create_space(redis_db, "alice/demo")
    assert store.get_space(redis_db, "alice/demo").stage == "RUNNING"


def test_stage_changes_are_published_and_purge_removes_everything(redis_db):
    store.create_space(redis_db, "alice/demo")
    build = store.create_build(redis_db, "alice/demo", "a" * 40)
    store.append_log(redis_db, build, "line one")
    store.set_stage(redis_db, "alice/demo", Stage.BUILD_ERROR, message="boom", build_id=build)
    events = redis_db.xrange(keys.space_events("alice/demo"))
    assert events[-1][1] == {"stage": "BUILD_ERROR", "message": "boom", "build": build}
    store.purge_space(redis_db, "alice/demo")
    assert [k for k in redis_db.scan_iter("*") if k != keys.BUILD_SEQ] == []


def test_read_log_can_return_just_the_last_lines(redis_db):
    for i in range(30):
        store.append_log(redis_db, "7", f"line {i}")
    assert store.read_log(redis_db, "7", last=3) == ["line 27", "line 28", "line 29"]
    assert len(store.read_log(redis_db, "7")) == 30


def test_writes_to_a_deleted_space_bring_no_record_back(redis_db):
    """A worker that finishes after the Space was deleted (a deploy, the monitor, a reconcile pass)
    writes nothing: before, its one field made a partial record that blocked the name for good."""
    store.create_space(redis_db, "alice/demo")
    store.purge_space(redis_db, "alice/demo")
    assert store.update_space(redis_db, "alice/demo", last_active="1") is False
    assert store.set_stage(redis_db, "alice/demo", Stage.RUNNING, instance="abc") is False
    assert [k for k in redis_db.scan_iter("*") if k != keys.BUILD_SEQ] == []
    assert store.create_space(redis_db, "alice/demo").id == "alice/demo"


def test_a_stage_is_not_written_over_one_that_wins(redis_db):
    store.create_space(redis_db, "alice/demo")
    store.set_stage(redis_db, "alice/demo", Stage.PAUSED)
    assert store.set_stage(redis_db, "alice/demo", Stage.RUNNING, unless=(Stage.PAUSED, Stage.DELETING), instance="x") is False
    record = store.require_space(redis_db, "alice/demo")
    assert record.stage == "PAUSED" and not redis_db.hexists(keys.space("alice/demo"), "instance")
    assert [f["stage"] for _, f in redis_db.xrange(keys.space_events("alice/demo"))] == ["PAUSED"]
    assert store.set_stage(redis_db, "alice/demo", Stage.RUNNING, unless=(Stage.DELETING,)) is True


def test_a_deletion_that_ends_during_a_reconcile_pass_leaves_no_record(redis_db):
    """The pass read the Space (deletion job set), the job then finished and purged it: the pass
    must not queue it again onto a partial record (it crashed the pass and kept the name taken)."""
    from worker.reconcile import resume_abandoned

    store.create_space(redis_db, "alice/demo")
    store.update_space(redis_db, "alice/demo", stage=Stage.DELETING.value, delete_job="finished-job")
    seen = store.require_space(redis_db, "alice/demo")
    store.purge_space(redis_db, "alice/demo")  # the deletion job's last step
    resume_abandoned(redis_db, seen)
    assert store.get_space(redis_db, "alice/demo") is None
    assert store.create_space(redis_db, "alice/demo").id == "alice/demo"


def test_a_build_of_a_deleted_space_is_refused_and_writes_nothing(redis_db):
    from core.errors import NotFound

    store.create_space(redis_db, "alice/demo")
    store.purge_space(redis_db, "alice/demo")
    with pytest.raises(NotFound):
        store.create_build(redis_db, "alice/demo", "a" * 40)
    assert [k for k in redis_db.scan_iter("*") if k != keys.BUILD_SEQ] == []
