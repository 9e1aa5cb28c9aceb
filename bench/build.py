"""Build times, in seconds, as the builder records them (``durationSeconds`` of each build):

- cold build: a Gradio Space whose requirements were never built here — pip resolves and
  downloads them in a build sandbox (a throwaway container), the dependencies image is built,
  then the app layer;
- the same requirements in another Space: the dependencies image is reused;
- a code-only change: only the app layer is rebuilt.

Run on a started platform (``make up``): ``.venv/bin/python bench/build.py [--runs N]``.
The cold build picks a release of a small package that is not in the wheel cache yet, so each
run really is cold.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.settings import get_settings
from tests.helpers import WorkTree, api, create_user, output

PACKAGE = "humanize"
VERSIONS = ["4.12.0", "4.11.0", "4.10.0", "4.9.0", "4.8.0", "4.7.0", "4.6.0", "4.5.0", "4.4.0", "4.3.0", "4.2.3", "4.1.0"]


def uncached_version() -> str:
    cache = get_settings().wheel_cache
    for version in VERSIONS:
        if not list(cache.glob(f"{PACKAGE}-{version}-*.whl")):
            return version
    raise SystemExit(f"every listed {PACKAGE} release is already in {cache}; add older ones to VERSIONS")


def build_seconds(space_id: str) -> float:
    builds = api("GET", f"/api/spaces/{space_id}/builds").json()
    return float(builds[0]["durationSeconds"])


def push(tree: WorkTree, owner, name: str) -> float:
    tree.commit(f"bench {time.time_ns()}")
    started = time.monotonic()
    run = tree.push(owner.name, name, owner)
    if "Your Space is running" not in output(run):
        raise RuntimeError(output(run))
    return time.monotonic() - started


def one_run(owner, tmp: Path, index: int) -> tuple[float, float, float]:
    requirements = f"{PACKAGE}=={uncached_version()}\n"
    first = WorkTree(tmp / f"cold{index}")
    first.write("requirements.txt", requirements)
    push(first, owner, f"cold{index}")
    cold = build_seconds(f"{owner.name}/cold{index}")
    second = WorkTree(tmp / f"same{index}")
    second.write("requirements.txt", requirements)
    push(second, owner, f"same{index}")
    same = build_seconds(f"{owner.name}/same{index}")
    app = second.path / "app.py"
    app.write_text(app.read_text().replace("Hello, ", f"Hello #{index}, "))
    push(second, owner, f"same{index}")
    code = build_seconds(f"{owner.name}/same{index}")
    for name in (f"cold{index}", f"same{index}"):
        api("DELETE", f"/api/spaces/{owner.name}/{name}", owner)
    return cold, same, code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    httpx.get(get_settings().public_url(get_settings().domain) + "/healthz", timeout=10).raise_for_status()
    owner = create_user()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            results.append(one_run(owner, Path(tmp), i))
            print(f"run {i + 1}: cold {results[-1][0]:.2f} s, same requirements {results[-1][1]:.2f} s, "
                  f"code-only {results[-1][2]:.2f} s", flush=True)
    cold, same, code = (statistics.median(col) for col in zip(*results, strict=True))
    print()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"cold build (new requirements, resolved in a sandbox):  median {cold:.2f} s")
    print(f"same requirements in another Space:                    median {same:.2f} s")
    print(f"code-only change:                                      median {code:.2f} s")


if __name__ == "__main__":
    main()
