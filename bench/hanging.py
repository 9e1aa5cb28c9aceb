"""How long another owner's deploy waits behind apps that never answer, on a started platform.

``.venv/bin/python bench/hanging.py [--rounds N]`` times, N times each, the push of a small static
Space (push to "running", as its owner sees it) on an otherwise idle platform, then again while
``--apps`` (2) Gradio-SDK apps of another user, deployed just before, accept connections and never answer
(startup_duration_timeout 2 min each; before deploys waited in slices, they held both run workers
for those 2 minutes). It prints the medians and their ratio. Every Space it makes is deleted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.helpers import User, WorkTree, api, create_user, delete_spaces_of, output, wait_stage
from tests.integration.test_crashes import hanging_app


def static_push(owner: User, name: str, folder: Path) -> float:
    site = WorkTree(folder / name, example=None)
    site.write("README.md", "---\ntitle: site\nsdk: static\n---\n")
    site.write("index.html", f"<p>{name}</p>")
    site.commit("static")
    started = time.monotonic()
    run = site.push(owner.name, name, owner)
    took = time.monotonic() - started
    if run.returncode != 0 or "Your Space is running at" not in output(run):
        raise SystemExit(f"the static push failed: {output(run)}")
    return took


def start_hanging(owner: User, folder: Path, round_no: int, apps: int) -> list[str]:
    tree = hanging_app(WorkTree(folder / f"hangs-{round_no}"))
    names = [f"{owner.name}/hang-{round_no}-{i}" for i in range(1, apps + 1)]
    for space_id in names:
        if tree.push(*space_id.split("/"), owner, "-o", "nowait").returncode != 0:
            raise SystemExit(f"pushing {space_id} failed")
    for space_id in names:
        wait_stage(space_id, {"APP_STARTING"}, timeout=120)
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--apps", type=int, default=2, help="hanging apps of one owner in each round")
    args = parser.parse_args()
    report(args.rounds, args.apps)


def report(rounds: int, apps: int = 2) -> None:
    owner, attacker = create_user(), create_user()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            alone = [static_push(owner, f"alone-{i}", folder) for i in range(rounds)]
            behind = []
            for i in range(rounds):
                hanging = start_hanging(attacker, folder, i, apps)
                behind.append(static_push(owner, f"behind-{i}", folder))
                for space_id in hanging:
                    api("DELETE", f"/api/spaces/{space_id}", attacker)
    finally:
        delete_spaces_of(owner)
        delete_spaces_of(attacker)
    a, b = statistics.median(alone), statistics.median(behind)
    print(f"static Space, push to running, {rounds} rounds each:")
    print(f"  platform idle:                      median {a:.2f} s, worst {max(alone):.2f} s")
    print(f"  behind {apps} apps of one owner that never answer:  median {b:.2f} s, worst {max(behind):.2f} s  ({b / a:.2f}x)")


if __name__ == "__main__":
    main()
