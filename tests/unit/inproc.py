"""In-process stand-ins for what the integration tests do over the network, for the logic-only
checks moved here from tests/integration: the controller's own app in a TestClient (on the fast
tier's Redis), the ``spaces`` command run by its own code (typer's CliRunner, in this process),
a data directory of the test's own (repositories, keys), and a push whose hook and build job run
here. Nothing here talks to Docker, Traefik or the platform."""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from click.testing import Result
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from core.settings import get_settings
from tests.helpers import EXAMPLES, User, unique


def origin() -> str:
    """What the integration tests call ``base_url()``: the platform's public URL."""
    s = get_settings()
    return s.public_url(s.domain)


@contextlib.contextmanager
def platform_client(r) -> Iterator[TestClient]:
    """The controller's app on ``r``, answering at the platform's public URL. Redirects are not
    followed unless asked for (as with httpx, which the integration tests use)."""
    from controller import deps
    from controller.app import app as platform_app

    platform_app.dependency_overrides[deps.get_store] = lambda: r
    try:
        with TestClient(platform_app, base_url=origin(), follow_redirects=False) as client:
            yield client
    finally:
        platform_app.dependency_overrides.pop(deps.get_store, None)


def bearer(user: User | None) -> dict[str, str]:
    return user.headers if user else {}


def cli(*argv: str, input: str | None = None) -> Result:
    """``spaces *argv`` run by its own code in this process (its Redis: the fast tier's)."""
    from controller.cli import app

    return CliRunner().invoke(app, list(argv), input=input)


def create_user(name: str | None = None, *, admin: bool = False) -> User:
    """A user made with ``spaces user create`` (as tests/helpers.py does), with its write token "cli"."""
    name = name or unique("u")
    made = cli("user", "create", name, *(["--admin"] if admin else []))
    assert made.exit_code == 0, made.stderr
    return User(name=name, token=made.stdout.strip().splitlines()[-1])


def create_org(admin: User, members: dict[str, str] | None = None) -> str:
    org = unique("org")
    assert cli("org", "create", org, "--admin", admin.name).exit_code == 0
    for member, role in (members or {}).items():
        assert cli("org", "add-member", org, member, "--role", role).exit_code == 0
    return org


def set_password(user: User, password: str) -> None:
    assert cli("user", "set-password", user.name, input=password + "\n").exit_code == 0


@contextlib.contextmanager
def own_data_dir(folder: Path) -> Iterator[Path]:
    """The settings name ``folder`` as the data directory (repositories, keys) for the block; the
    Redis stays the fast tier's."""
    try:
        with _environ({"SPACES_DATA_DIR": str(folder)}):
            get_settings.cache_clear()
            yield folder
    finally:
        get_settings.cache_clear()


def example_files(example: str | None) -> dict[str, bytes]:
    """The files of ``examples/<example>`` (none for None), as a work tree copied from it holds them."""
    if example is None:
        return {}
    root = EXAMPLES / example
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def push(r, space_id: str, files: dict[str, bytes | str], capsys) -> str:
    """A first push of ``files`` to ``space_id``'s ``main``, as the platform handles it, in this process:
    the commit is stored in the Space's repository, the real ``post-receive`` hook
    (:func:`controller.git_hook.post_receive`) records and queues the build and follows it while
    the real build job (:func:`builder.jobs.build_space`) runs it here; no Docker is reached, so
    only builds that end before an image is made belong here. Returns what the hook printed (what
    ``git push`` shows as ``remote:`` lines)."""
    from builder.jobs import build_space
    from controller import git_hook
    from core import keys, repos

    repos.ensure_repo(space_id)
    commit = repos.commit_files(space_id, parent=None, message="push", author="tester", deletions=[],
                                files={path: content.encode() if isinstance(content, str) else content
                                       for path, content in files.items()})
    outcome: list[int] = []
    env = {"GIT_DIR": str(repos.repo_path(space_id)), "GIT_PUSH_OPTION_COUNT": "0"}
    with _environ(env):
        hook = threading.Thread(target=lambda: outcome.append(
            git_hook.post_receive([[git_hook.ZERO, commit, f"refs/heads/{repos.DEFAULT_BRANCH}"]])), daemon=True)
        hook.start()
        deadline = time.monotonic() + 30
        while not r.hget(keys.space(space_id), "latest_build"):
            assert time.monotonic() < deadline, "the hook queued no build"
            time.sleep(0.01)
        build_space(space_id, r.hget(keys.space(space_id), "latest_build"))  # the builder's job, in the main thread
        hook.join(timeout=30)
    assert outcome, "the hook did not finish"
    return capsys.readouterr().out


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def signed_in(client: TestClient, user: User, password: str) -> Iterator[TestClient]:
    """Another client on ``client``'s app (a browser of its own), signed in through the sign-in form
    as tests/helpers.py ``signed_in`` does."""
    with TestClient(client.app, base_url=str(client.base_url), follow_redirects=False) as browser:
        form = browser.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        browser.post("/login", data={"csrf": csrf, "username": user.name, "password": password, "next": "/"},
                     headers={"Origin": origin()})
        yield browser
