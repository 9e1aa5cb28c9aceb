"""Platform metrics kept in Redis, rendered in Prometheus' text format by the controller.

Counters and histograms are Redis hashes (one per metric and label set), so every process —
builders, run workers, the waker — adds to the same figures and they survive restarts:

- ``spaces_builds_total{result}`` and ``spaces_build_duration_seconds`` (histogram)
- ``spaces_deploys_total{result}`` and ``spaces_app_start_seconds`` (histogram)
- ``spaces_wakes_total{tier}`` and ``spaces_wake_duration_seconds{tier}`` (histogram)

Gauges read at scrape time (Spaces per stage, requests per Space from Traefik) are added by the
controller (:mod:`controller.metrics`).
"""

from __future__ import annotations

import redis

from core import keys
from core.replies import hash_fields

BUILD_BUCKETS = (1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
START_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
WAKE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

HELP = {
    "spaces_builds_total": ("counter", "Builds that ended, by result (succeeded, failed, superseded)."),
    "spaces_build_duration_seconds": ("histogram", "Time from build start to image ready or failure."),
    "spaces_deploys_total": ("counter", "Deploys that ended, by result (running, failed)."),
    "spaces_app_start_seconds": ("histogram", "Time from container start until the app answered HTTP."),
    "spaces_wakes_total": ("counter", "Sleeping Spaces woken by a visit, by the tier they slept in."),
    "spaces_wake_duration_seconds": ("histogram", "Time to wake a Space, by the tier it slept in."),
}


def _labels(labels: dict[str, str]) -> str:
    return ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))


def inc(r: redis.Redis, name: str, **labels: str) -> None:
    r.hincrbyfloat(keys.metric(name), _labels(labels), 1)


def observe(r: redis.Redis, name: str, value: float, buckets: tuple[float, ...], **labels: str) -> None:
    """Add one observation to a histogram."""
    key, base = keys.metric(name), _labels(labels)
    p = r.pipeline(transaction=False)
    for bound in buckets:
        if value <= bound:
            p.hincrbyfloat(key, f"bucket|{bound:g}|{base}", 1)
    p.hincrbyfloat(key, f"bucket|+Inf|{base}", 1)
    p.hincrbyfloat(key, f"count|{base}", 1)
    p.hincrbyfloat(key, f"sum|{base}", value)
    p.execute()


def render(r: redis.Redis, buckets_of: dict[str, tuple[float, ...]] | None = None) -> list[str]:
    """Prometheus text lines for every counter and histogram recorded so far."""
    buckets_of = buckets_of or {
        "spaces_build_duration_seconds": BUILD_BUCKETS, "spaces_app_start_seconds": START_BUCKETS,
        "spaces_wake_duration_seconds": WAKE_BUCKETS,
    }
    lines: list[str] = []
    for name, (kind, text) in HELP.items():
        values = hash_fields(r.hgetall(keys.metric(name)))
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        if kind == "counter":
            lines += [f"{name}{{{labels}}} {float(v):g}" if labels else f"{name} {float(v):g}" for labels, v in sorted(values.items())]
            continue
        label_sets = sorted({field.split("|", 2)[2] if field.startswith("bucket|") else field.split("|", 1)[1]
                             for field in values})
        for base in label_sets:
            sep = "," if base else ""
            for bound in [*(f"{b:g}" for b in buckets_of[name]), "+Inf"]:
                count = float(values.get(f"bucket|{bound}|{base}", 0))
                lines.append(f'{name}_bucket{{{base}{sep}le="{bound}"}} {count:g}')
            suffix = f"{{{base}}}" if base else ""
            lines.append(f"{name}_count{suffix} {float(values.get(f'count|{base}', 0)):g}")
            lines.append(f"{name}_sum{suffix} {float(values.get(f'sum|{base}', 0)):g}")
    return lines
