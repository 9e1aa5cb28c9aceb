"""Traefik's static configuration, written atomically into the data directory.

Entry points: ``web4`` (127.0.0.1) and ``web6`` ([::1]) on the public port, and ``traefik`` on
127.0.0.1 for Traefik's API, ping and Prometheus metrics. Routes come from Redis (see
:mod:`proxy.routes`); the provider throttle is lowered so that a route written is served in
about a tenth of a second. ``python -m proxy.traefik`` writes the file and prints its path.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import defaultdict
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx
import yaml

from core import keys
from core.settings import Settings, get_settings


def static_config(settings: Settings) -> dict:
    redis_url = urlparse(settings.redis_url)
    db = int((redis_url.path or "/0").lstrip("/") or 0)
    return {
        "entryPoints": {
            # Headers whose names alias another (X_Forwarded_Host, X.Forwarded.Host) are dropped:
            # apps that map names CGI-style would read them as the X-Forwarded-* Traefik sets.
            "web4": {"address": f"127.0.0.1:{settings.http_port}", "http": {"aliasHeadersStrategy": "delete"}},
            "web6": {"address": f"[::1]:{settings.http_port}", "http": {"aliasHeadersStrategy": "delete"}},
            "traefik": {"address": f"127.0.0.1:{settings.traefik_api_port}", "http": {"aliasHeadersStrategy": "delete"}},
        },
        "api": {"insecure": True, "dashboard": False},
        "ping": {"entryPoint": "traefik"},
        "metrics": {"prometheus": {"entryPoint": "traefik", "addServicesLabels": True}},
        "providers": {
            "providersThrottleDuration": "50ms",
            "redis": {
                "endpoints": [f"{redis_url.hostname}:{redis_url.port or 6379}"],
                "rootKey": keys.TRAEFIK_ROOT,
                "db": db,
                **({"password": unquote(redis_url.password)} if redis_url.password else {}),
            },
        },
        # Idle keep-alive connections to Spaces close after 2 s, so that an open connection to a
        # Space means a request, stream or websocket in progress (what keeps it awake).
        "serversTransport": {"forwardingTimeouts": {"idleConnTimeout": "2s"}},
        "log": {"level": "INFO"},
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
    }


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def write_static_config(settings: Settings | None = None) -> Path:
    settings = settings or get_settings()
    path = settings.data_dir / "traefik" / "traefik.yml"
    write_atomic(path, yaml.safe_dump(static_config(settings), sort_keys=False))  # 0600: holds the Redis password
    return path



REQUESTS_LINE = re.compile(r'^traefik_service_requests_total\{[^}]*service="([^"]+)"[^}]*\}\s+(\S+)', re.M)


def requests_by_service(settings: Settings) -> dict[str, float]:
    """Requests Traefik has answered per service (``space-x@redis``) since it started."""
    text = httpx.get(f"{settings.traefik_api_url}/metrics", timeout=5).text
    totals: dict[str, float] = defaultdict(float)
    for service, value in REQUESTS_LINE.findall(text):
        totals[service] += float(value)
    return totals


if __name__ == "__main__":
    print(write_static_config())
