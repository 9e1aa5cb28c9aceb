"""Names of users and Spaces, and the subdomain each Space is served at.

A Space id is ``owner/name``. Both parts follow the DNS-label rule so that ``owner-name`` is a
valid host label. ``owner-name`` alone is ambiguous (``a-b/c`` and ``a/b-c``), so the subdomain is
*claimed* once, when the Space is created, and stored; :func:`subdomain_candidates` gives the
preferred label first and a hashed, still-readable fallback second. Labels over 63 characters are
shortened with a hash of the full id, which keeps them stable and distinct.
"""

from __future__ import annotations

import hashlib
import re

from core.errors import InvalidName

LABEL_RULE = (
    "1 to 63 characters: lowercase letters a-z, digits 0-9 and '-', "
    "starting and ending with a letter or digit"
)
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
MAX_LABEL = 63
RESERVED_OWNERS = frozenset({"api", "spaces", "admin", "static", "login", "logout", "www"})


def validate_label(value: object, what: str) -> str:
    """Return ``value`` if it is a valid DNS label, else raise :class:`InvalidName` naming the rule."""
    if not isinstance(value, str) or not _LABEL.match(value):
        raise InvalidName(f"invalid {what} {value!r}: a {what} must be {LABEL_RULE}")
    return value


def validate_user_name(name: str) -> str:
    validate_label(name, "user name")
    if name in RESERVED_OWNERS:
        raise InvalidName(f"invalid user name {name!r}: it is reserved")
    return name


def parse_space_id(owner: str, name: object) -> str:
    """Validate both parts and return the Space id ``owner/name`` (``name`` may come from a request body: anything)."""
    validate_label(owner, "owner name")
    validate_label(name, "Space name")
    return f"{owner}/{name}"


def _short_hash(space_id: str) -> str:
    return hashlib.sha256(space_id.encode()).hexdigest()[:8]


def subdomain_candidates(space_id: str) -> list[str]:
    """Labels this Space may be served at, most readable first."""
    owner, name = space_id.split("/", 1)
    plain = f"{owner}-{name}"
    hashed_suffix = "-" + _short_hash(space_id)
    hashed = plain[: MAX_LABEL - len(hashed_suffix)].rstrip("-") + hashed_suffix
    return [plain, hashed] if len(plain) <= MAX_LABEL else [hashed]


ID_SEPARATOR = "."  # never in a DNS label, valid in Docker's container, volume and image names


def container_safe(space_id: str) -> str:
    """A name fragment for a Space's Docker objects (image repository, ``/data`` volume, container
    names): ``owner.name``. One-to-one, as no label holds a ``.``: ``ab/x--vol`` is ``ab.x--vol`` and
    ``ab--x/vol`` is ``ab--x.vol``, so no two Spaces ever share an image, a volume or a name."""
    owner, _, name = space_id.partition("/")
    validate_label(owner, "owner name")
    validate_label(name, "Space name")
    return f"{owner}{ID_SEPARATOR}{name}"


def legacy_container_safe(space_id: str) -> str:
    """The fragment used before ``container_safe``: ``owner--name``, which two Spaces can share
    (``ab/x--vol``, ``ab--x/vol``). Only for finding what a Space made earlier, and only together
    with the ``org.spaces.space`` label that says whose it is."""
    return space_id.replace("/", "--")


APP_IMAGE_REPO = "spaces-app"


def app_image_repo(space_id: str) -> str:
    """Repository of a Space's images; tags are commit ids (one image per commit)."""
    return f"{APP_IMAGE_REPO}/{container_safe(space_id)}"


DEPS_IMAGE_REPO = "spaces-deps"  # dependency images, tagged by the hash of what they install


STATIC_SERVER_IMAGE = "spaces-static-server:1"
STATIC_SERVER_NAME = "spaces-static-server"
