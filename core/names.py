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


def validate_label(value: str, what: str) -> str:
    """Return ``value`` if it is a valid DNS label, else raise :class:`InvalidName` naming the rule."""
    if not isinstance(value, str) or not _LABEL.match(value):
        raise InvalidName(f"invalid {what} {value!r}: a {what} must be {LABEL_RULE}")
    return value


def validate_user_name(name: str) -> str:
    validate_label(name, "user name")
    if name in RESERVED_OWNERS:
        raise InvalidName(f"invalid user name {name!r}: it is reserved")
    return name


def parse_space_id(owner: str, name: str) -> str:
    """Validate both parts and return the Space id ``owner/name``."""
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


def container_safe(space_id: str) -> str:
    """A name fragment for Docker objects (containers, image repositories)."""
    return space_id.replace("/", "--")


APP_IMAGE_REPO = "spaces-app"


def app_image_repo(space_id: str) -> str:
    """Repository of a Space's images; tags are commit ids (one image per commit)."""
    return f"{APP_IMAGE_REPO}/{container_safe(space_id)}"


DEPS_IMAGE_REPO = "spaces-deps"  # dependency images, tagged by the hash of what they install


STATIC_SERVER_IMAGE = "spaces-static-server:1"
STATIC_SERVER_NAME = "spaces-static-server"
