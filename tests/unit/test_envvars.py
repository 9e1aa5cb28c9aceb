from __future__ import annotations

import json

import pytest

from core import envvars, keys
from core.errors import Conflict, InvalidName, NotFound
from core.settings import get_settings


@pytest.fixture
def key_dir(tmp_path, monkeypatch):
    """A private data directory for the secrets key."""
    monkeypatch.setenv("SPACES_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_secrets_are_encrypted_and_round_trip(redis_db, key_dir):
    envvars.set_secret(redis_db, "a/b", "TOKEN", "hunter2-long", at=1.0)
    raw = redis_db.hget(keys.space_secrets("a/b"), "TOKEN")
    assert "hunter2-long" not in raw
    assert envvars.secret_values(redis_db, "a/b") == {"TOKEN": "hunter2-long"}
    assert envvars.list_secrets(redis_db, "a/b") == {"TOKEN": {"description": "", "updatedAt": 1.0}}
    assert (key_dir / "secrets.key").stat().st_mode & 0o777 == 0o600


def test_rotation_re_encrypts_and_drops_the_old_key(redis_db, key_dir):
    envvars.set_secret(redis_db, "a/b", "TOKEN", "value-one", at=1.0)
    before = redis_db.hget(keys.space_secrets("a/b"), "TOKEN")
    old_key = (key_dir / "secrets.key").read_bytes()
    assert envvars.rotate_key(redis_db) == 1
    assert (key_dir / "secrets.key").read_bytes() != old_key
    assert len((key_dir / "secrets.key").read_bytes().split()) == 1
    assert redis_db.hget(keys.space_secrets("a/b"), "TOKEN") != before
    assert envvars.secret_values(redis_db, "a/b") == {"TOKEN": "value-one"}


def test_environment_merges_variables_and_secrets(redis_db, key_dir):
    envvars.set_variable(redis_db, "a/b", "MODE", "fast", at=1.0)
    envvars.set_secret(redis_db, "a/b", "TOKEN", "abcd1234", at=1.0)
    assert envvars.environment(redis_db, "a/b") == {"MODE": "fast", "TOKEN": "abcd1234"}
    assert json.loads(redis_db.hget(keys.space_variables("a/b"), "MODE"))["value"] == "fast"


def test_names_are_checked(redis_db, key_dir):
    with pytest.raises(InvalidName, match="letters, digits and '_'"):
        envvars.set_variable(redis_db, "a/b", "no-dash", "x", at=1.0)
    with pytest.raises(InvalidName, match="reserved"):
        envvars.set_secret(redis_db, "a/b", "SPACE_HOST", "x", at=1.0)
    envvars.set_variable(redis_db, "a/b", "SAME", "x", at=1.0)
    with pytest.raises(Conflict):
        envvars.set_secret(redis_db, "a/b", "SAME", "y", at=1.0)
    with pytest.raises(NotFound):
        envvars.delete(redis_db, "a/b", "MISSING", "variable")


def test_mask_hides_every_secret_value():
    text = "token=abcd1234 and again abcd1234, short=ab"
    assert envvars.mask(text, {"T": "abcd1234", "S": "ab"}) == "token=******** and again ********, short=ab"
