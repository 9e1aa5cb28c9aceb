"""Unit-test fixtures. ``redis_db`` is a real Redis database (the platform's server, db 15), flushed around each test."""

from __future__ import annotations

import pytest
import redis

from core.settings import get_settings

TEST_DB = 15


@pytest.fixture
def redis_db() -> redis.Redis:
    """A real, empty Redis database (db 15 of the platform's Redis); fails loudly if Redis is down."""
    url = get_settings().redis_url.rsplit("/", 1)[0] + f"/{TEST_DB}"
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.fail(f"Redis is not reachable at {url} ({exc}); start the platform with `make up`")
    client.flushdb()
    yield client
    client.flushdb()
