"""Runtime lifecycle figures, through the real Traefik, on a started platform (``make up``).

``.venv/bin/python bench/lifecycle.py`` prints:

- failed requests and worst latency over 3 redeploys under ~20 requests/s;
- wake from the paused tier and from the stopped tier (time to the first byte of the answer),
  next to the app's own start time;
- throughput and median latency through Traefik versus straight to the container, for a tiny
  HTTP/1.0 app (a new connection per request behind Traefik) and for a Gradio Space, with ``wrk``
  as the load generator;
- the time from a route written in Redis to Traefik serving it.

It makes its own user and Spaces and deletes them afterwards.
"""

from __future__ import annotations

import argparse
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import store
from core.settings import get_settings
from proxy.routes import RedisRouteTable
from tests.helpers import WorkTree, api, create_user, output, space_url
from tests.integration.test_redeploy import APP, Load
from tests.integration.test_sleep import wait_status


def first_byte(url: str) -> float:
    started = time.monotonic()
    with httpx.stream("GET", url, timeout=120) as response:
        next(response.iter_raw(), None)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
    return time.monotonic() - started


def push(owner, name: str, files: dict[str, str], example: str = "hello-gradio") -> tuple[WorkTree, str]:
    tree = WorkTree(Path(tempfile.mkdtemp(prefix="bench-life-")) / name, example=example)
    for path, content in files.items():
        tree.write(path, content)
    tree.commit(name)
    run = tree.push(owner.name, name, owner)
    if run.returncode != 0:
        raise RuntimeError(output(run))
    return tree, space_url(api("GET", f"/api/spaces/{owner.name}/{name}").json()["subdomain"])


def redeploys(owner) -> None:
    tree, url = push(owner, "steady", {"app.py": APP.format(version="v0")})
    with Load(url) as load:
        for version in ("v1", "v2", "v3"):
            tree.write("app.py", APP.format(version=version))
            tree.commit(version)
            run = tree.push(owner.name, "steady", owner)
            if run.returncode != 0:
                raise RuntimeError(output(run))
        time.sleep(1)
    latencies = load.latencies
    print(f"redeploys: 3 under ~20 req/s: {len(load.failures)} failed of {load.ok + len(load.failures)} requests; "
          f"worst latency {max(latencies) * 1000:.0f} ms, median {statistics.median(latencies) * 1000:.1f} ms")


def wakes(owner, runs: int) -> None:
    _, url = push(owner, "sleepy", {})
    space_id = f"{owner.name}/sleepy"
    build_log = api("GET", f"/api/spaces/{space_id}/logs/build").text
    app_start = float(build_log.split("app answered HTTP ")[1].split(" s")[0])
    paused, stopped = [], []
    for _ in range(runs):
        api("POST", f"/api/spaces/{space_id}/sleeptime", owner, json={"seconds": 1})
        wait_status(space_id, "paused")
        api("POST", f"/api/spaces/{space_id}/sleeptime", owner, json={"seconds": -1})
        paused.append(first_byte(url))
        api("POST", f"/api/spaces/{space_id}/sleeptime", owner, json={"seconds": 1})
        wait_status(space_id, "exited")
        api("POST", f"/api/spaces/{space_id}/sleeptime", owner, json={"seconds": -1})
        stopped.append(first_byte(url))
    print(f"wake from paused (first byte, {runs} runs): median {statistics.median(paused) * 1000:.0f} ms, "
          f"worst {max(paused) * 1000:.0f} ms")
    print(f"wake from stopped (first byte, {runs} runs): median {statistics.median(stopped):.2f} s, "
          f"worst {max(stopped):.2f} s; the app's own start at deploy: {app_start:.1f} s")


WRK = shutil.which("wrk")


def hammer(host: str, port: int, host_header: str, seconds: float, connections: int) -> tuple[float, float]:
    """Requests per second and median latency from ``wrk`` (one thread, ``connections`` keep-alive
    connections). A load generator in C: a Python one needs a core of its own on a 2-core machine,
    which then measures the client more than the proxy."""
    run = subprocess.run([WRK, "-t1", f"-c{connections}", f"-d{seconds:.0f}s", "--latency", "-H", f"Host: {host_header}",
                          f"http://{host}:{port}/"], capture_output=True, text=True, check=True)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", run.stdout).group(1))
    value, unit = re.search(r"50%\s+([\d.]+)(us|ms|s)", run.stdout).groups()
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*", run.stdout)
    if errors:
        raise SystemExit(f"wrk saw failures:\n{run.stdout}")
    return rps, float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[unit]


def throughput(owner, name: str, what: str, seconds: float) -> None:
    space_id = f"{owner.name}/{name}"
    httpx.get(space_url(store.get_redis().hget(f"spaces:space:{space_id}", "subdomain")), timeout=120)  # awake
    target = store.get_redis().hget(f"spaces:space:{space_id}", "target")
    direct = urlparse(target)
    host = f"{store.get_redis().hget(f'spaces:space:{space_id}', 'subdomain')}.{get_settings().domain}"
    via, straight = [], []
    for _ in range(3):  # alternate, so that both sides see the same background noise
        via.append(hammer("127.0.0.1", get_settings().http_port, host, seconds, 4))
        straight.append(hammer(direct.hostname, direct.port, host, seconds, 4))
    via_rps, via_p50 = statistics.median(v[0] for v in via), statistics.median(v[1] for v in via)
    direct_rps, direct_p50 = statistics.median(v[0] for v in straight), statistics.median(v[1] for v in straight)
    print(f"throughput, {what} (wrk, 4 keep-alive connections, 3 alternating rounds of {seconds:.0f} s, medians): through Traefik "
          f"{via_rps:.0f} req/s, p50 {via_p50 * 1000:.2f} ms; straight to the container's published port "
          f"{direct_rps:.0f} req/s, p50 {direct_p50 * 1000:.2f} ms ({via_rps / direct_rps * 100:.0f}% of direct)")


def route_latency(runs: int) -> None:
    settings = get_settings()
    table = RedisRouteTable(store.get_redis())
    took = []
    for i in range(runs):
        name, host = f"bench-route-{i}", f"bench-route-{i}-{time.time_ns()}.{settings.domain}"
        started = time.monotonic()
        table.add_route(name, host, settings.controller_url)
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{settings.http_port}/healthz", headers={"Host": host}, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.005)
        took.append(time.monotonic() - started)
        table.delete_route(name)
    print(f"route written → served through Traefik ({runs} runs): median {statistics.median(took) * 1000:.0f} ms, "
          f"worst {max(took) * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    if WRK is None:
        raise SystemExit("error: wrk is not installed (the load generator; `make up` installs it, or apt-get install wrk)")
    print(f"machine: {platform.machine()}, {platform.platform()}")
    owner = create_user()
    try:
        redeploys(owner)
        throughput(owner, "steady", "tiny Python HTTP/1.0 app", args.seconds)
        wakes(owner, args.runs)
        throughput(owner, "sleepy", "hello-gradio (uvicorn)", args.seconds)
        route_latency(args.runs * 2)
    finally:
        for name in ("steady", "sleepy"):
            api("DELETE", f"/api/spaces/{owner.name}/{name}", owner)


if __name__ == "__main__":
    main()
