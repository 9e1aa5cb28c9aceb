from __future__ import annotations

from proxy.routes import RedisRouteTable, flatten, route_config


def test_route_config_flattens_to_traefik_kv_keys():
    flat = flatten(route_config("space-a-b", "a-b.example.test", "http://127.0.0.1:4000"))
    assert flat == {
        "traefik/http/routers/space-a-b/rule": "Host(`a-b.example.test`)",
        "traefik/http/routers/space-a-b/service": "space-a-b",
        "traefik/http/routers/space-a-b/entryPoints/0": "web4",
        "traefik/http/routers/space-a-b/entryPoints/1": "web6",
        "traefik/http/services/space-a-b/loadBalancer/servers/0/url": "http://127.0.0.1:4000",
        "traefik/http/services/space-a-b/loadBalancer/passHostHeader": "true",
    }


def test_route_table_add_replace_delete(redis_db):
    table = RedisRouteTable(redis_db)
    table.add_route("space-x", "x.test", "http://127.0.0.1:1")
    table.add_route("space-x", "x.test", "http://127.0.0.1:2")
    assert table.get_all_routes() == {"space-x": {"host": "x.test", "target": "http://127.0.0.1:2"}}
    table.delete_route("space-x")
    table.delete_route("space-x")  # already gone is fine
    assert table.get_all_routes() == {}
    assert list(redis_db.scan_iter("traefik/*")) == []


def test_target_of_reads_one_route(redis_db):
    table = RedisRouteTable(redis_db)
    table.add_route("space-y", "y.test", "http://127.0.0.1:3")
    assert table.target_of("space-y") == "http://127.0.0.1:3"
    assert table.target_of("space-missing") is None
