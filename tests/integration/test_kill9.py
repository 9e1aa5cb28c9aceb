"""``kill -9`` of the platform's own processes: Spaces keep serving through Traefik while they
are gone, and the next ``make up`` repairs whatever they left half done.

supervisord would start the killed processes again within a second (tests/integration/
test_supervision.py); here it is held still (SIGSTOP) while they are gone, so that the platform is
seen without them, as after a crash of the supervisor itself."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import docker
import docker.errors
import httpx
import pytest

from core.settings import get_settings
from tests.helpers import ROOT, api, eventually, output, runtime, space_url, wait_stage
from tests.integration.test_redeploy import APP, Load

RUN_DIR = get_settings().data_dir / "run"
PLATFORM = ("controller", "waker", "reconciler", "monitor")


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (an RQ worker runs each job in a forked child, in its own session)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill9(names) -> list[str]:
    """SIGKILL each service with every process it started, as a crash of its machine would."""
    killed = []
    for name in names:
        for pid_file in sorted(RUN_DIR.glob(f"{name}.pid")) + sorted(RUN_DIR.glob(f"{name}-*.pid")):
            pid = int(pid_file.read_text().split()[0])
            for victim in [pid, *descendants(pid)]:
                try:
                    os.kill(victim, signal.SIGKILL)
                    killed.append(pid_file.stem)
                except ProcessLookupError:
                    pass
    return killed


@contextlib.contextmanager
def supervisor_held():
    """supervisord frozen for the block: what is killed meanwhile stays dead until it ends."""
    pid = int((get_settings().data_dir / "supervisor" / "supervisord.pid").read_text())
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def make_up() -> None:
    up = subprocess.run([sys.executable, str(ROOT / "deploy" / "lifecycle.py"), "up"], capture_output=True, text=True,
                        timeout=600, check=False)
    assert up.returncode == 0, up.stdout + up.stderr


def containers_of(space_id: str) -> list:
    return docker.from_env().containers.list(all=True, filters={"label": f"org.spaces.space={space_id}"}, ignore_removed=True)


def direct_answer(container) -> str | None:
    """What the app in ``container`` answers on its own published port (not through Traefik), if anything."""
    container.reload()
    bindings = [b for found in (container.attrs["NetworkSettings"]["Ports"] or {}).values() for b in (found or [])]
    if not bindings:
        return None
    try:
        return httpx.get(f"http://127.0.0.1:{bindings[0]['HostPort']}/", timeout=2).text
    except httpx.HTTPError:
        return None


def answers_or_gone(container, text: str) -> bool:
    """True once ``container``'s app answers ``text`` on its own port, or the container is gone."""
    try:
        return direct_answer(container) == text
    except docker.errors.NotFound:
        return True


def started_at(space_id: str) -> list[str]:
    found = docker.from_env().containers.list(all=True, filters={"label": f"org.spaces.space={space_id}"}, ignore_removed=True)
    return [c.attrs["State"]["StartedAt"] for c in found]


def serve_v0(user, worktree, track, name: str) -> tuple[str, str]:
    """A small HTTP app answering "v0", running: (space_id, url)."""
    space_id = track(f"{user.name}/{name}", user)
    worktree.write("app.py", APP.format(version="v0"))
    worktree.commit("v0")
    assert worktree.push(user.name, name, user).returncode == 0
    return space_id, space_url(api("GET", f"/api/spaces/{space_id}").json()["subdomain"])


def test_kill_9_of_controller_and_workers_while_spaces_serve(user, worktree, track):
    space_id, url = serve_v0(user, worktree, track, "survivor")
    before = started_at(space_id)
    try:
        with Load(url) as load:
            assert eventually(lambda: load.ok > 0, 30), "the Space answered nothing before the kill"
            with supervisor_held():
                killed = kill9([*PLATFORM, "runner", "builder"])
                assert {"controller", "runner-1", "builder-1"} <= set(killed), killed
                # Visitors are answered while the platform's processes are gone: 60 more answers
                # (3 s of the load) come while they are dead.
                answered = load.ok
                assert eventually(lambda: load.ok >= answered + 60, 60), "the Space stopped answering without the platform"
                with pytest.raises(httpx.HTTPError):
                    httpx.get(f"{get_settings().controller_url}/healthz", timeout=2)
    finally:
        make_up()
    assert load.failures == [], load.failures[:5]
    assert load.ok >= 50
    assert runtime(space_id)["stage"] == "RUNNING"
    assert started_at(space_id) == before  # adopted as it was, not restarted


def test_kill_9_of_the_run_worker_mid_deploy_is_repaired(user, worktree, track):
    space_id, url = serve_v0(user, worktree, track, "midway")
    slow_start = "import time\ntime.sleep(6)\n" + APP.format(version="v1")
    worktree.write("app.py", slow_start)
    worktree.commit("v1, slow to start")
    serving = {c.id for c in containers_of(space_id)}
    try:
        with Load(url) as load:
            run = worktree.push(user.name, "midway", user, "-o", "nowait")
            assert run.returncode == 0, output(run)
            wait_stage(space_id, {"RUNNING_APP_STARTING"}, timeout=120)
            with supervisor_held():
                killed = kill9(["runner"])
                assert "runner-1" in killed, killed
                # Nothing finishes the deploy now: once v1's app answers (a live run worker would
                # switch to it within a moment), visits more still get v0 only. (Killed before it
                # recorded its new container, the deploy left one the reconciler removes as stale:
                # it queues the deploy again, which waits for a run worker.)
                started = [c for c in containers_of(space_id) if c.id not in serving]
                assert eventually(lambda: all(answers_or_gone(c, "v1") for c in started), 60), \
                    "the new version's app never answered"
                answered = load.ok
                assert eventually(lambda: load.ok >= answered + 20, 30), "the Space stopped answering"
                assert runtime(space_id)["stage"] == "RUNNING_APP_STARTING"  # nothing finishes it now
                assert "v1" not in load.bodies, "the route moved to v1 with no run worker alive"
    finally:
        make_up()
    assert load.failures == [], load.failures[:5]  # v0 served throughout
    wait_stage(space_id, {"RUNNING"}, timeout=120)
    assert httpx.get(url, timeout=10).text == "v1"
    deadline = time.monotonic() + 40
    while len(started_at(space_id)) > 1 and time.monotonic() < deadline:
        time.sleep(1)
    assert len(started_at(space_id)) == 1


def test_kill_9_of_the_waker_mid_wake_leaves_nothing_stuck(user, worktree, track):
    space_id = track(f"{user.name}/drowsy", user)
    worktree.write("app.py", "import time\ntime.sleep(4)\n" + APP.format(version="v0"))
    worktree.commit("slow to start")
    assert worktree.push(user.name, "drowsy", user).returncode == 0
    url = space_url(api("GET", f"/api/spaces/{space_id}").json()["subdomain"])
    api("POST", f"/api/spaces/{space_id}/sleeptime", user, json={"seconds": 1})
    deadline = time.monotonic() + 60
    while started_at(space_id) and docker.from_env().containers.list(
            all=True, filters={"label": f"org.spaces.space={space_id}", "status": "exited"}, ignore_removed=True) == []:
        assert time.monotonic() < deadline, "the Space never reached the stopped tier"
        time.sleep(0.3)
    api("POST", f"/api/spaces/{space_id}/sleeptime", user, json={"seconds": -1})
    visitor = threading.Thread(target=lambda: _swallow(url), daemon=True)
    visitor.start()  # starts the wake: the app takes 4 s
    # Mid-wake: the stopped container has been started again, and its app is not answering yet.
    assert eventually(lambda: [c.status for c in containers_of(space_id)] == ["running"], 30), "the visit started no wake"
    try:
        with supervisor_held():
            assert "waker" in kill9(["waker"])
    finally:
        make_up()
    # The dead waker's lock on the Space is released at once, so the next visit wakes it.
    response = httpx.get(url, timeout=60)
    assert response.status_code == 200 and response.text == "v0", response.text[:300]
    assert runtime(space_id)["stage"] == "RUNNING"


def _swallow(url: str) -> None:
    with contextlib.suppress(httpx.HTTPError):  # its waker was killed under it
        httpx.get(url, timeout=30)
