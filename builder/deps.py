"""The dependencies image of a Python Space: ``packages.txt`` (Debian packages), then
``pre-requirements.txt``, then ``requirements.txt``, on top of the SDK's runtime image.

It is tagged by a hash of its inputs and shared by every Space with the same inputs, so a second
Space with the same requirements — or a code-only change — reuses it without downloading or
installing anything. Python packages come from the host's wheel cache (see :mod:`builder.wheels`).
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import redis

from builder import images, wheels
from core import keys
from core.errors import BuildFailed
from core.names import DEPS_IMAGE_REPO
from core.settings import Settings

_DEBIAN_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+~:-]+)?$")


@dataclass(frozen=True)
class Dependencies:
    packages: tuple[str, ...]
    pre_requirements: str
    requirements: str

    @property
    def empty(self) -> bool:
        return not (self.packages or self.pre_requirements or self.requirements)


def _text_file(src: Path, name: str, what: str) -> str:
    path = src / name
    if not path.is_file():
        return ""
    raw = path.read_bytes()
    if b"\x00" in raw:
        raise BuildFailed(f"{name} contains binary data: it must list one {what} a line")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BuildFailed(f"{name} is not UTF-8 text: it must list one {what} a line") from exc
    lines = [ln.strip() for ln in text.splitlines()]
    return "\n".join(ln for ln in lines if ln and not ln.startswith("#"))


def read_dependencies(src: Path) -> Dependencies:
    packages = []
    for number, name in enumerate(_text_file(src, "packages.txt", "Debian package").splitlines(), start=1):
        if not _DEBIAN_NAME.match(name):
            raise BuildFailed(f"packages.txt: {name!r} is not a Debian package name (lowercase letters, digits, '+', '-', '.')")
        packages.append(name)
    return Dependencies(
        packages=tuple(packages),
        pre_requirements=_text_file(src, "pre-requirements.txt", "requirement"),
        requirements=_text_file(src, "requirements.txt", "requirement"),
    )


def deps_dockerfile(base: str, deps: Dependencies) -> str:
    lines = [f"FROM {base}", "USER root"]
    if deps.packages:
        lines.append(
            "RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "
            + " ".join(deps.packages) + " && rm -rf /var/lib/apt/lists/*"
        )
    lines.append("ARG WHEELS_URL")
    for name, text in (("pre-requirements.txt", deps.pre_requirements), ("requirements.txt", deps.requirements)):
        if text:
            lines.append(f"COPY {name} /tmp/spaces-{name}")
            lines.append(f'RUN pip install --no-index --find-links "$WHEELS_URL" -r /tmp/spaces-{name} && rm /tmp/spaces-{name}')
    return "\n".join(lines) + "\n"


def deps_image(
    base: str, deps: Dependencies, settings: Settings, emit: Callable[[str], None], r: redis.Redis, *, fresh: bool = False,
) -> str:
    """The image with ``deps`` installed on ``base``, built once per distinct input and shared."""
    base_id = images.docker_client().images.get(base).id
    digest = hashlib.sha256(repr((base_id, deps)).encode()).hexdigest()[:20]
    tag = f"{DEPS_IMAGE_REPO}:{digest}"
    with r.lock(keys.deps_lock(digest), timeout=settings.build_timeout, blocking_timeout=settings.build_timeout):
        if images.image_exists(tag) and not fresh:
            emit(f"--> requirements unchanged: reusing {tag}")
            return tag
        with tempfile.TemporaryDirectory(prefix="spaces-deps-") as ctx:
            context = Path(ctx)
            for name, text in (("pre-requirements.txt", deps.pre_requirements), ("requirements.txt", deps.requirements)):
                if text:
                    (context / name).write_text(text + "\n")
                    emit(f"--> resolving {name} into the wheel cache")
                    wheels.resolve(context / name, settings.wheel_cache, emit, timeout=settings.build_timeout)
            (context / "Dockerfile").write_text(deps_dockerfile(base, deps))
            if deps.packages:
                emit(f"--> installing Debian packages: {' '.join(deps.packages)}")
            emit("--> installing the dependencies into the image")
            with wheels.serve(settings.wheel_cache) as url:
                images.build_image(
                    context, tag, emit, buildargs={"WHEELS_URL": url}, host_network=True, nocache=fresh,
                    labels={"org.spaces.kind": "deps"}, timeout=settings.build_timeout,
                )
    return tag
