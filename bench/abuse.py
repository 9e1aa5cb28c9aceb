"""What one hostile user can do to everyone else's latency, on a started platform (issue 17).

``.venv/bin/python bench/abuse.py [--seconds S] [--rounds N] [--flood-only]`` prints:

1. The controller's p50/p95 (``/healthz``) and another tenant's Space's p50/p95 (the example Space
   ``demo/hello-gradio``, through Traefik), idle and while 4 unauthenticated clients flood
   ``POST /api/validate-yaml`` for S seconds with the worst bodies the limits let through: a
   330-byte alias bomb, front matter at its 64 KiB limit, and a body at ``SPACES_MAX_API_BODY_KB``.
   Also how many flood requests were answered and their p95.
2. How long another owner's deploy waits behind two apps that never answer (``bench/hanging.py``).
3. How long each platform process is gone after ``kill -9`` (``bench/restarts.py``).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import hanging, restarts
from core.settings import get_settings
from tests.helpers import base_url, space_url
from tests.integration.test_abuse_config import alias_bomb

EXAMPLE_SUBDOMAIN = "demo-hello-gradio"


def bodies() -> list[str]:
    """The flood's READMEs, each as large or as costly as the limits allow."""
    values = "\n".join(f"k{i}: {'v' * 50}" for i in range(1150))  # about 64 KiB of front matter
    at_limit = "---\nsdk: static\n---\n" + "x" * (get_settings().max_api_body_kb * 1024 - 200)
    return [alias_bomb(), f"---\nsdk: static\n{values}\n---\n", at_limit]


def percentiles(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"p50 {statistics.median(ordered) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms"


def timed(client: httpx.Client, url: str, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.monotonic()
        answer = client.get(url)
        if answer.status_code != 200:
            raise SystemExit(f"{url} answered {answer.status_code}")
        times.append(time.monotonic() - started)
    return times


def flood(seconds: float) -> None:
    health, space = base_url() + "/healthz", space_url(EXAMPLE_SUBDOMAIN)
    with httpx.Client(timeout=60) as client:
        idle_health, idle_space = timed(client, health, 200), timed(client, space, 200)
        stop, answered = threading.Event(), []

        def bomber(offset: int) -> None:
            with httpx.Client(timeout=60) as own:
                for content in itertools.islice(itertools.cycle(bodies()), offset, None):
                    if stop.is_set():
                        return
                    started = time.monotonic()
                    status = own.post(base_url() + "/api/validate-yaml", json={"content": content}).status_code
                    answered.append((status, time.monotonic() - started))

        threads = [threading.Thread(target=bomber, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        deadline, busy_health, busy_space = time.monotonic() + seconds, [], []
        while time.monotonic() < deadline:
            busy_health += timed(client, health, 1)
            busy_space += timed(client, space, 1)
        stop.set()
        for thread in threads:
            thread.join()
    print(f"controller /healthz, idle:               {percentiles(idle_health)}")
    print(f"controller /healthz, during the flood:   {percentiles(busy_health)}")
    print(f"another tenant's Space, idle:            {percentiles(idle_space)}")
    print(f"another tenant's Space, during:          {percentiles(busy_space)}")
    statuses = sorted({status for status, _ in answered})
    print(f"flood: {len(answered)} validate-yaml requests in {seconds:.0f} s from 4 clients (answers {statuses}), "
          f"{percentiles([t for _, t in answered])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--flood-only", action="store_true")
    args = parser.parse_args()
    flood(args.seconds)
    if not args.flood_only:
        print()
        hanging.report(args.rounds)
        print()
        restarts.report(args.rounds)


if __name__ == "__main__":
    main()
