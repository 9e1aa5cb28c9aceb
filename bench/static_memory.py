"""Memory per static Space: push N static Spaces and read the shared static server's memory.

Run on a started platform (``make up``): ``.venv/bin/python bench/static_memory.py [--spaces N]``.
Static Spaces run no process of their own; all of them are served by one nginx container, so the
cost per Space is that container's memory divided by the number of Spaces it serves. For scale it
also prints the memory of one idle Gradio Space (the example, if it runs).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import docker
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.names import STATIC_SERVER_NAME
from tests.helpers import WorkTree, api, create_user, output, space_url


def memory_mib(container) -> float:
    stats = container.stats(stream=False)["memory_stats"]
    usage = stats.get("usage", 0) - stats.get("stats", {}).get("cache", 0)
    return usage / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spaces", type=int, default=20)
    args = parser.parse_args()
    owner = create_user()
    names = [f"static{i}" for i in range(args.spaces)]
    client = docker.from_env()
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            tree = WorkTree(Path(tmp) / name, example="hello-static")
            tree.commit(name)
            run = tree.push(owner.name, name, owner)
            if "Your Space is running" not in output(run):
                raise RuntimeError(output(run))
    for name in names:  # one visit each, so every site has been served
        url = space_url(api("GET", f"/api/spaces/{owner.name}/{name}").json()["subdomain"])
        httpx.get(url, timeout=10).raise_for_status()
    time.sleep(1)
    server = memory_mib(client.containers.get(STATIC_SERVER_NAME))
    print(f"static server serving {args.spaces} static Spaces (and any others): {server:.1f} MiB in all")
    print(f"memory per static Space: {server / args.spaces:.2f} MiB (no process per Space)")
    gradio = client.containers.list(filters={"label": "org.spaces.space=demo/hello-gradio"})
    if gradio:
        print(f"for scale, one idle Gradio Space (demo/hello-gradio): {memory_mib(gradio[0]):.1f} MiB")
    for name in names:
        api("DELETE", f"/api/spaces/{owner.name}/{name}", owner)


if __name__ == "__main__":
    main()
