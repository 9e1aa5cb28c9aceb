"""Seconds from ``git push`` to the Space answering through Traefik: a new Space, and a code-only change.

Run on a started platform (``make up``): ``.venv/bin/python bench/push_to_url.py [--runs N]``.
Each run pushes a copy of examples/hello-gradio as a new Space of a fresh user, then changes one
line of app.py and pushes again; the clock stops when the page served at the Space's subdomain
shows the pushed version. It prints every run and the median, plus where the time went.
"""

from __future__ import annotations

import argparse
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.helpers import WorkTree, api, create_user, output, space_url


def wait_for_marker(url: str, marker: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=5)
            if response.status_code == 200 and marker in response.text:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} never showed {marker!r}")


def set_marker(tree: WorkTree, marker: str) -> None:
    app = tree.path / "app.py"
    text = re.sub(r'title="[^"]*", ', "", app.read_text())
    app.write_text(text.replace("gr.Interface(fn=greet,", f'gr.Interface(fn=greet, title="{marker}",'))


def timed_push(tree: WorkTree, owner, name: str, marker: str) -> tuple[float, str]:
    set_marker(tree, marker)
    tree.commit(marker)
    started = time.monotonic()
    run = tree.push(owner.name, name, owner)
    if run.returncode != 0 or "Your Space is running" not in output(run):
        raise RuntimeError(f"push failed:\n{output(run)}")
    url = space_url(api("GET", f"/api/spaces/{owner.name}/{name}").json()["subdomain"])
    wait_for_marker(url, marker)
    return time.monotonic() - started, output(run)


def phase(text: str, pattern: str) -> float | None:
    found = re.search(pattern, text)
    return float(found.group(1)) if found else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    owner = create_user()
    new_times, change_times, builds, starts = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            name = f"bench{i}"
            tree = WorkTree(Path(tmp) / name)
            seconds, _ = timed_push(tree, owner, name, f"bench-v1-{i}")
            new_times.append(seconds)
            seconds, text = timed_push(tree, owner, name, f"bench-v2-{i}")
            change_times.append(seconds)
            builds.append(phase(text, r"app layer built in ([\d.]+) s"))
            starts.append(phase(text, r"app answered HTTP ([\d.]+) s after start"))
            print(f"run {i + 1}: new Space {new_times[-1]:.2f} s, code-only change {change_times[-1]:.2f} s "
                  f"(image build {builds[-1]} s, app start {starts[-1]} s)", flush=True)
            api("DELETE", f"/api/spaces/{owner.name}/{name}", owner)
    print()
    print(f"machine: {platform.machine()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}")
    print(f"git push -> Space answering, new Space (base images present): median {statistics.median(new_times):.2f} s")
    print(f"git push -> Space answering, code-only change:                median {statistics.median(change_times):.2f} s")
    print(f"  of which code-only image build: median {statistics.median(b for b in builds if b is not None):.2f} s; "
          f"app start until HTTP answers: median {statistics.median(s for s in starts if s is not None):.2f} s")


if __name__ == "__main__":
    main()
