"""Fixtures for integration tests against the running platform (``make test`` starts it first).

These tests talk to real parts only: git over HTTP through Traefik, Docker containers, Redis.
If the platform is not reachable they fail loudly; they never skip.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests import helpers
from tests.helpers import User, WorkTree, api, base_url, create_user

# Files whose tests stop, restart or reconfigure platform processes. `make test` runs the other
# integration tests in parallel (pytest-xdist, a file per worker), then these alone, one at a time.
EXCLUSIVE = frozenset({
    "test_build_control.py",  # restarts the builders with small limits, then without
    "test_down_up.py",  # make down, then make up
    "test_kill9.py",  # kill -9 of platform processes mid-deploy
    "test_push_to_url.py",  # restarts services and checks make up's pid files
    # One-shot reconcile passes (as at make up) act on every Space: one started again the exited
    # container of another test's app that had just crashed, before the monitor recorded the crash.
    "test_reconcile.py",
    "test_supervision.py",  # kill -9 of each platform process, supervisord's restarts
})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in EXCLUSIVE:
            item.add_marker(pytest.mark.exclusive)


@pytest.fixture(scope="session")
def platform() -> str:
    """The controller's public URL, after checking the platform answers through Traefik."""
    url = base_url()
    try:
        response = httpx.get(f"{url}/healthz", timeout=10)
    except httpx.HTTPError as exc:
        pytest.fail(f"the platform is not reachable at {url} ({exc}); start it with `make up` (make test does)")
    assert response.status_code == 200, f"{url}/healthz answered {response.status_code}"
    return url


@pytest.fixture(autouse=True)
def _delete_the_tests_spaces() -> Iterator[None]:
    """When a test ends, the Spaces of the users it made are deleted. A running app costs the
    machine CPU even when idle (a Gradio app about a tenth of a core here), and the next tests
    share it; left until the session's end, a run's apps came to load the machine more than
    the tests themselves. (Users of module fixtures are made before this runs: their Spaces go
    at the session's end.)"""
    first = len(helpers.CREATED_USERS)
    yield
    for made in helpers.CREATED_USERS[first:]:
        helpers.delete_spaces_of(made)


@pytest.fixture(scope="session", autouse=True)
def _delete_every_space_made() -> Iterator[None]:
    yield
    for made in helpers.CREATED_USERS:
        helpers.delete_spaces_of(made)


@pytest.fixture(scope="session")
def _created() -> list[tuple[str, User]]:
    """Spaces made during the session, deleted at its end so they do not pile up across runs."""
    created: list[tuple[str, User]] = []
    yield created
    for space_id, owner in created:
        api("DELETE", f"/api/spaces/{space_id}", owner)


@pytest.fixture
def user(platform: str) -> User:
    """A fresh user with a write token."""
    return create_user()


@pytest.fixture
def other_user(platform: str) -> User:
    """A second fresh user, for cross-tenant checks."""
    return create_user()


@pytest.fixture
def worktree(tmp_path) -> WorkTree:
    """A git work tree holding a copy of examples/hello-gradio, not yet committed."""
    return WorkTree(tmp_path / "repo")


@pytest.fixture
def track(_created):
    """Call ``track(space_id, owner)`` for each Space a test creates; it is deleted after the session."""

    def _track(space_id: str, owner: User) -> str:
        _created.append((space_id, owner))
        return space_id

    return _track
