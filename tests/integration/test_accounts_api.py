"""Accounts against the running platform: bad tokens are limited per client address (as Traefik
passes it on), and the real ``spaces`` command refuses bad input with one line and exit code 1.
The rest of the accounts logic (tokens, organizations, the admin API, sign-in limits, CSRF and
origin checks, bounded bodies, the command's other refusals) runs in process in the fast tier:
tests/unit/test_accounts_api.py."""

from __future__ import annotations

import random
import subprocess

import httpx

from tests.helpers import SPACES_CLI, api, base_url, create_user


def client_from(address: str | None = None) -> httpx.Client:
    """A client whose requests come from ``address`` (any of 127.0.0.0/8), so that counting
    failures against it does not lock out the other tests, which all come from 127.0.0.1."""
    address = address or f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30, base_url=base_url())


def test_bad_tokens_are_limited_per_client(platform):
    user = create_user()
    with client_from() as attacker, client_from() as bystander:
        for i in range(30):
            assert attacker.get("/api/whoami-v2", headers={"Authorization": f"Bearer spc_guess{i}"}).status_code == 401
        blocked = attacker.get("/api/whoami-v2", headers={"Authorization": "Bearer spc_guess-more"})
        assert blocked.status_code == 429 and "too many requests with bad tokens" in blocked.json()["error"]
        assert int(blocked.headers["retry-after"]) <= 60
        # Only bad tokens are held back: a valid one works at once, from that client too (issue 17).
        assert attacker.get("/api/whoami-v2", headers={"Authorization": f"Bearer {user.token}"}).status_code == 200
        assert bystander.get("/api/whoami-v2", headers={"Authorization": f"Bearer {user.token}"}).status_code == 200


def test_cli_refuses_bad_input_with_one_line_and_exit_1(platform):
    """The real ``spaces`` command (its own process, the platform's Redis): a refusal is one line and
    exit code 1, and breaks nothing. The other refusals are checked in process in the fast tier
    (tests/unit/test_accounts_api.py, same name)."""
    user = create_user()
    run = subprocess.run([SPACES_CLI, "user", "set-password", user.name], input="short\n", capture_output=True, text=True,
                         check=False)
    assert run.returncode == 1, run
    assert run.stderr.strip().startswith("error: ") and "a password must be 10 to" in run.stderr, run.stderr
    assert api("GET", "/api/whoami-v2", user).status_code == 200  # nothing was broken
