"""What the access check of a private Space costs, through the real Traefik, on a started platform.

``.venv/bin/python bench/auth_hop.py [--requests N]`` pushes a static Space, then times N
sequential GETs (one kept-alive connection) of its page while it is public (no auth hop), private
with a bearer token, and private with a browser's Space cookie (after a real sign-in), and prints
the median and 95th percentile of each and the added median. It deletes its Space afterwards.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.helpers import WorkTree, api, base_url, create_user, output, set_password, space_url

PASSWORD = "benchmark password 1"


def timed(client: httpx.Client, url: str, runs: int) -> list[float]:
    for _ in range(50):  # warm up: connection, caches
        client.get(url).raise_for_status()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
    return times


def signed_in_client(url: str, user) -> httpx.Client:
    client = httpx.Client(follow_redirects=True, timeout=30, headers={"Accept": "text/html"})
    form = client.get(url)
    fields = dict(re.findall(r'name="(csrf|next)" value="([^"]*)"', form.text))
    landed = client.post(f"{base_url()}/login", headers={"Origin": base_url()}, data={
        "csrf": fields["csrf"], "next": fields["next"].replace("&amp;", "&"), "username": user.name, "password": PASSWORD})
    if str(landed.url) != url:
        raise RuntimeError(f"sign-in ended at {landed.url}")
    client.follow_redirects = False
    return client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    owner = create_user()
    set_password(owner, PASSWORD)
    tree = WorkTree(Path(tempfile.mkdtemp(prefix="bench-auth-")) / "repo", example=None)
    tree.write("README.md", "---\ntitle: auth hop\nsdk: static\n---\n")
    tree.write("index.html", "<h1>hello</h1>\n")
    tree.commit("static page")
    run = tree.push(owner.name, "authhop", owner)
    if run.returncode != 0:
        raise RuntimeError(output(run))
    space_id = f"{owner.name}/authhop"
    url = space_url(api("GET", f"/api/spaces/{space_id}", owner).json()["subdomain"])
    try:
        with httpx.Client(timeout=30) as client:
            public = timed(client, url, args.requests)
        api("PUT", f"/api/spaces/{space_id}/settings", owner, json={"private": True}).raise_for_status()
        with httpx.Client(timeout=30, headers=owner.headers) as client:
            token = timed(client, url, args.requests)
        client = signed_in_client(url, owner)
        try:
            cookie = timed(client, url, args.requests)
        finally:
            client.close()
    finally:
        api("DELETE", f"/api/spaces/{space_id}", owner)
    print(f"machine: {platform.machine()}, {len(os.sched_getaffinity(0))} cores, {platform.freedesktop_os_release().get('PRETTY_NAME', '')}")
    print(f"{args.requests} sequential GETs of a static Space's page through Traefik, one connection:")
    base = statistics.median(public)
    for label, times in (("public (no auth hop)", public), ("private, bearer token", token), ("private, browser cookie", cookie)):
        p50, p95 = statistics.median(times), statistics.quantiles(times, n=20)[18]
        extra = "" if times is public else f"   added p50 {1000 * (p50 - base):+.2f} ms"
        print(f"  {label:26} p50 {1000 * p50:6.2f} ms   p95 {1000 * p95:6.2f} ms{extra}")


if __name__ == "__main__":
    main()
