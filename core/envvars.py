"""A Space's variables and secrets: what its app finds in its environment.

Variables are stored as they are. Secrets are encrypted at rest with Fernet (AES-128-CBC +
HMAC-SHA256) under a key kept in ``<data dir>/secrets.key`` (mode 0600, created on first use);
no API answer ever contains a secret's value, and :func:`mask` blanks values out of any log text.

Rotating the key: ``spaces admin rotate-secrets-key`` writes a new key, re-encrypts every secret
under it, and keeps the old key only until that is done (see :func:`rotate_key`).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import redis
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from core import keys
from core.errors import Conflict, InvalidName, NotFound, SpacesError
from core.replies import hash_fields
from core.settings import get_settings

KEY_RULE = "letters, digits and '_', not starting with a digit, at most 128 characters"
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# Names the platform sets itself; a Space may not override them.
RESERVED = frozenset({
    "SPACE_ID", "SPACE_HOST", "SPACE_AUTHOR_NAME", "SPACE_REPO_NAME", "SPACE_TITLE", "CPU_CORES", "MEMORY",
    "GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT", "PORT", "HOME", "PATH", "SPACES_CACHE_SCOPE",
})
MAX_VALUE = 65536
MASK = "********"


def key_path() -> Path:
    return get_settings().data_dir / "secrets.key"


def _fernet() -> MultiFernet:
    path = key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(Fernet.generate_key() + b"\n")
    lines = [line for line in path.read_bytes().split() if line]
    return MultiFernet([Fernet(line) for line in lines])


def validate_key(key: str, kind: str) -> str:
    if not isinstance(key, str) or not _KEY.match(key):
        raise InvalidName(f"invalid {kind} name {key!r}: use {KEY_RULE}")
    if key in RESERVED:
        raise InvalidName(f"{kind} name {key!r} is reserved: the platform sets it")
    return key


def _validate_value(value: str, kind: str) -> str:
    if not isinstance(value, str):
        raise InvalidName(f"a {kind} value must be text")
    if len(value.encode()) > MAX_VALUE:
        raise InvalidName(f"a {kind} value may be at most {MAX_VALUE} bytes")
    return value


def set_variable(r: redis.Redis, space_id: str, key: str, value: str, description: str = "", *, at: float) -> None:
    validate_key(key, "variable")
    if r.hexists(keys.space_secrets(space_id), key):
        raise Conflict(f"{key} is already a secret of {space_id}; delete the secret first")
    record = {"value": _validate_value(value, "variable"), "description": description, "updatedAt": at}
    r.hset(keys.space_variables(space_id), key, json.dumps(record))


def set_secret(r: redis.Redis, space_id: str, key: str, value: str, description: str = "", *, at: float) -> None:
    validate_key(key, "secret")
    if r.hexists(keys.space_variables(space_id), key):
        raise Conflict(f"{key} is already a variable of {space_id}; delete the variable first")
    token = _fernet().encrypt(_validate_value(value, "secret").encode()).decode()
    r.hset(keys.space_secrets(space_id), key, json.dumps({"token": token, "description": description, "updatedAt": at}))


def delete(r: redis.Redis, space_id: str, key: str, kind: str) -> None:
    hash_key = keys.space_secrets(space_id) if kind == "secret" else keys.space_variables(space_id)
    if not r.hdel(hash_key, key):
        raise NotFound(f"{space_id} has no {kind} {key!r}")


def list_variables(r: redis.Redis, space_id: str) -> dict[str, dict]:
    return {k: json.loads(v) for k, v in sorted(hash_fields(r.hgetall(keys.space_variables(space_id))).items())}


def list_secrets(r: redis.Redis, space_id: str) -> dict[str, dict]:
    """Secret names with their description and time, never their values."""
    out = {}
    for key, raw in sorted(hash_fields(r.hgetall(keys.space_secrets(space_id))).items()):
        record = json.loads(raw)
        out[key] = {"description": record.get("description", ""), "updatedAt": record.get("updatedAt")}
    return out


def secret_values(r: redis.Redis, space_id: str) -> dict[str, str]:
    """Decrypted secrets, for the app's environment only."""
    fernet = _fernet()
    values = {}
    for key, raw in hash_fields(r.hgetall(keys.space_secrets(space_id))).items():
        try:
            values[key] = fernet.decrypt(json.loads(raw)["token"].encode()).decode()
        except InvalidToken as exc:
            raise SpacesError(f"secret {key} of {space_id} cannot be decrypted with the current key") from exc
    return values


def environment(r: redis.Redis, space_id: str) -> dict[str, str]:
    """Variables and secrets as the app's environment."""
    env = {key: record["value"] for key, record in list_variables(r, space_id).items()}
    env.update(secret_values(r, space_id))
    return env


def mask(text: str, secrets: dict[str, str]) -> str:
    """``text`` with every secret value replaced by a mask (values shorter than 4 characters are left:
    masking them would garble ordinary text)."""
    for value in sorted(secrets.values(), key=len, reverse=True):
        if len(value) >= 4:
            text = text.replace(value, MASK)
    return text


def rotate_key(r: redis.Redis) -> int:
    """Encrypt every secret under a new key; returns how many were re-encrypted."""
    path = key_path()
    old = _fernet()
    new_key = Fernet.generate_key()
    path.write_bytes(new_key + b"\n" + path.read_bytes())  # new key first: encrypts; old ones still decrypt
    both = _fernet()
    count = 0
    for hash_key in r.scan_iter(match=keys.space_secrets("*"), count=500):
        for field, raw in r.hgetall(hash_key).items():
            record = json.loads(raw)
            record["token"] = both.rotate(record["token"].encode()).decode()
            r.hset(hash_key, field, json.dumps(record))
            count += 1
    path.write_bytes(new_key + b"\n")
    del old
    return count
