"""What a waiting ``git push`` prints (controller/git_hook.py ``follow``), read from the records."""

from __future__ import annotations

from controller import git_hook
from core import store
from core.stages import Stage


def test_a_restart_of_the_serving_version_does_not_end_the_pushs_wait(redis_db, capsys):
    """An older build's deploy (the owner restarted the Space) going on while a push builds is not
    a newer push: the push waits for its own build and reports it."""
    store.create_space(redis_db, "ann/demo", sdk="gradio")
    serving = store.create_build(redis_db, "ann/demo", "aaaa")
    pushed = store.create_build(redis_db, "ann/demo", "bbbb")
    store.set_stage(redis_db, "ann/demo", Stage.RUNNING_APP_STARTING, build_id=serving)  # the restart
    store.set_stage(redis_db, "ann/demo", Stage.RUNNING, build_id=serving)
    store.set_stage(redis_db, "ann/demo", Stage.RUNNING_APP_STARTING, build_id=pushed)
    store.set_stage(redis_db, "ann/demo", Stage.RUNNING, build_id=pushed)
    assert git_hook.follow(redis_db, "ann/demo", pushed, "0-0", timeout=10) == 0
    printed = capsys.readouterr().out
    assert "superseded" not in printed and "Your Space is running at" in printed


def test_a_newer_push_ends_the_wait(redis_db, capsys):
    store.create_space(redis_db, "ann/demo", sdk="gradio")
    pushed = store.create_build(redis_db, "ann/demo", "aaaa")
    newer = store.create_build(redis_db, "ann/demo", "bbbb")
    store.set_stage(redis_db, "ann/demo", Stage.RUNNING_APP_STARTING, build_id=newer)
    assert git_hook.follow(redis_db, "ann/demo", pushed, "0-0", timeout=10) == 0
    assert f"superseded by a newer push (build #{newer})" in capsys.readouterr().out
