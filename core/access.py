"""Who may do what: the platform's authorization rules, in one place.

A :class:`Caller` is a signed-in user as one request presents them: their platform role, the role
of the credential used (a ``read`` token, a ``write`` token, or a browser session, which counts as
``read`` on the API so that a forged cross-site request can change nothing) and their
organizations. Rules:

- a **public** Space (and its repository) is readable by anyone; a **private** one only by its
  owner, the members of its organization (any role) and admins; a **protected** one serves its
  app to anyone but keeps its repository, logs and settings to those same people;
- changing a Space (push, settings, secrets, restart, delete, ...) needs a ``write`` credential
  and: being the owner, a ``write`` or ``admin`` member of the owning organization, or an admin;
- managing an organization's members needs its ``admin`` role (or being a platform admin).

Refusals to people who may not read a Space say "does not exist" (404), as Hugging Face does, so
that private Spaces cannot be discovered by probing names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.errors import Forbidden, InvalidInput, NotFound, SpacesError
from core.models import Space

VISIBILITIES = ("public", "private", "protected")


@dataclass(frozen=True)
class Caller:
    name: str
    role: str = "user"  # platform role: "user" or "admin"
    token_role: str = "read"  # credential: "read" or "write"
    orgs: dict[str, str] = field(default_factory=dict)  # organization -> member role
    token_name: str = ""
    token_created_at: str = ""
    via: str = "token"  # "token", "session", or "form" (a session's form with its CSRF token)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def can_write(self) -> bool:
        return self.token_role == "write"

    def role_in(self, namespace: str) -> str | None:
        """The caller's standing in a namespace: "admin", "write", "read" or None."""
        if self.is_admin or self.name == namespace:
            return "admin"
        return self.orgs.get(namespace)


def visibility(space: Space) -> str:
    """``public``, ``protected`` or ``private`` (a record's unknown value reads as private: it fails closed)."""
    return space.visibility.value


def visibility_from(body: dict, default: str | None = None) -> str:
    """The visibility a request asks for: ``{"visibility": …}``, or huggingface_hub's older
    ``{"private": bool}`` (given both, they must agree); ``default`` if it asks for none."""
    wanted = body.get("visibility")
    if "private" in body:
        if not isinstance(body["private"], bool):
            raise InvalidInput(f"private must be true or false; got {body['private']!r}")
        if wanted is None:
            wanted = "private" if body["private"] else "public"
        elif (wanted == "private") != body["private"]:
            raise InvalidInput(f"private={body['private']} contradicts visibility={wanted!r}")
    wanted = wanted or default
    if wanted not in VISIBILITIES:
        raise InvalidInput(f"visibility must be one of {', '.join(VISIBILITIES)}; got {wanted!r}")
    return wanted


def is_private(space: Space) -> bool:
    return visibility(space) == "private"


def may_read_space(caller: Caller | None, space: Space) -> bool:
    """May ``caller`` see the Space (its page, API record, app)?"""
    if visibility(space) != "private":
        return True
    return caller is not None and caller.role_in(space.owner) is not None


def may_read_repo(caller: Caller | None, space: Space) -> bool:
    """May ``caller`` clone the Space's repository and read its logs and variables?"""
    if visibility(space) == "public":
        return True
    return caller is not None and caller.role_in(space.owner) is not None


def may_write_namespace(caller: Caller | None, namespace: str) -> bool:
    return caller is not None and caller.can_write and caller.role_in(namespace) in ("write", "admin")


def require_read(caller: Caller | None, space: Space, *, repo: bool = False) -> None:
    allowed = may_read_repo(caller, space) if repo else may_read_space(caller, space)
    if not allowed:
        if repo and may_read_space(caller, space):
            raise Forbidden(f"the repository of {space.id} is private to its owners")
        raise NotFound(f"Space {space.id} does not exist")


def require_write(caller: Caller, namespace: str, space: Space | None = None, *, verb: str = "change") -> None:
    """Refuse unless ``caller`` may change Spaces of ``namespace``. Someone who cannot even read
    the (private) ``space`` is told it does not exist."""
    if space is not None and not may_read_space(caller, space):
        raise NotFound(f"Space {space.id} does not exist")
    if caller.role_in(namespace) not in ("write", "admin"):
        raise Forbidden(f"{caller.name} may not {verb} Spaces of '{namespace}'")
    if not caller.can_write:
        what = "a browser session can only read through the API" if caller.via == "session" else f"the token of {caller.name} is read-only"
        raise Forbidden(f"{what}; a write token is needed")


def require_owner_read(caller: Caller, space: Space) -> None:
    """Refuse unless ``caller`` may read what only the Space's owners see (run logs, secret names).
    Like :func:`require_write`, except that a browser session (read-only on the API) is enough:
    reading changes nothing, and other sites cannot read our answers."""
    if caller.via == "session" and may_read_space(caller, space) and caller.role_in(space.owner) in ("write", "admin"):
        return
    require_write(caller, space.owner, space)


def require_org_admin(caller: Caller, org: str) -> None:
    if caller.role_in(org) != "admin":
        raise Forbidden(f"{caller.name} is not an admin of '{org}'")
    if not caller.can_write:
        raise Forbidden(f"the token of {caller.name} is read-only; a write token is needed")


def require_platform_admin(caller: Caller, *, write: bool = True) -> None:
    if not caller.is_admin:
        raise Forbidden(f"{caller.name} is not a platform admin")
    if write and not caller.can_write:
        raise Forbidden(f"the token of {caller.name} is read-only; a write token is needed")


def may_read_run_log(caller: Caller | None, space: Space) -> bool:
    """May ``caller`` read the app's output (the run log, and log lines quoted in its error)?"""
    if caller is None:
        return False
    try:
        require_owner_read(caller, space)
    except SpacesError:
        return False
    return True


# How builders and workers introduce log lines in a Space's error message (builder.jobs,
# worker.health): what follows is the build log's or the app's output.
LOG_MARKS = {"--- last build log lines ---": "build", "--- last log lines ---": "run"}
BUILD_STAGES = ("CONFIG_ERROR", "BUILD_ERROR", "NO_APP_FILE")
_STATUS_LINE = re.compile(r"\((restarting in \d+ s, attempt \d+ of \d+|gave up after \d+ restarts; [^()\n]{0,80})\)")
ERROR_MESSAGE_MAX = 8000  # characters of an error message shown at all


def error_message_for(caller: Caller | None, space: Space, stage: str, message: str) -> str:
    """The Space's error message as ``caller`` may see it. A build's reason and log quote the
    repository, so for a ``protected`` Space only those who may read its repository get them; the
    app's last log lines (which may hold what visitors typed) only those who may read its run log.
    Others get the stage's reason without the lines."""
    if stage in BUILD_STAGES and not may_read_repo(caller, space):
        return (f"the build failed ({stage}); the reason and the build log are visible to the Space's owners"
                if message else "")
    return without_log_lines(message, build=may_read_repo(caller, space),
                             run=may_read_run_log(caller, space))


def without_log_lines(message: str, *, build: bool, run: bool) -> str:
    """``message`` without the log lines the reader may not see (``build``/``run``: which they may),
    cut to :data:`ERROR_MESSAGE_MAX` characters."""
    # Whatever lies past the limit is never shown, so it need not be read (old records hold megabytes).
    lines = message[: ERROR_MESSAGE_MAX + 100].splitlines()
    for index, line in enumerate(lines):
        kind = LOG_MARKS.get(line.strip())
        if kind is None or (build if kind == "build" else run):
            continue
        status = [lines[-1]] if index < len(lines) - 1 and _STATUS_LINE.fullmatch(lines[-1].strip()) else []
        note = "(the build log is visible to the Space's owners)" if kind == "build" else \
            "(its last log lines are visible to the Space's owners)"
        lines = [*lines[:index], note, *status]
        break
    text = "\n".join(lines)
    return text if len(text) <= ERROR_MESSAGE_MAX else text[: ERROR_MESSAGE_MAX - 1] + "…"
