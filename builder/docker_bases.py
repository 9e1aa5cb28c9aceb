"""What a Docker Space's Dockerfile may build from, and the Dockerfile BuildKit is actually given.

A Space's build may reach only the platform's stand-ins for public bases and its own earlier
stages. No registry is reachable here, so ``FROM python:3.11-slim`` (the most common base on
Hugging Face) becomes ``spaces-python-slim:3.11``, built from Debian packages, and the build log
says so. Every other route to an image in the host's Docker — ``FROM`` of any other image (another
Space's image, a dependency or runtime image), ``COPY --from=<image>``, ``RUN --mount=from=<image>``,
a ``# syntax=`` frontend image, a base named by a build argument (build arguments are the Space's
variables), a stage number that is not an earlier stage, the same in ``ONBUILD`` — is a
``BUILD_ERROR`` naming the line and what is allowed. ``ADD`` of a URL or git repository is refused
too: BuildKit fetches those from the host itself, not from the build's container.

The Dockerfile is read with :mod:`builder.dockerfile_syntax` and handed to BuildKit in canonical
form (one instruction per line), so that BuildKit builds exactly what was checked. Where a
registry is configured (``SPACES_BASE_IMAGE``), public images from Docker Hub or that registry are
left as written; the platform's own images stay out of reach there too.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import logging
import re
from collections.abc import Callable

from builder import base_images, images
from builder.dockerfile_syntax import GO_SPACE, Command, DockerfileError, Instruction, parse
from core.errors import BuildFailed
from core.settings import get_settings

log = logging.getLogger(__name__)

PYTHON_TAGS = re.compile(r"^(3\.11(\.\d+)?)(-slim)?(-bookworm)?$|^(3|latest|slim|bookworm|slim-bookworm|3-slim)$")
CACHE_SCOPE_ARG = "SPACES_CACHE_SCOPE"
CACHE_MOUNT_NS_ARG = "BUILDKIT_CACHE_MOUNT_NS"
DEBIAN_TAGS = {"bookworm", "bookworm-slim", "12", "12-slim", "stable", "stable-slim", "latest"}
OFFICIAL_FRONTEND = re.compile(r"^(docker\.io/)?docker/dockerfile(:[A-Za-z0-9._-]+)?(@sha256:[0-9a-f]{64})?$")
STAGE_NAME = re.compile(r"^[a-z][a-z0-9._-]*$")
PLATFORM_VALUE = re.compile(r"^[A-Za-z0-9_./${}:-]+$")
# Flags BuildKit knows per instruction; any other flag (a future route to an image) is refused.
FLAGS = {
    "from": {"platform"},
    "run": {"mount", "network", "security"},
    "copy": {"from", "chown", "chmod", "link", "parents", "exclude"},
    "add": {"chown", "chmod", "link", "checksum", "keep-git-dir", "exclude"},
    "onbuild": set(),
}
STAGES_ONLY = ("a Docker Space may copy and mount only from its own earlier stages (by name or number), "
               "never from an image: add a stage such as 'FROM python:3.11-slim AS base' and use --from=base")
Emit = Callable[[str], None]


def _short(text: object, limit: int = 120) -> str:
    """User text quoted in an error message, cut to a readable length."""
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "…"


class Refused(Exception):
    """One instruction is not allowed; the message says what and what is allowed instead."""


def available() -> str:
    root = base_images.root_image(get_settings())
    return ("python:3.11, python:3.11-slim, python:3.11-bookworm (as spaces-python-slim:3.11), "
            f"debian:bookworm, debian:bookworm-slim (as the Debian root image {root}), the stand-ins "
            f"{base_images.PYTHON_SLIM_IMAGE}, {base_images.PYTHON_IMAGE} and {root} by name, scratch, "
            "and the Dockerfile's own earlier stages")


def _quiet(line: str) -> None:
    """Base images are normally present already; their build output is not the Space's business."""


def split_reference(image: str) -> tuple[str, str]:
    """``docker.io/library/python:3.11-slim@sha256:...`` → ``("python", "3.11-slim")``."""
    ref = image.split("@", 1)[0]
    name, tag = ref.rsplit(":", 1) if ":" in ref.rsplit("/", 1)[-1] else (ref, "latest")
    for prefix in ("index.docker.io/", "docker.io/", "library/"):
        name = name.removeprefix(prefix)
    return name, tag


def _registry_host(image: str) -> str:
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return "docker.io" if first.lower() == "index.docker.io" else first.lower()
    return "docker.io"


def _stand_ins() -> dict[str, Callable[[], str]]:
    settings = get_settings()
    python = functools.partial(base_images.ensure_python, settings, _quiet)
    return {
        base_images.PYTHON_SLIM_IMAGE: python,
        base_images.PYTHON_IMAGE: python,
        base_images.root_image(settings): functools.partial(base_images.ensure_root, settings, _quiet),
    }


def _platform_image(image: str) -> bool:
    """Images the platform makes (Spaces' images, dependency, runtime and server images) or ids."""
    name, _ = split_reference(image.lower())
    return name.startswith("spaces") or bool(re.fullmatch(r"(sha256:)?[0-9a-f]{12,64}", image.lower()))


def resolve_base(image: str) -> tuple[str, str | None]:
    """The image to build from, and a note for the build log when it was mapped."""
    settings = get_settings()
    stand_ins = _stand_ins()
    if image in stand_ins:
        stand_ins[image]()
        return image, None
    if _platform_image(image):
        raise BuildFailed(f"base image {_short(image)}: the platform's own images (other Spaces' images, dependency "
                          f"and runtime images) cannot be built from; available: {available()}")
    if settings.base_image:
        allowed = {"docker.io", _registry_host(settings.base_image)}
        if _registry_host(image) not in allowed:
            raise BuildFailed(f"base image {_short(image)}: images come from {' or '.join(sorted(allowed))} here")
        return image, None
    name, tag = split_reference(image)
    if name == "python" and PYTHON_TAGS.match(tag):
        base_images.ensure_python(settings, _quiet)
        target = base_images.PYTHON_SLIM_IMAGE
        note = f"FROM {image} → {target} (no registry here; Debian's Python 3.11 built locally)"
        if not tag.startswith("3.11"):
            note += f"; note: '{image}' means a newer Python elsewhere, here it is 3.11"
        return target, note
    if name == "debian" and tag in DEBIAN_TAGS:
        target = base_images.ensure_root(settings, _quiet)
        return target, f"FROM {image} → {target} (no registry here; Debian bookworm built locally)"
    raise BuildFailed(f"base image {_short(image)} cannot be had here (no registry is reachable); available: {available()}")


@functools.lru_cache
def engine_reads_heredocs() -> bool:
    """Whether the Docker Engine's built-in Dockerfile frontend reads heredocs (BuildKit 0.11+,
    Docker 24+). Debian bookworm's 20.10 does not: there the lines after ``RUN <<EOF`` are
    instructions, and they are checked as such."""
    version = str(images.docker_client().version().get("Version", ""))
    major = re.match(r"(\d+)\.", version)
    return major is not None and int(major.group(1)) >= 24


def map_bases(dockerfile: str, emit: Emit, *, heredocs: bool | None = None) -> str:
    """Check the Space's Dockerfile and return the canonical one to build, bases mapped onto local images."""
    if heredocs is None:
        heredocs = engine_reads_heredocs()
    try:
        parsed = parse(dockerfile, heredocs=heredocs)
    except DockerfileError as exc:
        raise BuildFailed(str(exc)) from exc
    if parsed.syntax:
        _syntax(*parsed.syntax, emit)
    out = [f"# escape={parsed.escape}"] if parsed.escape != "\\" else []
    stages: list[str | None] = []
    for instruction in parsed.instructions:
        try:
            out += _render(instruction, stages, emit, parsed.escape)
        except Refused as exc:
            raise BuildFailed(f"Dockerfile line {instruction.line}: {exc}") from exc
        except BuildFailed as exc:
            raise BuildFailed(f"Dockerfile line {instruction.line}: {exc.message}") from exc
    if not stages:
        raise BuildFailed("the Dockerfile has no FROM line")
    return "\n".join(out) + "\n"


def _syntax(line: int, value: str, emit: Emit) -> None:
    if OFFICIAL_FRONTEND.match(value):
        emit(f"--> '# syntax={value}' ignored: no registry here, the Docker Engine's built-in Dockerfile frontend builds it")
        return
    raise BuildFailed(f"Dockerfile line {line}: '# syntax={_short(value)}': BuildKit would run that image as the build's "
                      "frontend; only docker/dockerfile (the built-in frontend stands in for it) is allowed")


def _render(instruction: Instruction, stages: list[str | None], emit: Emit, escape: str) -> list[str]:
    command = instruction.command
    if command.name == "from":
        line = _from_line(command, stages, emit)
        # A declared build argument is part of every later RUN step's cache key: scoped per Space,
        # no Space can hit a layer another Space built (e.g. with one of its build secrets).
        return [line, f"ARG {CACHE_SCOPE_ARG}"]
    check_command(command, earlier_stages(stages))
    text = instruction.text
    if text.endswith(escape):
        raise Refused(f"the instruction ends with an escaped '{escape}', which Docker versions read differently; "
                      "end the line with something else")
    if len(text.encode()) > 60000:
        raise Refused("an instruction longer than 60 kB (continuations joined); split it or use a script file")
    return [text, *instruction.body]


def earlier_stages(stages: list[str | None]) -> list[str | None]:
    """The stages before the current one (the last FROM)."""
    return stages[:-1]


def _from_line(command: Command, stages: list[str | None], emit: Emit) -> str:
    _check_flags(command)
    for flag in command.flags:
        if flag.value is None or not PLATFORM_VALUE.match(flag.value):
            raise Refused(f"FROM {_short(flag)}: expected --platform=<os/arch>")
    words = command.words
    if len(words) not in (1, 3) or (len(words) == 3 and words[1].lower() != "as"):
        raise Refused(f"FROM {command.args[:80]!r}: write FROM <image> or FROM <image> AS <name>")
    alias = words[2].lower() if len(words) == 3 else None
    if alias is not None and (not STAGE_NAME.match(alias) or alias in stages):
        raise Refused(f"FROM ... AS {_short(words[2])}: a stage name is a letter, then letters, digits, '.', '_' or '-', "
                      "used once")
    target = _base(words[0], stages, emit)
    stages.append(alias)
    parts = ["FROM", *(str(flag) for flag in command.flags), target]
    return " ".join(parts + (["AS", alias] if alias else []))


def _base(image: str, stages: list[str | None], emit: Emit) -> str:
    if "$" in image:
        raise Refused(f"FROM {_short(image)}: a base image given by a build argument is not allowed (build arguments are "
                      f"the Space's variables); write it out; available: {available()}")
    if image.lower() in stages:
        return image.lower()
    if image == "scratch":
        return image
    target, note = resolve_base(image)
    if note:
        emit(f"--> {note}")
    return target


def check_command(command: Command, earlier: list[str | None], *, onbuild: bool = False) -> None:
    """Refuse every route to an image, or out of the build container, in one instruction."""
    _check_flags(command)
    where = "ONBUILD " if onbuild else ""
    if command.name == "onbuild":
        inner = command.inner
        assert inner is not None
        if inner.name in {"onbuild", "from", "maintainer"}:
            raise Refused(f"ONBUILD {inner.name.upper()} is not allowed")
        check_command(inner, [], onbuild=True)
        return
    for flag in command.flags:
        what = f"{where}{command.name.upper()} {_short(flag)}"
        if flag.name == "from":
            _check_source(flag.value, earlier, what, onbuild)
        elif flag.name == "mount":
            _check_mount(flag.value or "", earlier, what, onbuild)
        elif flag.name == "network" and flag.value not in ("default", "none"):
            raise Refused(f"{what}: a build step gets the build network or none (--network=none)")
        elif flag.name == "security" and flag.value != "sandbox":
            raise Refused(f"{what}: build steps run sandboxed")
    if command.name == "add":
        _check_add_sources(command, where)


def _check_flags(command: Command) -> None:
    allowed = FLAGS.get(command.name)
    if allowed is None:
        return
    for flag in command.flags:
        if flag.name not in allowed:
            names = ", ".join(f"--{name}" for name in sorted(allowed)) or "none"
            raise Refused(f"{command.name.upper()} {_short(flag)}: this flag is not allowed on {command.name.upper()} "
                          f"(allowed: {names})")


def _check_source(value: str | None, earlier: list[str | None], what: str, onbuild: bool) -> None:
    if onbuild:
        raise Refused(f"{what}: ONBUILD steps may not copy or mount from stages or images")
    value = value or ""
    if re.fullmatch(r"[0-9]+", value) and int(value) < len(earlier):
        return
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9._-]*", value) and value.lower() in earlier:
        return
    raise Refused(f"{what}: '{_short(value)}' is not an earlier stage of this Dockerfile; {STAGES_ONLY}")


def _check_mount(value: str, earlier: list[str | None], what: str, onbuild: bool) -> None:
    """``--mount=type=bind,from=x,...``: BuildKit reads it as one CSV record of key=value fields."""
    try:
        rows = list(csv.reader([value]))
    except csv.Error as exc:
        raise Refused(f"{what}: cannot read the mount options ({exc})") from exc
    fields = (rows[0] if rows else []) + value.split(",")  # both readings: quotes must not hide a from=
    sources = [v for k, _, v in (f.partition("=") for f in fields) if k.strip(GO_SPACE + "\"'").lower() == "from"]
    if not sources and re.search(r"from[\s\"']*=", value, re.IGNORECASE):
        raise Refused(f"{what}: cannot read the mount's from= option; write it as from=<stage>")
    for source in sources:
        _check_source(source.strip(GO_SPACE + "\"'"), earlier, what, onbuild)


_REMOTE = re.compile(r"://|^[^/]*@[^/]*:|^git@", re.IGNORECASE)


def _check_add_sources(command: Command, where: str) -> None:
    """``ADD`` of a URL or git repository is fetched by the Docker Engine on the host: refused."""
    listed = command.json_args or []
    for source in listed[:-1] + command.words[:-1]:
        if "$" in source:
            raise Refused(f"{where}ADD {_short(source)}: a source given by a build argument is not allowed; "
                          "use COPY for files of the repository")
        plain = re.sub(r"[\\`\"']", "", source)
        if _REMOTE.search(plain):
            raise Refused(f"{where}ADD {_short(source)}: ADD of a URL or git repository would be fetched by the host; "
                          "download it in a RUN step (curl, wget, git, pip) or COPY it from the repository")


def build_args(variables: dict[str, str], space_id: str, emit: Emit) -> dict[str, str]:
    """The build arguments of a Docker Space's build: its variables, minus BuildKit's own settings.

    ``BUILDKIT_SYNTAX`` would run any local image as the build's frontend (bypassing every check
    here) and ``BUILDKIT_CACHE_MOUNT_NS`` would open another Space's cache mounts: variables with
    BuildKit's prefix stay out of the build (the running app still gets them). Cache mounts
    (``RUN --mount=type=cache``) are namespaced per Space, and the cache scope is set last.
    """
    reserved = sorted(k for k in variables if k.upper().startswith("BUILDKIT_") or k == CACHE_SCOPE_ARG)
    if reserved:
        emit(f"--> variables not passed to the build (BuildKit's own settings): {', '.join(reserved)}")
    args = {k: v for k, v in variables.items() if k not in reserved}
    scope = hashlib.sha256(space_id.encode()).hexdigest()[:32]
    args[CACHE_MOUNT_NS_ARG] = f"space-{scope}"
    args[CACHE_SCOPE_ARG] = space_id
    return args
