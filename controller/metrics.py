"""``GET /metrics``: the platform's figures in Prometheus' text format (admins only: it names
every Space). Counters and histograms come from :mod:`core.metrics`; Spaces per stage and
requests per Space (taken from Traefik's own counters) are read at scrape time."""

from __future__ import annotations

import logging
from collections import Counter

import httpx
from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from controller.deps import CurrentUser, StoreDep
from controller.errors import NON_JSON_ERROR_RESPONSES
from core import keys, metrics, store
from core.errors import Forbidden
from core.replies import maybe_text
from core.settings import get_settings
from core.stages import Stage
from proxy.routes import SPACE_ROUTE_PREFIX
from proxy.traefik import requests_by_service

log = logging.getLogger(__name__)
router = APIRouter()


@router.get("/metrics", response_class=PlainTextResponse, responses=NON_JSON_ERROR_RESPONSES)
def prometheus_metrics(r: StoreDep, caller: CurrentUser) -> PlainTextResponse:
    if caller.role != "admin":
        raise Forbidden("/metrics is for the platform's admins")
    lines = metrics.render(r)
    stages = Counter(space.stage for space in store.list_spaces(r))
    lines += ["# HELP spaces_spaces Spaces by stage.", "# TYPE spaces_spaces gauge"]
    lines += [f'spaces_spaces{{stage="{stage.value}"}} {stages.get(stage, 0)}' for stage in Stage]
    lines += ["# HELP spaces_space_requests_total Requests Traefik answered for each Space since it started.",
              "# TYPE spaces_space_requests_total counter"]
    try:
        counts = requests_by_service(get_settings())
    except httpx.HTTPError as exc:
        log.warning("Traefik's metrics are unreachable: %s", exc)
        counts = {}
    for service, total in sorted(counts.items()):
        label = service.removesuffix("@redis").removeprefix(SPACE_ROUTE_PREFIX)
        if not service.startswith(SPACE_ROUTE_PREFIX):
            continue
        space_id = maybe_text(r.get(keys.subdomain(label)))
        if space_id:
            lines.append(f'spaces_space_requests_total{{space="{space_id}"}} {total:g}')
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")
