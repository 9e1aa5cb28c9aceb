"""Every Redis key name the platform uses, in one place.

Records live under the ``spaces:`` prefix; Traefik's routes live under ``traefik/`` (the root key
of Traefik's Redis provider) and are written only by :mod:`proxy.routes`.
"""

from __future__ import annotations

PREFIX = "spaces"
TRAEFIK_ROOT = "traefik"
RECONCILE_LOCK = f"{PREFIX}:lock:reconcile"  # held by a reconcile pass (worker.reconcile)

USERS = f"{PREFIX}:users"  # set of user names
ORGS = f"{PREFIX}:orgs"  # set of organization names
NAMESPACES = f"{PREFIX}:namespaces"  # hash: user or organization name -> "user" | "org" (one name, one owner)
SPACES_INDEX = f"{PREFIX}:spaces"  # sorted set: space id -> created timestamp
BUILD_SEQ = f"{PREFIX}:build-seq"
SPACE_USAGE = f"{PREFIX}:usage"  # hash: space id -> JSON {memory, cpu_percent, image_size, started_at, at} (the monitor)
DISK_USAGE = f"{PREFIX}:disk"  # JSON: bytes used by images, volumes, build cache and our folders (the monitor)
CLEANUP_RESULT = f"{PREFIX}:disk:cleanup"  # JSON {at, removed, freed_bytes, skipped} of the last clean-up
MONITOR_HEARTBEAT = f"{PREFIX}:monitor:heartbeat"  # JSON {at, docker, instances}, with a TTL

QUEUE_BUILDS = "builds"
QUEUE_RUNS = "runs"


def user(name: str) -> str:
    return f"{PREFIX}:user:{name}"


def token(token_hash: str) -> str:
    return f"{PREFIX}:token:{token_hash}"


def user_tokens(name: str) -> str:
    return f"{PREFIX}:user:{name}:tokens"


def user_orgs(name: str) -> str:
    """Hash: organization -> the user's role in it (mirror of :func:`org_members`)."""
    return f"{PREFIX}:user:{name}:orgs"


def org(name: str) -> str:
    return f"{PREFIX}:org:{name}"


def org_members(name: str) -> str:
    """Hash: user -> role in the organization (read, write, admin)."""
    return f"{PREFIX}:org:{name}:members"


def session(session_hash: str) -> str:
    """A browser session on the platform's own domain (value: hash of the cookie)."""
    return f"{PREFIX}:session:{session_hash}"


def space_session(session_hash: str) -> str:
    """A browser session for one private Space's subdomain."""
    return f"{PREFIX}:space-session:{session_hash}"


def auth_ticket(ticket_hash: str) -> str:
    """One-time ticket that carries a signed-in browser from the platform to a private Space's subdomain."""
    return f"{PREFIX}:auth-ticket:{ticket_hash}"


def failures(kind: str, subject: str) -> str:
    """Counter of failed sign-ins or bad tokens (``kind``) by one client or for one user, with a TTL."""
    return f"{PREFIX}:failures:{kind}:{subject}"


def space(space_id: str) -> str:
    return f"{PREFIX}:space:{space_id}"


def subdomain(label: str) -> str:
    """Claim on a subdomain label: value is the Space id holding it."""
    return f"{PREFIX}:subdomain:{label}"


def space_builds(space_id: str) -> str:
    """List of build ids of a Space, newest first."""
    return f"{PREFIX}:space:{space_id}:builds"


def space_variables(space_id: str) -> str:
    """Hash: variable name -> JSON {value, description, updatedAt}."""
    return f"{PREFIX}:space:{space_id}:variables"


def space_secrets(space_id: str) -> str:
    """Hash: secret name -> JSON {token (Fernet-encrypted value), description, updatedAt}."""
    return f"{PREFIX}:space:{space_id}:secrets"


def space_events(space_id: str) -> str:
    """Stream of stage changes of a Space (what a waiting ``git push`` follows)."""
    return f"{PREFIX}:space:{space_id}:events"


def space_run_log(space_id: str) -> str:
    """Stream of the app's output (last lines, across restarts and redeploys): line, instance, ts."""
    return f"{PREFIX}:space:{space_id}:runlog"


def build(build_id: str) -> str:
    return f"{PREFIX}:build:{build_id}"


def build_log(build_id: str) -> str:
    """Stream of log lines of one build."""
    return f"{PREFIX}:build:{build_id}:log"


def owner_waits(owner: str) -> str:
    """Sorted set: the builds of one owner's Spaces whose deploy waits for its app, scored by the
    unix time their wait ends at the latest (an entry left by a worker that died expires then)."""
    return f"{PREFIX}:owner:{owner}:waits"


def space_lock(space_id: str) -> str:
    return f"{PREFIX}:lock:space:{space_id}"


def route_lock(space_id: str) -> str:
    """Held for moments: while a Space's route is written from its record, and while its visibility
    changes (record and route together), so no route is ever written from a stale visibility."""
    return f"{PREFIX}:lock:route:{space_id}"


def first_push_lock(space_id: str) -> str:
    """Held for moments while a push to a Space without a record makes, or removes, its empty repository."""
    return f"{PREFIX}:lock:first-push:{space_id}"


def first_pushes(space_id: str) -> str:
    """Sorted set: git requests under way to a Space that has no record yet -> their start time."""
    return f"{PREFIX}:first-push:{space_id}"


def deps_lock(deps_key: str) -> str:
    return f"{PREFIX}:lock:deps:{deps_key}"


def deps_images_shared() -> str:
    """Hash: requirement text key -> dependencies image built only from index wheels (any Space may reuse it)."""
    return f"{PREFIX}:deps-images:shared"


def deps_images_of(owner: str) -> str:
    """Hash: requirement text key -> dependencies image holding wheels an owner's build made (that owner only)."""
    return f"{PREFIX}:deps-images:owner:{owner}"


def metric(name: str) -> str:
    """Hash of one Prometheus counter or histogram (see core.metrics)."""
    return f"{PREFIX}:metric:{name}"
