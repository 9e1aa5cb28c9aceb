"""A worker killed with ``kill -9`` takes its running job with it (so the reconciler's retry is the
only run), and the job's ``finally`` blocks — which remove a build's sandbox container — still run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rq import Queue

from core.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]


def hold(folder: str) -> None:
    """A job that runs until stopped, recording its pid and whether its clean-up ran."""
    Path(folder, "pid").write_text(str(os.getpid()))
    try:
        time.sleep(120)
    finally:
        Path(folder, "cleaned").write_text("yes")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"


def _wait(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_kill_9_of_a_worker_stops_its_running_job(redis_db, tmp_path):
    url = get_settings().redis_url.rsplit("/", 1)[0] + "/15"
    env = {**os.environ, "SPACES_REDIS_URL": url}
    worker = subprocess.Popen([sys.executable, "-m", "core.worker_main", "builds", "9"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    horse = None
    try:
        import redis

        Queue("builds", connection=redis.Redis.from_url(url)).enqueue(
            "tests.unit.test_horse.hold", str(tmp_path), job_timeout=-1)
        assert _wait(lambda: (tmp_path / "pid").is_file(), 30), "the job never started"
        horse = int((tmp_path / "pid").read_text())
        assert horse != worker.pid and _alive(horse)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=5)
        assert _wait(lambda: not _alive(horse), 5), "the job's work horse outlived its worker"
        assert (tmp_path / "cleaned").read_text() == "yes"  # its finally blocks ran
    finally:
        for pid in (worker.pid, horse):
            if pid and _alive(pid):
                os.kill(pid, signal.SIGKILL)
