"""What the ``spaces`` command needs from a platform: its HTTP API, the stored login, log streams
and uploads. Talks HTTP only (any machine that reaches the platform can use it).

The login lives in ``$XDG_CONFIG_HOME/spaces/config.json`` (``~/.config/…``, mode 0600);
``SPACES_TOKEN`` and ``SPACES_ENDPOINT`` override it.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

DEFAULT_ENDPOINT = "http://spaces.localhost:8080"
SKIP_DIRS = {".git", "__pycache__", ".venv", "node_modules", ".ipynb_checkpoints"}


class CliError(Exception):
    """A one-line reason the command failed (printed as ``error: …``, exit code 1)."""


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "spaces" / "config.json"


def load_config() -> dict:
    try:
        return json.loads(config_path().read_text())
    except (OSError, ValueError):
        return {}


def save_config(endpoint: str, token: str) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"endpoint": endpoint, "token": token}, fh)
    os.replace(tmp, path)
    return path


@dataclass
class Platform:
    endpoint: str
    token: str | None

    @classmethod
    def from_login(cls, endpoint: str | None = None) -> Platform:
        stored = load_config()
        return cls(endpoint=(endpoint or os.environ.get("SPACES_ENDPOINT") or stored.get("endpoint") or DEFAULT_ENDPOINT).rstrip("/"),
                   token=os.environ.get("SPACES_TOKEN") or stored.get("token"))

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def request(self, method: str, path: str, *, ok: tuple[int, ...] = (200, 201, 202, 204), **kwargs) -> httpx.Response:
        try:
            response = httpx.request(method, self.endpoint + path, headers={**self.headers, **kwargs.pop("headers", {})},
                                     timeout=kwargs.pop("timeout", 60), **kwargs)
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach the platform at {self.endpoint} ({exc})") from None
        if response.status_code not in ok:
            raise CliError(reason(response))
        return response

    def json(self, method: str, path: str, **kwargs):
        response = self.request(method, path, **kwargs)
        return response.json() if response.content else {}

    def me(self) -> str:
        if not self.token:
            raise CliError("not logged in: run 'spaces login' (or set SPACES_TOKEN)")
        return self.json("GET", "/api/whoami-v2")["name"]

    def space_id(self, name: str) -> str:
        """``owner/name`` as given, or ``name`` in the logged-in user's namespace."""
        return name if "/" in name else f"{self.me()}/{name}"

    def events(self, path: str, *, follow: bool, quiet: float = 2.0) -> Iterator[str]:
        """Lines of a server-sent log stream; without ``follow``, stop once it has been quiet ``quiet`` s."""
        timeout = httpx.Timeout(30, read=None if follow else quiet)
        try:
            with httpx.stream("GET", self.endpoint + path, headers=self.headers, timeout=timeout) as response:
                if response.status_code != 200:
                    response.read()
                    raise CliError(reason(response))
                for raw in response.iter_lines():
                    if raw.startswith("data: "):
                        yield json.loads(raw[6:])["data"].rstrip("\n")
        except httpx.ReadTimeout:
            return
        except httpx.HTTPError as exc:
            raise CliError(f"the log stream broke off ({exc})") from None


def reason(response: httpx.Response) -> str:
    try:
        body = response.json()
        message = body.get("error") or body.get("detail")
    except ValueError:
        message = None
    if isinstance(message, list):  # FastAPI's validation errors
        message = "; ".join(f"{'.'.join(str(x) for x in e.get('loc', [])[1:])}: {e.get('msg')}" for e in message)
    return f"{message or response.reason_phrase} (HTTP {response.status_code})"


def local_files(folder: Path) -> dict[str, Path]:
    """The files to upload from ``folder`` (repository paths → local paths), skipping git and caches."""
    if not folder.is_dir():
        raise CliError(f"{folder} is not a directory")
    found = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part in SKIP_DIRS for part in rel.parts) or not path.is_file():
            continue
        found[rel.as_posix()] = path
    if not found:
        raise CliError(f"{folder} has no files to push")
    return found


def commit_body(files: dict[str, Path], deletions: list[str], message: str, progress: Callable[[int], None]) -> bytes:
    lines = [json.dumps({"key": "header", "value": {"summary": message}})]
    for rel, path in files.items():
        data = path.read_bytes()
        lines.append(json.dumps({"key": "file", "value": {"path": rel, "content": base64.b64encode(data).decode(),
                                                          "encoding": "base64"}}))
        progress(len(data))
    lines += [json.dumps({"key": "deletedFile", "value": {"path": rel}}) for rel in deletions]
    return ("\n".join(lines) + "\n").encode()


def wait_for_stage(platform: Platform, space_id: str, done: Callable[[str], bool], timeout: float = 1800) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        runtime = platform.json("GET", f"/api/spaces/{space_id}/runtime")
        if done(runtime["stage"]) or time.monotonic() > deadline:
            return runtime
        time.sleep(1)
