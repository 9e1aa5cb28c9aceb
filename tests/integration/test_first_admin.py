"""The first ``make up`` makes an administrator and says where its credentials are
(``spaces admin ensure-admin``, run here against an empty Redis database and data directory)."""

from __future__ import annotations

import os
import stat
import subprocess

import redis

from core import accounts
from core.settings import get_settings
from tests.helpers import SPACES_CLI

EMPTY_DB = 14


def test_ensure_admin_creates_one_administrator_once(platform, tmp_path):
    url = get_settings().redis_url.rsplit("/", 1)[0] + f"/{EMPTY_DB}"
    r = redis.Redis.from_url(url, decode_responses=True)
    r.flushdb()
    env = {**os.environ, "SPACES_REDIS_URL": url, "SPACES_DATA_DIR": str(tmp_path)}
    try:
        first = subprocess.run([SPACES_CLI, "admin", "ensure-admin"], env=env, capture_output=True, text=True, check=False)
        assert first.returncode == 0, first.stderr
        path = tmp_path / "admin-credentials"
        assert first.stdout.strip() == str(path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        fields = dict(line.split(": ", 1) for line in path.read_text().splitlines())
        assert fields["user"] == "administrator"
        assert accounts.check_password(r, "administrator", fields["password"])
        assert accounts.lookup_token(r, fields["token"])["user"] == "administrator"
        assert accounts.get_user(r, "administrator")["role"] == "admin"
        second = subprocess.run([SPACES_CLI, "admin", "ensure-admin"], env=env, capture_output=True, text=True, check=False)
        assert second.returncode == 0 and second.stdout.strip() == str(path)
        assert [u["name"] for u in accounts.list_users(r)] == ["administrator"]
    finally:
        r.flushdb()
