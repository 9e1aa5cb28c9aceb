"""Fast-tier fixtures: no platform needed. The tier runs against its own, disposable Redis server
(Debian's ``redis-server`` on a free loopback port, data in a temporary folder, nothing saved), so
``make unit`` works before ``make up`` and never touches the platform's records. ``redis_db`` is
that server's database, flushed around each test."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest
import redis

from core.settings import get_settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="package", autouse=True)
def disposable_redis() -> Iterator[str]:
    """Start a private redis-server and point the settings (``SPACES_REDIS_URL``) at it."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed (Debian package redis-server); `make install` installs it")
    folder = tempfile.mkdtemp(prefix="spaces-fast-tier-")
    port, password = _free_port(), secrets.token_hex(16)
    config = (f"port {port}\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndir {folder}\n"
              f"requirepass {password}\nloglevel warning\n")
    process = subprocess.Popen([server, "-"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdin is not None
    process.stdin.write(config)
    process.stdin.close()
    url = f"redis://:{password}@127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.exceptions.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"the fast tier's redis-server did not start: {process.stderr.read() if process.stderr else ''}")
            time.sleep(0.05)
    before = os.environ.get("SPACES_REDIS_URL")
    os.environ["SPACES_REDIS_URL"] = url
    get_settings.cache_clear()
    try:
        yield url
    finally:
        if before is None:
            os.environ.pop("SPACES_REDIS_URL", None)
        else:
            os.environ["SPACES_REDIS_URL"] = before
        get_settings.cache_clear()
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def redis_db(disposable_redis: str) -> Iterator[redis.Redis]:
    """An empty database on the fast tier's own Redis server."""
    client = redis.Redis.from_url(disposable_redis, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()
