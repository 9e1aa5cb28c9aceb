"""A Space's route takes its access check from the Space's record as it is when the route is
written, under the route lock that a visibility change holds too (issue 11, item 5)."""

from __future__ import annotations

import threading
import time

from core import keys, store
from proxy.routes import (
    RedisRouteTable,
    space_route_lock,
    space_route_name,
    sync_space_privacy,
    write_space_route,
)


def new_space(r, space_id: str = "alice/demo") -> str:
    return store.create_space(r, space_id).subdomain


def test_add_route_that_does_not_say_keeps_the_access_check(redis_db):
    table = RedisRouteTable(redis_db)
    table.add_route("space-x", "x.test", "http://127.0.0.1:1", private=True)
    table.add_route("space-x", "x.test", "http://127.0.0.1:2")
    assert table.is_private("space-x") and table.target_of("space-x") == "http://127.0.0.1:2"
    table.add_route("space-x", "x.test", "http://127.0.0.1:3", private=False)
    assert not table.is_private("space-x")


def test_route_follows_the_record_at_the_moment_it_is_written(redis_db):
    label = new_space(redis_db)
    table = RedisRouteTable(redis_db)
    assert write_space_route(redis_db, "alice/demo", "http://127.0.0.1:1", wait=False)
    assert not table.is_private(space_route_name(label))
    redis_db.hset(keys.space("alice/demo"), "visibility", "private")
    assert write_space_route(redis_db, "alice/demo", "http://127.0.0.1:2", wait=False)
    assert table.is_private(space_route_name(label))


def test_a_route_write_waits_for_a_visibility_change_under_way(redis_db):
    label = new_space(redis_db)
    write_space_route(redis_db, "alice/demo", "http://127.0.0.1:1", wait=False)
    locked, released = threading.Event(), threading.Event()

    def change() -> None:  # what the settings endpoint does: record and route under the lock
        with space_route_lock(redis_db, "alice/demo"):
            locked.set()
            redis_db.hset(keys.space("alice/demo"), "visibility", "private")
            time.sleep(0.3)  # a change that takes a while, holding the lock
            RedisRouteTable(redis_db).set_private(space_route_name(label), True)
            released.set()

    changer = threading.Thread(target=change)
    changer.start()
    assert locked.wait(5)
    write_space_route(redis_db, "alice/demo", "http://127.0.0.1:2", wait=False)  # a deploy switching its route
    assert released.is_set(), "the route was written while the visibility change held the lock"
    changer.join()
    table = RedisRouteTable(redis_db)
    assert table.target_of(space_route_name(label)) == "http://127.0.0.1:2"
    assert table.is_private(space_route_name(label))


def test_sync_puts_back_a_check_that_disagrees_with_the_record(redis_db):
    label = new_space(redis_db)
    write_space_route(redis_db, "alice/demo", "http://127.0.0.1:1", wait=False)
    assert sync_space_privacy(redis_db, "alice/demo") is False
    redis_db.hset(keys.space("alice/demo"), "visibility", "private")
    assert sync_space_privacy(redis_db, "alice/demo") is True
    assert RedisRouteTable(redis_db).is_private(space_route_name(label))
    assert sync_space_privacy(redis_db, "alice/demo") is False


def test_no_route_is_written_for_a_space_that_is_gone(redis_db):
    assert write_space_route(redis_db, "alice/gone", "http://127.0.0.1:1", wait=False) is False
    assert RedisRouteTable(redis_db).get_all_routes() == {}
