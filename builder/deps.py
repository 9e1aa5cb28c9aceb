"""The dependencies image of a Python Space: ``packages.txt`` (Debian packages), then
``pre-requirements.txt`` and ``requirements.txt``, on top of the SDK's runtime image.

The requirement and package files are data, never commands for the host: they are read with
:mod:`builder.repofiles` (no links), checked line by line here, and resolved only inside a build
sandbox (:mod:`builder.wheels`). The image is then built with BuildKit on a bridge network, the
wheels handed over as a bind mount of the build context (they never land in a layer).

Images are tagged by their content (base, Debian packages, the exact wheels' hashes), so two
Spaces that resolve to the same wheels share one. To skip even the resolve, a requirement text
that names only index packages is mapped to the image it gave: in a map every Space shares when
every wheel came from the index (verified by hash), in the owner's own map otherwise.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import redis

from builder import buildkit, images, wheels
from builder.repofiles import read_top_level
from core import keys
from core.errors import BuildFailed, ConfigError
from core.names import DEPS_IMAGE_REPO
from core.replies import maybe_text
from core.settings import Settings

_DEBIAN_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+~:-]+)?$")
# A requirement naming an index package: name, extras, version specifiers, markers; no URL, no path.
_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,\s-]*\])?\s*([<>=!~(;][^@]*)?$")
_INCLUDE = re.compile(r"^(-r|--requirement|-c|--constraint)(?:\s*=\s*|\s+|(?=[^-\s]))(?P<path>\S+)")
REQUIREMENT_FILES = ("pre-requirements.txt", "requirements.txt")


@dataclass(frozen=True)
class Dependencies:
    packages: tuple[str, ...]
    pre_requirements: str
    requirements: str

    @property
    def empty(self) -> bool:
        return not (self.packages or self.pre_requirements or self.requirements)

    @property
    def files(self) -> list[str]:
        return [name for name, text in zip(REQUIREMENT_FILES, (self.pre_requirements, self.requirements), strict=True) if text]

    @property
    def plain(self) -> bool:
        """Only index packages by name: the text alone decides what gets installed."""
        lines = (self.pre_requirements + "\n" + self.requirements).splitlines()
        return all(_PLAIN.match(line) for line in lines if line)


def _text_file(src: Path, name: str, what: str) -> str:
    raw = read_top_level(src, name)
    if raw is None:
        return ""
    if b"\x00" in raw:
        raise BuildFailed(f"{name} contains binary data: it must list one {what} a line")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BuildFailed(f"{name} is not UTF-8 text: it must list one {what} a line") from exc
    return "\n".join(pip_lines(text))


_COMMENT = re.compile(r"(^|\s+)#.*$")


def pip_lines(text: str) -> list[str]:
    """The logical lines pip reads from a requirements file, as pip's own ``join_lines`` and
    ``ignore_comments`` make them: a line ending in a backslash continues, but a comment line never
    does and ends a continuation (so a hidden line cannot slip past the checks here)."""
    lines: list[str] = []
    pending: list[str] = []
    for line in text.splitlines():
        comment = _COMMENT.match(line)
        if not line.endswith("\\") or comment:
            if comment:
                line = " " + line
            lines.append("".join([*pending, line]))
            pending = []
        else:
            pending.append(line.strip("\\"))
    if pending:
        lines.append("".join(pending))
    return [kept for line in lines if (kept := _COMMENT.sub("", line).strip())]


def check_requirements(name: str, text: str) -> None:
    """Refuse lines that would make pip read files outside the repository."""
    for number, line in enumerate(text.splitlines(), start=1):
        match = _INCLUDE.match(line)
        if not match:
            continue
        path = match["path"]
        parts = path.replace("\\", "/").split("/")
        if path.startswith(("/", "~")) or ".." in parts or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", path):
            raise ConfigError(
                f"{name} line {number}: '{line}' names a file outside the repository; "
                f"{match[1]} may only name a file inside it, by a relative path such as 'other-requirements.txt'"
            )


def read_dependencies(src: Path) -> Dependencies:
    packages = []
    for name in _text_file(src, "packages.txt", "Debian package").splitlines():
        if not _DEBIAN_NAME.match(name):
            raise BuildFailed(
                f"packages.txt: {name[:80]!r} is not a Debian package name: one name a line (lowercase letters, "
                "digits, '+', '-', '.'), optionally '=version'; nothing else"
            )
        packages.append(name)
    texts = {name: _text_file(src, name, "requirement") for name in REQUIREMENT_FILES}
    for name, text in texts.items():
        check_requirements(name, text)
    return Dependencies(tuple(packages), texts["pre-requirements.txt"], texts["requirements.txt"])


def deps_dockerfile(base: str, deps: Dependencies, layers: dict[str, list[str]]) -> str:
    """apt, then one layer per requirement file: ``layers`` maps a list file (written into the
    context's ``wheels/``) to the wheel files it installs."""
    lines = [f"FROM {base}", "USER root"]
    if deps.packages:
        lines.append(
            "RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "
            + " ".join(deps.packages) + " && rm -rf /var/lib/apt/lists/*"
        )
    for listing, names in layers.items():
        if names:
            lines.append("RUN --mount=type=bind,source=wheels,target=/tmp/spaces-wheels "
                         f"pip install --no-index --no-deps -r /tmp/spaces-wheels/{listing}")
    return "\n".join(lines) + "\n"


def _wheel_layers(context: Path, deps: Dependencies, found: list[wheels.Wheel]) -> dict[str, list[str]]:
    """Pre-requirements' wheels first, in a layer of their own, then the rest; writes the lists."""
    pre = [w.name for w in found if w.first and deps.pre_requirements and deps.requirements]
    layers = {"spaces-pre-requirements.txt": pre, "spaces-requirements.txt": [w.name for w in found if w.name not in pre]}
    for listing, names in layers.items():
        (context / "wheels" / listing).write_text("".join(f"/tmp/spaces-wheels/{n}\n" for n in names))
    return layers


def _digest(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:20]


def _known(r: redis.Redis, maps: list[str], text_key: str) -> str | None:
    for name in maps:
        tag = maybe_text(r.hget(name, text_key))
        if tag and images.image_exists(tag):
            return tag
    return None


def deps_image(
    base: str, deps: Dependencies, settings: Settings, emit: Callable[[str], None], r: redis.Redis, *,
    owner: str, src: Path, fresh: bool = False,
) -> str:
    """The image with ``deps`` installed on ``base``; ``src`` is the exported repository (read-only input)."""
    base_id = images.docker_client().images.get(base).id
    text_key = _digest(base_id, deps)
    maps = [keys.deps_images_shared(), keys.deps_images_of(owner)]
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    with r.lock(keys.deps_lock(text_key), timeout=settings.build_timeout, blocking_timeout=settings.build_timeout):
        if deps.plain and not fresh and (tag := _known(r, maps, text_key)):
            emit(f"--> requirements unchanged: reusing {tag}")
            return tag
        with tempfile.TemporaryDirectory(prefix="spaces-deps-", dir=settings.work_dir) as ctx, \
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="wheel-check") as pool:
            context = Path(ctx)
            found: list[wheels.Wheel] = []
            if deps.files:
                emit(f"--> resolving {' and '.join(deps.files)} in a build sandbox")
                app_dir = src
                if deps.plain:
                    # What may be reused by its text is resolved from exactly that text (written here,
                    # not the repo's file) and the index cache alone: no owner's own wheels, no path.
                    app_dir = context / "inputs"
                    app_dir.mkdir()
                    for name, text in zip(REQUIREMENT_FILES, (deps.pre_requirements, deps.requirements), strict=True):
                        if text:
                            (app_dir / name).write_text(text + "\n")
                found = wheels.resolve(
                    image=base, app_dir=app_dir, files=deps.files, owner=owner, dest=context / "wheels",
                    settings=settings, emit=emit, timeout=settings.build_timeout, copy_app=not deps.plain,
                    owner_cache=not deps.plain,
                )
            checked = pool.submit(wheels.verify, found, base, settings, emit)
            tag = f"{DEPS_IMAGE_REPO}:{_digest(base_id, deps.packages, [(w.name, w.sha256, w.first) for w in found])}"
            if images.image_exists(tag) and not fresh:
                emit(f"--> the same wheels were installed before: reusing {tag}")
            else:
                (context / "wheels").mkdir(exist_ok=True)
                layers = _wheel_layers(context, deps, found)
                (context / "Dockerfile").write_text(deps_dockerfile(base, deps, layers))
                if deps.packages:
                    emit(f"--> installing Debian packages: {' '.join(deps.packages)}")
                emit(f"--> installing {len(found)} wheel(s) into the image")
                buildkit.build(context, context / "Dockerfile", tag, emit, buildargs={}, secrets={}, nocache=fresh,
                               labels={"org.spaces.kind": "deps"})
            verified = checked.result()
            wheels.keep(found, verified, owner, settings)
        if deps.plain:
            shared = len(verified) == len(found)
            r.hset(maps[0] if shared else maps[1], text_key, tag)
    return tag
