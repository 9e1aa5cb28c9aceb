"""Python requirements → wheels, resolved in a build sandbox, with caches no Space can poison.

:func:`resolve` runs :mod:`builder.sandbox_resolve` in a sandbox (:mod:`builder.sandbox`): pip
runs there, and so does every build step of a source distribution, VCS or path requirement.
The host only copies the regular files named like wheels out of the sandbox's output folder.

Two caches, both read-only inside every sandbox (pip's ``--find-links``):

- the **index cache** (``<data dir>/cache/index-wheels``), shared by all Spaces. Only the builder
  writes it, and only wheels whose bytes match the SHA-256 the package index publishes for that
  file name (:func:`verify`, checked by :mod:`builder.sandbox_hashes` in a sandbox that ran no user
  code). A wheel some build made (from an sdist, a VCS URL, a path) can never get in there;
- an **owner cache** (``<data dir>/cache/owner-wheels/<owner>``) for everything else a build of
  that owner's Spaces produced; no other owner's build ever sees it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from builder import sandbox
from core.errors import BuildFailed
from core.settings import Settings

log = logging.getLogger(__name__)

APP_DIR = "/home/user/app"
SCRIPTS = Path(__file__).resolve().parent
WHEEL_NAME = re.compile(r"^[A-Za-z0-9_.]+-[A-Za-z0-9_.!+]+(-[0-9][A-Za-z0-9_.]*)?-[A-Za-z0-9_.]+-[A-Za-z0-9_.]+-[A-Za-z0-9_.]+\.whl$")
MAX_WHEEL_BYTES = 4 << 30


@dataclass(frozen=True)
class Wheel:
    name: str  # the file name
    sha256: str
    path: Path  # the host's own copy
    first: bool = False  # needed by the first requirement file (pre-requirements.txt): its own layer

    @property
    def project(self) -> str:
        return normalize(self.name.split("-", 1)[0])


def normalize(project: str) -> str:
    return re.sub(r"[-_.]+", "-", project).lower()


def _first_layer(out: Path) -> set[str]:
    """Projects the sandbox says the first requirement file needs (untrusted: only shapes layers)."""
    try:
        fd = sandbox.open_untrusted(out / "spaces-layers.json")
    except (OSError, BuildFailed):
        return set()
    with os.fdopen(fd, "rb") as fh:
        raw = fh.read(1 << 20)
    try:
        layers = json.loads(raw)
    except ValueError:
        return set()
    names: object = next(iter(layers.values()), []) if isinstance(layers, dict) and layers else []
    return {normalize(n) for n in names if isinstance(n, str)} if isinstance(names, list) else set()


def _copy_hashing(source_fd: int, dest: Path) -> str:
    digest = hashlib.sha256()
    with os.fdopen(source_fd, "rb") as src, open(dest, "xb") as out:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def resolve(
    *, image: str, app_dir: Path, files: list[str], owner: str | None, dest: Path,
    settings: Settings, emit: Callable[[str], None], timeout: float, copy_app: bool = False,
    owner_cache: bool = True,
) -> list[Wheel]:
    """Wheels for what ``files`` (requirement files in ``app_dir``) add to ``image``, copied into ``dest``.

    ``app_dir`` is mounted read-only as the app folder, so relative ``-r`` includes and path
    requirements inside the repository work as on Hugging Face.
    """
    index = settings.wheel_cache
    index.mkdir(parents=True, exist_ok=True)
    read_only = {app_dir: APP_DIR, index: "/wheels/index", SCRIPTS / "sandbox_resolve.py": "/opt/spaces/resolve.py"}
    links = ["/wheels/index"]
    if owner and owner_cache and settings.owner_wheel_cache(owner).is_dir():
        read_only[settings.owner_wheel_cache(owner)] = "/wheels/owner"
        links.append("/wheels/owner")
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="spaces-resolve-", dir=settings.work_dir) as tmp:
        out = sandbox.output_dir(Path(tmp), "out")
        box = sandbox.Sandbox(
            image=image, argv=["python", "-I", "/opt/spaces/resolve.py", "/out", *files],
            purpose=f"resolve requirements ({owner or 'runtime image'})", read_only=read_only, writable={out: "/out"},
            env={"PIP_INDEX_URL": settings.pip_index_url, "SPACES_FIND_LINKS": ":".join(links),
                 **({"SPACES_COPY_APP": "1"} if copy_app else {})},
            workdir=APP_DIR,
        )
        tail: list[str] = []

        def keep(line: str) -> None:
            emit(line)
            tail[:] = [*tail, line][-15:]

        if sandbox.run(box, settings, keep, timeout=timeout) != 0:
            errors = [t for t in tail if "ERROR" in t] or tail[-5:]
            raise BuildFailed("could not resolve the Python requirements: " + " | ".join(errors))
        first = _first_layer(out)
        wheels = []
        total = 0
        for name, size in sandbox.regular_files(out, max_bytes=MAX_WHEEL_BYTES):
            if WHEEL_NAME.match(name):
                total += size
                if total > settings.sandbox_output_mb << 20:
                    raise BuildFailed(f"the requirements' wheels exceed {settings.sandbox_output_mb} MiB "
                                      "(SPACES_SANDBOX_OUTPUT_MB)")
                sha = _copy_hashing(sandbox.open_untrusted(out / name), dest / name)
                wheels.append(Wheel(name, sha, dest / name, first=normalize(name.split("-", 1)[0]) in first))
    return sorted(wheels, key=lambda w: w.name)


def verify(wheels: list[Wheel], image: str, settings: Settings, emit: Callable[[str], None]) -> set[str]:
    """Names of the wheels whose bytes are what the package index serves under that name."""
    verified = {w.name for w in wheels if _in_index_cache(w, settings)}
    unknown = [w for w in wheels if w.name not in verified]
    if not unknown:
        return verified
    lines: list[str] = []
    box = sandbox.Sandbox(
        image=image, argv=["python", "-I", "/opt/spaces/hashes.py", settings.pip_index_url, *(w.name for w in unknown)],
        purpose="check wheels against the package index", read_only={SCRIPTS / "sandbox_hashes.py": "/opt/spaces/hashes.py"},
    )
    try:
        code = sandbox.run(box, settings, lines.append, timeout=120)
        published = json.loads(lines[-1]) if code == 0 and lines else {}
    except (BuildFailed, ValueError) as exc:
        log.warning("could not check wheels against the index: %s", exc)
        published = {}
    for wheel in unknown:
        if isinstance(published, dict) and published.get(wheel.name) == wheel.sha256:
            verified.add(wheel.name)
    return verified


def _in_index_cache(wheel: Wheel, settings: Settings) -> bool:
    cached = settings.wheel_cache / wheel.name
    return cached.is_file() and not cached.is_symlink() and file_sha256(cached) == wheel.sha256


def _store(wheel: Wheel, folder: Path, *, replace: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / wheel.name
    if target.exists() and not replace:
        return
    tmp = folder / f".{wheel.name}.{os.getpid()}.tmp"
    shutil.copyfile(wheel.path, tmp)
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)


def keep(wheels: list[Wheel], verified: set[str], owner: str | None, settings: Settings) -> None:
    """Index wheels into the shared cache; everything else into the owner's cache only."""
    for wheel in wheels:
        if wheel.name in verified:
            _store(wheel, settings.wheel_cache, replace=False)
        elif owner:
            _store(wheel, settings.owner_wheel_cache(owner), replace=True)
