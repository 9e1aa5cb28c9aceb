"""``FROM`` lines of Docker Spaces: map well-known public bases onto the locally built images.

No registry is reachable here, so ``FROM python:3.11-slim`` (the most common base on Hugging
Face) becomes ``spaces-python-slim:3.11``, which behaves like it; the build log says so. A base
that cannot be had fails the build with the list of what is available. Where a registry is
configured (``SPACES_BASE_IMAGE``), ``FROM`` lines are left as written.
"""

from __future__ import annotations

import re

from builder import base_images, images
from core.errors import BuildFailed
from core.names import APP_IMAGE_REPO, DEPS_IMAGE_REPO
from core.settings import get_settings

_FROM = re.compile(r"^(?P<lead>\s*FROM\s+)(?P<flags>(?:--\S+\s+)*)(?P<image>\S+)(?P<rest>.*)$", re.IGNORECASE)
_AS = re.compile(r"^\s+AS\s+(\S+)", re.IGNORECASE)
PYTHON_TAGS = re.compile(r"^(3\.11(\.\d+)?)(-slim)?(-bookworm)?$|^(3|latest|slim|bookworm|slim-bookworm|3-slim)$")
CACHE_SCOPE_ARG = "SPACES_CACHE_SCOPE"
DEBIAN_TAGS = {"bookworm", "bookworm-slim", "12", "12-slim", "stable", "stable-slim", "latest"}


def available() -> str:
    local = sorted(
        tag for image in images.docker_client().images.list()
        for tag in image.tags if tag.startswith("spaces-") and not tag.startswith((f"{APP_IMAGE_REPO}/", f"{DEPS_IMAGE_REPO}:"))
    )
    return ("python:3.11, python:3.11-slim, python:3.11-bookworm (as spaces-python-slim:3.11), "
            "debian:bookworm, debian:bookworm-slim (as the Debian root image)"
            + (", and the local images " + ", ".join(local) if local else ""))


def _quiet(line: str) -> None:
    """Base images are normally present already; their build output is not the Space's business."""


def split_reference(image: str) -> tuple[str, str]:
    """``docker.io/library/python:3.11-slim@sha256:...`` → ``("python", "3.11-slim")``."""
    ref = image.split("@", 1)[0]
    name, tag = ref.rsplit(":", 1) if ":" in ref.rsplit("/", 1)[-1] else (ref, "latest")
    return name.removeprefix("docker.io/").removeprefix("library/"), tag


def resolve_base(image: str) -> tuple[str, str | None]:
    """The image to build from, and a note for the build log when it was mapped."""
    settings = get_settings()
    if settings.base_image or image.startswith("spaces-"):
        if image.startswith("spaces-") and not images.image_exists(image):
            raise BuildFailed(f"base image {image} does not exist here; available: {available()}")
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
    raise BuildFailed(f"base image {image} cannot be had here (no registry is reachable); available: {available()}")


def map_bases(dockerfile: str, emit) -> str:
    """Rewrite the Dockerfile's FROM lines onto local images; stage names are left alone."""
    stages: set[str] = set()
    out = []
    for line in dockerfile.splitlines():
        match = _FROM.match(line)
        if not match:
            out.append(line)
            continue
        image = match["image"]
        if "$" in image:
            raise BuildFailed(f"'FROM {image}': a base image given by a build argument is not supported; write it out")
        if image.lower() not in stages:
            image, note = resolve_base(image)
            if note:
                emit(f"--> {note}")
        alias = _AS.match(match["rest"])
        if alias:
            stages.add(alias.group(1).lower())
        out.append(f"{match['lead']}{match['flags']}{image}{match['rest']}")
        # A declared build argument is part of every later RUN step's cache key: scoped per Space,
        # no Space can hit a layer another Space built (e.g. with one of its build secrets).
        out.append(f"ARG {CACHE_SCOPE_ARG}")
    if not stages and not any(_FROM.match(line) for line in out):
        raise BuildFailed("the Dockerfile has no FROM line")
    return "\n".join(out) + "\n"
