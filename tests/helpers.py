"""Helpers shared by the integration tests and the benchmarks: users, git work trees, pushes, waits."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import httpx

from core.names import container_safe
from core.settings import get_settings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SPACES_CLI = str(Path(sys.executable).parent / "spaces")


def base_url() -> str:
    s = get_settings()
    return s.public_url(s.domain)


def space_url(subdomain: str) -> str:
    s = get_settings()
    return s.public_url(s.space_host(subdomain)) + "/"


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@dataclass
class User:
    name: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


# Every user this test process made, in order: their Spaces are deleted when the test (or the
# module or session fixture) that made them is over (tests/integration/conftest.py).
CREATED_USERS: list[User] = []


def create_user(name: str | None = None, *, admin: bool = False) -> User:
    """A new platform user made with the real ``spaces user create`` command."""
    name = name or unique("u")
    argv = [SPACES_CLI, "user", "create", name, *(["--admin"] if admin else [])]
    run = subprocess.run(argv, capture_output=True, text=True, check=True)
    user = User(name=name, token=run.stdout.strip().splitlines()[-1])
    CREATED_USERS.append(user)
    return user


def delete_spaces_of(user: User) -> None:
    """Queue the deletion of every Space ``user`` owns (housekeeping: a user already deleted, or
    whose token a test revoked, is left alone)."""
    try:
        listed = api("GET", f"/api/spaces?author={user.name}&limit=1000", user)
        if listed.status_code != 200:
            return
        for space in listed.json():
            if space["id"].startswith(f"{user.name}/"):
                api("DELETE", f"/api/spaces/{space['id']}", user)
    except httpx.HTTPError:
        pass  # the platform is down: the test that stopped it says so itself


@contextlib.contextmanager
def signed_in(user: User, password: str) -> Iterator[httpx.Client]:
    """An httpx client on the platform's host, signed in through the sign-in form as a browser is."""
    with httpx.Client(base_url=base_url(), timeout=60) as client:
        form = client.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        client.post("/login", data={"csrf": csrf, "username": user.name, "password": password, "next": "/"},
                    headers={"Origin": base_url()})
        yield client


def issue_token(user: User, role: str = "write", name: str = "tests") -> User:
    """``user`` holding another token (``role`` read or write), from ``spaces user token``."""
    run = subprocess.run([SPACES_CLI, "user", "token", user.name, "--role", role, "--name", name],
                         capture_output=True, text=True, check=True)
    return User(name=user.name, token=run.stdout.strip().splitlines()[-1])


def create_org(admin: User, members: dict[str, str] | None = None) -> str:
    """A new organization made with ``spaces org create``, with ``members`` ({user: role}) added."""
    org = unique("org")
    subprocess.run([SPACES_CLI, "org", "create", org, "--admin", admin.name], capture_output=True, check=True)
    for member, role in (members or {}).items():
        subprocess.run([SPACES_CLI, "org", "add-member", org, member, "--role", role], capture_output=True, check=True)
    return org


def set_password(user: User, password: str) -> None:
    subprocess.run([SPACES_CLI, "user", "set-password", user.name], input=password + "\n", text=True,
                   capture_output=True, check=True)


GIT_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@localhost",
    "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@localhost",
}


class WorkTree:
    """A local git repository the tests edit, commit and push with the real git client."""

    def __init__(self, path: Path, example: str | None = "hello-gradio") -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        if example:
            shutil.copytree(EXAMPLES / example, path, dirs_exist_ok=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=self.path, env={**os.environ, **GIT_ENV},
                              capture_output=True, text=True, check=check, timeout=1200)

    def write(self, name: str, content: str | bytes) -> None:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)

    def commit(self, message: str = "change") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD").stdout.strip()

    def push(self, owner: str, name: str, user: User | None, *options: str) -> subprocess.CompletedProcess:
        """``git push`` to the platform; output (with the remote: lines) is in ``.stdout + .stderr``."""
        s = get_settings()
        auth = f"{user.name}:{user.token}@" if user else ""
        url = f"http://{auth}{s.domain}:{s.http_port}/spaces/{owner}/{name}"
        return self.git("push", *options, url, "main", check=False)


def api(method: str, path: str, user: User | None = None, **kwargs) -> httpx.Response:
    headers = user.headers if user else {}
    return httpx.request(method, base_url() + path, headers=headers, timeout=30, **kwargs)


def runtime(space_id: str, user: User | None = None) -> dict:
    response = api("GET", f"/api/spaces/{space_id}/runtime", user)
    response.raise_for_status()
    return response.json()


def wait_stage(space_id: str, stages: set[str], timeout: float = 300, user: User | None = None) -> dict:
    """Poll the runtime API until the stage is one of ``stages``; returns the runtime record."""
    deadline = time.monotonic() + timeout
    current: dict = {}
    while time.monotonic() < deadline:
        current = runtime(space_id, user)
        if current["stage"] in stages:
            return current
        time.sleep(0.5)
    raise AssertionError(f"{space_id} stayed {current.get('stage')} (wanted {stages}): {current}")


def serving_container(space_id: str) -> str | None:
    """The id of the Space's one running container, None while there is not exactly one."""
    running = docker.from_env().containers.list(filters={"label": f"org.spaces.space={space_id}", "status": "running"},
                                                ignore_removed=True)
    return running[0].id if len(running) == 1 else None


def data_file_systems(space_id: str) -> list[Path]:
    """The file holding the Space's /data file system, if there is one."""
    image = get_settings().data_dir / "volumes" / f"spaces-data-{container_safe(space_id)}.img"
    return [image] if image.exists() else []


def settled_container(space_id: str, timeout: float = 90) -> str:
    """The id of the Space's one running container once there is exactly one (an old version that
    is still finishing its requests after a redeploy is waited out)."""
    assert eventually(lambda: serving_container(space_id) is not None, timeout), f"{space_id} never ran exactly one container"
    found = serving_container(space_id)
    assert found is not None
    return found


def replaced_container(space_id: str, before: str, timeout: float = 90) -> str:
    """The id of the container serving the Space once it is alone and is not ``before`` (a restart
    or redeploy runs a new container; the same one started again is not a restart)."""
    assert eventually(lambda: serving_container(space_id) not in (None, before), timeout), \
        f"{space_id} is still served by container {before[:12]}: no new container was started"
    found = serving_container(space_id)
    assert found is not None
    return found


class ContainerStarts:
    """Every start of a container of the Space while the block runs, from Docker's own event
    stream (``ids``, in order, one entry per start): a positive record of what ran, so that a test
    can say "no restart happened" by what Docker reports instead of by waiting.

        with ContainerStarts(space_id) as starts:
            ...
        assert starts.ids == [expected]
    """

    def __init__(self, space_id: str) -> None:
        self.space_id = space_id
        self.ids: list[str] = []

    def __enter__(self) -> ContainerStarts:
        self._stream = docker.from_env().events(decode=True, filters={
            "type": "container", "event": "start", "label": f"org.spaces.space={self.space_id}"})
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        return self

    def _read(self) -> None:
        with contextlib.suppress(Exception):  # the stream is closed under it at the end
            for event in self._stream:
                self.ids.append(event["id"])

    def wait_for(self, container_id: str, timeout: float = 30) -> None:
        """Until Docker's report of ``container_id``'s start has been read (it may trail the start itself)."""
        assert eventually(lambda: container_id in self.ids, timeout), f"Docker never reported the start of {container_id[:12]}"

    def __exit__(self, *exc) -> None:
        self._stream.close()
        self._thread.join(timeout=10)


def eventually(check, timeout: float, every: float = 0.1) -> bool:
    """True as soon as ``check()`` is; False if it never was within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return False


def monitor_pass_after(moment: float, timeout: float = 60) -> None:
    """Wait until the platform's monitor has made a whole pass over what it read after ``moment``
    (wall-clock time): the crash watcher and the sleeper have looked at every Space as it was then.
    Its heartbeat is written during each pass, after those checks; the pass after the first
    heartbeat later than ``moment`` read the records and containers after it."""
    from core import keys, store

    r = store.get_redis()

    def beat() -> float:
        raw = r.get(keys.MONITOR_HEARTBEAT)
        return float(json.loads(raw)["at"]) if raw else 0.0

    assert eventually(lambda: beat() > moment, timeout), "the monitor made no pass (no heartbeat)"
    first = beat()
    assert eventually(lambda: beat() > first, timeout), "the monitor made no second pass (no heartbeat)"


def output(run: subprocess.CompletedProcess) -> str:
    return run.stdout + run.stderr


def read_run_log(space_id: str, user, seconds: float = 3) -> list[str]:
    """The lines the run-log stream sends until it has been quiet for ``seconds`` (it stays open)."""
    lines: list[str] = []
    try:
        with httpx.stream("GET", f"{base_url()}/api/spaces/{space_id}/logs/run", headers=user.headers,
                          timeout=httpx.Timeout(10, read=seconds)) as response:
            assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
            for raw in response.iter_lines():
                if raw.startswith("data: "):
                    lines.append(json.loads(raw[6:])["data"].rstrip("\n"))
    except httpx.ReadTimeout:
        pass  # quiet for ``seconds``: everything kept so far has been sent
    return lines
