"""The route table: which host name Traefik sends where.

Routes are Traefik dynamic configuration in Traefik's own shape (``http.routers.*``,
``http.services.*.loadBalancer.servers``), flattened to keys under ``traefik/`` that Traefik's
Redis provider reads. :class:`RouteTable` is the small interface (modelled on JupyterHub's
``Proxy``); :class:`RedisRouteTable` is the implementation; a route only counts as live once
Traefik's own API reports it (:meth:`RedisRouteTable.wait_live`).

This module is the one writer of routes. A Space's route is written only through
:func:`write_space_route` (where it points), :func:`delete_space_route` and
:func:`set_space_visibility` (whether it asks who is visiting); the reconciler's one call is
:func:`check_routes` (the controller's routes, orphans, and each route's access check). Each
holds the Space's route lock (``keys.route_lock``) while it reads the Space's record and writes its
route, and a visibility change writes the record and the route under that same lock: so no writer
can put back a route from a visibility read before a change (a private Space served publicly).
"""

from __future__ import annotations

import abc
import contextlib
import logging
import time
from typing import Any

import httpx
import redis

from core import keys, store
from core.access import is_private
from core.errors import BackendError
from core.models import Space
from core.replies import maybe_text, maybe_texts, text
from core.settings import get_settings

log = logging.getLogger(__name__)

ENTRYPOINTS = ("web4", "web6")
CONTROLLER_ROUTE = "controller"


def flatten(tree: dict[str, Any] | list[Any], prefix: str = keys.TRAEFIK_ROOT) -> dict[str, str]:
    """Turn nested Traefik configuration into KV pairs (lists become 0, 1, ... segments)."""
    out: dict[str, str] = {}
    items = enumerate(tree) if isinstance(tree, list) else tree.items()
    for key, value in items:
        path = f"{prefix}/{key}"
        if isinstance(value, (dict, list)):
            out.update(flatten(value, path))
        else:
            out[path] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


# The forwardAuth middleware in front of private Spaces (defined with the controller's routes).
AUTH_MIDDLEWARE = "spaces-auth"
MAX_MIDDLEWARES = 4


def route_config(name: str, host: str, target: str, *, root_path: str | None = None, private: bool = False) -> dict[str, Any]:
    """Traefik configuration that sends requests for ``host`` to ``target``.

    ``root_path`` rewrites requests for ``/`` to that path (a static Space whose page is not
    index.html); ``private`` puts the controller's access check in front (Traefik's forwardAuth).
    """
    router: dict[str, Any] = {"rule": f"Host(`{host}`)", "service": name, "entryPoints": list(ENTRYPOINTS)}
    config: dict[str, Any] = {
        "http": {
            "routers": {name: router},
            "services": {name: {"loadBalancer": {"servers": [{"url": target}], "passHostHeader": True}}},
        }
    }
    middlewares = [AUTH_MIDDLEWARE] if private else []
    if root_path:
        middlewares.append(f"{name}-root")
        config["http"]["middlewares"] = {
            f"{name}-root": {"replacePathRegex": {"regex": "^/$", "replacement": root_path}}
        }
    if middlewares:
        router["middlewares"] = middlewares
    return config


class RouteTable(abc.ABC):
    """Where visitors of a host name are sent. Implementations write every abstract method."""

    @abc.abstractmethod
    def add_route(self, name: str, host: str, target: str, *, root_path: str | None = None,
                  private: bool | None = None) -> None:
        """Send requests for ``host`` to ``target`` (replacing any earlier route of ``name``);
        ``private``: only after the access check; None keeps the check the route has now (a caller
        that does not say never drops it). Space routes: use :func:`write_space_route`."""

    @abc.abstractmethod
    def set_private(self, name: str, private: bool) -> None:
        """Put the access check in front of an existing route, or take it away."""

    @abc.abstractmethod
    def is_private(self, name: str) -> bool:
        """True if the route passes the access check first."""

    @abc.abstractmethod
    def delete_route(self, name: str) -> None:
        """Remove the route; a route that is already gone is success."""

    @abc.abstractmethod
    def get_all_routes(self) -> dict[str, dict[str, str]]:
        """``{name: {"host": ..., "target": ...}}`` for every route in the table."""

    def target_of(self, name: str) -> str | None:
        """Where ``name`` sends requests, or None. Default: looked up in :meth:`get_all_routes`."""
        return self.get_all_routes().get(name, {}).get("target")


class RedisRouteTable(RouteTable):
    """Traefik's dynamic configuration in Redis (its Redis provider); a write counts once Traefik's
    own API serves it (:meth:`wait_live`)."""

    def __init__(self, r: redis.Redis) -> None:
        self.r = r

    def _keys_of(self, name: str) -> list[str]:
        found: list[str] = []
        for kind in ("routers", "services"):
            found.extend(self.r.scan_iter(match=f"{keys.TRAEFIK_ROOT}/http/{kind}/{name}/*", count=500))
        found.extend(self.r.scan_iter(match=f"{keys.TRAEFIK_ROOT}/http/middlewares/{name}-root/*", count=500))
        return found

    def add_route(self, name: str, host: str, target: str, *, root_path: str | None = None,
                  private: bool | None = None) -> None:
        if private is None:
            private = self.is_private(name)
        wanted = flatten(route_config(name, host, target, root_path=root_path, private=private))
        stale = [k for k in self._keys_of(name) if k not in wanted]
        with self.r.pipeline(transaction=True) as p:
            if stale:
                p.delete(*stale)
            p.mset(wanted)
            p.execute()

    def _middleware_keys(self, name: str) -> list[str]:
        # A Space's router has at most two middlewares (the access check, the root rewrite): read
        # them by key rather than scanning the keyspace (the reconciler asks for every Space).
        return [f"{keys.TRAEFIK_ROOT}/http/routers/{name}/middlewares/{i}" for i in range(MAX_MIDDLEWARES)]

    def _middlewares(self, name: str) -> list[str]:
        return [m for m in maybe_texts(self.r.mget(self._middleware_keys(name))) if m]

    def is_private(self, name: str) -> bool:
        return AUTH_MIDDLEWARE in self._middlewares(name)

    def set_private(self, name: str, private: bool) -> None:
        if not self.r.exists(f"{keys.TRAEFIK_ROOT}/http/routers/{name}/rule"):
            return  # no route yet: the first deploy writes it with the Space's visibility
        slots = self._middleware_keys(name)
        others = [m for m in self._middlewares(name) if m != AUTH_MIDDLEWARE]
        wanted = ([AUTH_MIDDLEWARE] if private else []) + others
        with self.r.pipeline(transaction=True) as p:
            p.delete(*slots)
            if wanted:
                p.mset(dict(zip(slots, wanted, strict=False)))  # fewer wanted than slots: the rest stay deleted
            p.execute()

    def put_config(self, config: dict[str, Any]) -> None:
        """Write Traefik configuration as it is (routes that need more than host → target)."""
        self.r.mset(flatten(config))

    def delete_route(self, name: str) -> None:
        stale = self._keys_of(name)
        if stale:
            self.r.delete(*stale)

    def target_of(self, name: str) -> str | None:
        return maybe_text(self.r.get(f"{keys.TRAEFIK_ROOT}/http/services/{name}/loadBalancer/servers/0/url"))

    def get_all_routes(self) -> dict[str, dict[str, str]]:
        routes: dict[str, dict[str, str]] = {}
        prefix = f"{keys.TRAEFIK_ROOT}/http/routers/"
        for key in self.r.scan_iter(match=f"{prefix}*/rule", count=500):
            name = text(key)[len(prefix) : -len("/rule")]
            rule = maybe_text(self.r.get(key)) or ""
            host = rule.removeprefix("Host(`").removesuffix("`)")
            target = maybe_text(self.r.get(f"{keys.TRAEFIK_ROOT}/http/services/{name}/loadBalancer/servers/0/url")) or ""
            routes[name] = {"host": host, "target": target}
        return routes

    @staticmethod
    def wait_live(name: str, target: str, *, timeout: float = 15.0) -> float:
        """Block until Traefik's API serves ``name`` with ``target``; returns the seconds it took."""

        def served(client: httpx.Client, api: str) -> bool:
            svc = client.get(f"{api}/api/http/services/{name}@redis")
            router = client.get(f"{api}/api/http/routers/{name}@redis")
            if svc.status_code != 200 or router.status_code != 200:
                return False
            servers = svc.json().get("loadBalancer", {}).get("servers", [])
            return any(s.get("url") == target for s in servers) and router.json().get("status") == "enabled"

        return _wait_for_traefik(served, timeout, f"the route {name}")


def _wait_for_traefik(served, timeout: float, what: str) -> float:
    """Poll Traefik's API until ``served(client, api_url)`` is true; returns the seconds it took."""
    api = get_settings().traefik_api_url
    started = time.monotonic()
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() - started < timeout:
            try:
                if served(client, api):
                    return time.monotonic() - started
            except httpx.HTTPError as exc:
                log.debug("Traefik API not answering yet: %s", exc)
            time.sleep(0.05)
    raise BackendError(f"Traefik did not pick up {what} within {timeout:.0f} s")


def wait_private(name: str, private: bool, *, timeout: float = 10.0) -> None:
    """Block until Traefik serves the router ``name`` with (or without) the access check."""

    def served(client: httpx.Client, api: str) -> bool:
        router = client.get(f"{api}/api/http/routers/{name}@redis")
        if router.status_code == 404:
            return True  # no route (yet): the first deploy writes it with the Space's visibility
        checked = any(m.split("@")[0] == AUTH_MIDDLEWARE for m in router.json().get("middlewares", []))
        return checked == private and router.json().get("status") == "enabled"

    _wait_for_traefik(served, timeout, f"the visibility of {name}")


ROUTE_LOCK_SECONDS = 10.0  # a route write takes milliseconds; a holder that died frees it after this


def space_route_lock(r: redis.Redis, space_id: str) -> contextlib.AbstractContextManager[None]:
    """Hold the Space's route lock: taken by every write of its route and by every visibility change.
    Held for moments only (never while a deploy waits for its app), so a visibility change never
    waits for a deploy, a wake or a restart to finish."""
    return store.short_lock(r, keys.route_lock(space_id), ROUTE_LOCK_SECONDS,
                            f"the route of {space_id} stayed locked for {ROUTE_LOCK_SECONDS:.0f} s; try again")


def write_space_route(r: redis.Redis, space_id: str, target: str, *, root_path: str | None = None,
                      wait: bool = True) -> bool:
    """Point the Space's route at ``target``, with the access check its record asks for at this
    moment (read under the route lock); then, if ``wait``, block until Traefik serves it. Returns
    False, writing nothing, if the Space no longer exists."""
    settings = get_settings()
    with space_route_lock(r, space_id):
        space = store.get_space(r, space_id)
        if space is None:
            log.info("not routing %s: it no longer exists", space_id)
            return False
        name = space_route_name(space.subdomain)
        RedisRouteTable(r).add_route(name, settings.space_host(space.subdomain), target, root_path=root_path,
                                     private=is_private(space))
    if wait:
        RedisRouteTable.wait_live(name, target)
    return True


def set_space_visibility(r: redis.Redis, space_id: str, visibility: str) -> None:
    """Record the Space's new visibility and put its route's access check in place (or take it
    away) under the route lock; then block until Traefik serves the route that way."""
    private = visibility == "private"
    with space_route_lock(r, space_id):
        space = store.require_space(r, space_id)
        store.update_space(r, space_id, visibility=visibility, updated_at=str(store.now()))
        name = space_route_name(space.subdomain)
        RedisRouteTable(r).set_private(name, private)
    wait_private(name, private)


def _privacy_differs(routes: RedisRouteTable, space: Space | None) -> bool:
    if space is None:
        return False
    name = space_route_name(space.subdomain)
    return bool(routes.target_of(name)) and routes.is_private(name) != is_private(space)


def sync_space_privacy(r: redis.Redis, space_id: str) -> bool:
    """Make the route's access check match the Space's record (read under the route lock).
    Returns True if the route had to change. (A first look without the lock: the reconciler asks
    for every Space on every pass, and almost always nothing differs.)"""
    routes = RedisRouteTable(r)
    if not _privacy_differs(routes, store.get_space(r, space_id)):
        return False
    with space_route_lock(r, space_id):
        space = store.get_space(r, space_id)
        if space is None or not _privacy_differs(routes, space):
            return False
        routes.set_private(space_route_name(space.subdomain), is_private(space))
    log.warning("the route of %s did not match its visibility (%s); repaired", space_id, space.visibility)
    return True


def space_route_target(r: redis.Redis, space: Space) -> str | None:
    """Where the Space's route points now (None: it has none)."""
    return RedisRouteTable(r).target_of(space_route_name(space.subdomain))


def check_routes(r: redis.Redis, spaces: list[Space]) -> list[str]:
    """Make the table match what ``spaces`` (every Space's record) want, apart from where each
    Space's route points (that takes its instance: the reconciler's per-Space repair): the
    controller's routes are written, routes of subdomains no Space holds are removed, and each
    Space's access check follows its visibility (read again under its route lock). Returns what
    was repaired, one line each."""
    settings, routes, repaired = get_settings(), RedisRouteTable(r), []
    routes.put_config(controller_config(settings.domain, settings.controller_url))
    for name in routes.get_all_routes():
        label = name.removeprefix(SPACE_ROUTE_PREFIX)
        if name.startswith(SPACE_ROUTE_PREFIX) and not r.exists(keys.subdomain(label)):
            routes.delete_route(name)
            repaired.append(f"removed the orphan route {name}")
    for space in spaces:
        try:
            if sync_space_privacy(r, space.id):
                repaired.append(f"the access check of {space.id} follows its visibility again")
        except BackendError as exc:  # its route lock stayed taken: the next pass
            log.warning("checking the route of %s: %s", space.id, exc.message)
    return repaired


def delete_space_route(r: redis.Redis, space_id: str, subdomain: str) -> None:
    """Remove the Space's route (under the route lock, so no visibility change writes half of it back)."""
    with space_route_lock(r, space_id):
        RedisRouteTable(r).delete_route(space_route_name(subdomain))


def controller_config(host: str, target: str) -> dict[str, Any]:
    """The controller's routes: everything on ``host``, plus one for chunked git pushes.

    git sends packs over 1 MiB with chunked transfer encoding. Relayed as a stream from Traefik to
    the controller, such bodies were intermittently corrupted under load (root cause not found yet;
    reproduced with both of uvicorn's parsers and event loops, never with a direct connection or
    with Traefik buffering the body). So those requests — POSTs to git-receive-pack without a
    Content-Length — go through Traefik's buffering middleware; their push progress then arrives
    when the push ends. Every other request, small pushes included, streams as before.
    """
    config = route_config(CONTROLLER_ROUTE, host, target)
    config["http"]["routers"][f"{CONTROLLER_ROUTE}-bigpush"] = {
        "rule": f"Host(`{host}`) && Method(`POST`) && PathRegexp(`/git-receive-pack$`) && !HeaderRegexp(`Content-Length`, `.+`)",
        "service": CONTROLLER_ROUTE,
        "entryPoints": list(ENTRYPOINTS),
        "middlewares": [f"{CONTROLLER_ROUTE}-buffer"],
        "priority": 1000,
    }
    config["http"]["middlewares"] = {
        f"{CONTROLLER_ROUTE}-buffer": {"buffering": {"memRequestBodyBytes": 8 * 2**20}},
        # Asked before every request to a private Space (see controller.gate). Traefik sets the
        # X-Forwarded-* headers itself from the real request; what a client sends there is not trusted.
        AUTH_MIDDLEWARE: {"forwardAuth": {"address": f"{target}/auth/space", "trustForwardHeader": False,
                                         "maxResponseBodySize": 65536}},
    }
    return config


SPACE_ROUTE_PREFIX = "space-"


def space_route_name(subdomain: str) -> str:
    return f"{SPACE_ROUTE_PREFIX}{subdomain}"


