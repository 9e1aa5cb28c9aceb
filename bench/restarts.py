"""How long each platform process is gone after ``kill -9``, on a started platform.

``.venv/bin/python bench/restarts.py [--rounds N]`` kills each supervised process (Redis, Traefik,
the controller, the waker, every builder and run worker, the reconciler, the monitor) N times, one
at a time, and prints, per process, the median and worst time from the kill until it answers again
(Redis a PING, Traefik and the controller /healthz through Traefik, the waker its own 404, a worker
registered in RQ with its new pid, the others a new running process).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.helpers import eventually
from tests.integration.test_supervision import SUP, answers, services


def once(name: str) -> float:
    old = int(SUP.state(name)["pid"])
    os.kill(old, signal.SIGKILL)
    started = time.monotonic()
    if not eventually(lambda: answers(name, old), 30, every=0.02):
        raise SystemExit(f"{name} was not back within 30 s")
    took = time.monotonic() - started
    eventually(lambda: SUP.state(name)["statename"] == "RUNNING", 10)  # settled before the next kill
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    report(parser.parse_args().rounds)


def report(rounds: int) -> None:
    print(f"{'process':12} {'median':>8} {'worst':>8}   (seconds from kill -9 to answering, {rounds} rounds)")
    for name in services():
        times = [once(name) for _ in range(rounds)]
        print(f"{name:12} {statistics.median(times):8.2f} {max(times):8.2f}", flush=True)


if __name__ == "__main__":
    main()
