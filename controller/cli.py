"""The ``spaces`` command line: the user commands of :mod:`client.cli` (HTTP only) plus the
administration groups ``user``, ``org`` and ``admin``.

The administration commands talk to the platform's Redis directly (run them where the platform
runs, as the user that runs it). ``spaces user create NAME`` prints the new user's write token
alone on its last line, so scripts can take it with ``tail -n1``.
"""

from __future__ import annotations

import secrets
import sys

import typer

from client.cli import app, run  # the user commands; the admin groups are added below
from core.errors import SpacesError

# The platform's modules (Redis, settings, password hashing) are imported by the administration
# commands that use them: the user commands start in half the time without them.

user_app = typer.Typer(help="Users and their access tokens (run on the platform's host).", no_args_is_help=True)
app.add_typer(user_app, name="user")
org_app = typer.Typer(help="Organizations and their members (run on the platform's host).", no_args_is_help=True)
app.add_typer(org_app, name="org")
admin_app = typer.Typer(help="Platform administration (run on the platform's host).", no_args_is_help=True)
app.add_typer(admin_app, name="admin")


def fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def read_password(from_stdin: bool) -> str | None:
    if not from_stdin:
        return None
    password = sys.stdin.readline().rstrip("\n")
    if not password:
        fail("--password-stdin was given but standard input had no password")
    return password


@admin_app.command("rotate-secrets-key")
def rotate_secrets_key() -> None:
    """Encrypt every Space secret under a new key and retire the old key."""
    from core import envvars, store

    count = envvars.rotate_key(store.get_redis())
    typer.echo(f"re-encrypted {count} secret(s) under a new key in {envvars.key_path()}")


@admin_app.command("rotate-session-key")
def rotate_session_key() -> None:
    """Replace the key that signs forms (CSRF) and end every browser session: for a key that leaked."""
    from core import sessions, store
    from core.settings import get_settings

    ended = sessions.rotate_key(store.get_redis())
    typer.echo(f"new session key in {get_settings().data_dir / 'session.key'}; ended {ended} browser session(s)")


FIRST_ADMIN = "administrator"


@admin_app.command("ensure-admin")
def ensure_admin() -> None:
    """Create the user 'administrator' (an admin) if the platform has no administrator yet, and
    write its password and token to <data dir>/admin-credentials (mode 0600). Prints that file's
    path. ('admin' itself is a reserved name: it would clash with the platform's own paths.)"""
    from core import accounts, store
    from core.settings import get_settings

    r = store.get_redis()
    path = get_settings().data_dir / "admin-credentials"
    if accounts.any_admin(r):
        typer.echo(str(path) if path.is_file() else "an administrator exists")
        return
    password = secrets.token_urlsafe(18)
    try:
        accounts.create_user(r, FIRST_ADMIN, role="admin", password=password)
    except SpacesError as exc:
        fail(f"could not create the first administrator: {exc.message}")
    token = accounts.create_token(r, FIRST_ADMIN, role="write", display_name="first admin")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(f"user: {FIRST_ADMIN}\npassword: {password}\ntoken: {token}\n")
    typer.echo(str(path))


@user_app.command("create")
def user_create(
    name: str,
    admin: bool = typer.Option(False, "--admin", help="Make the user an administrator."),
    exist_ok: bool = typer.Option(False, "--exist-ok", help="If the user exists, just issue a new token."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read a password for browser sign-in from standard input."),
) -> None:
    """Create a user and print a new write token on the last line."""
    from core import accounts, store

    r = store.get_redis()
    password = read_password(password_stdin)
    try:
        try:
            accounts.create_user(r, name, role="admin" if admin else "user", password=password)
            typer.echo(f"created user {name}" + (" (admin)" if admin else ""), err=True)
        except SpacesError:
            if not (exist_ok and accounts.get_user(r, name)):
                raise
            typer.echo(f"user {name} exists; issuing a new token", err=True)
        token = accounts.create_token(r, name, role="write", display_name="cli")
    except SpacesError as exc:
        fail(exc.message)
    typer.echo("write token (shown once):", err=True)
    typer.echo(token)


@user_app.command("set-password")
def user_set_password(name: str) -> None:
    """Set the user's password for browser sign-in, read from standard input."""
    from core import accounts, store

    try:
        accounts.set_password(store.get_redis(), name, read_password(True) or "")
    except SpacesError as exc:
        fail(exc.message)
    typer.echo(f"password of {name} set")


@user_app.command("token")
def user_token(
    name: str,
    token_name: str = typer.Option("cli", "--name", help="A name to recognise the token by."),
    role: str = typer.Option("write", "--role", help="read or write."),
) -> None:
    """Issue another access token for the user; printed alone on the last line."""
    from core import accounts, store

    try:
        token = accounts.create_token(store.get_redis(), name, role=role, display_name=token_name)
    except SpacesError as exc:
        fail(exc.message)
    typer.echo(f"{role} token {token_name!r} for {name} (shown once):", err=True)
    typer.echo(token)


SPACES_OPTION = typer.Option(None, "--spaces", help="What happens to their Spaces: 'delete' (needed when there are any).")
TRANSFER_OPTION = typer.Option(None, "--transfer-to", help="Not offered (the reason is printed): Spaces cannot yet move to another owner.")


def _report_removal(result: dict) -> None:
    spaces = result["spaces"]
    typer.echo(f"{'deleted' if result['state'] == 'deleted' else 'deleting'} {result['type']} {result['name']}"
               + (f"; {len(spaces)} Space(s) being deleted: {', '.join(spaces)} (the name is free once they are gone)" if spaces else ""))


@user_app.command("delete")
def user_delete(name: str, spaces: str | None = SPACES_OPTION, transfer_to: str | None = TRANSFER_OPTION) -> None:
    """Delete a user: tokens, sessions and memberships at once, their Spaces through Space deletion."""
    from core import removal, store

    try:
        _report_removal(removal.delete_user(store.get_redis(), name, spaces=spaces, transfer_to=transfer_to))
    except SpacesError as exc:
        fail(exc.message)


@org_app.command("delete")
def org_delete(name: str, spaces: str | None = SPACES_OPTION, transfer_to: str | None = TRANSFER_OPTION) -> None:
    """Delete an organization: its memberships at once, its Spaces through Space deletion."""
    from core import removal, store

    try:
        _report_removal(removal.delete_org(store.get_redis(), name, spaces=spaces, transfer_to=transfer_to))
    except SpacesError as exc:
        fail(exc.message)


@org_app.command("create")
def org_create(name: str, admin: str = typer.Option(..., "--admin", help="The user who administers it.")) -> None:
    """Create an organization; ``--admin`` becomes its first admin member."""
    from core import accounts, store

    try:
        accounts.create_org(store.get_redis(), name, admin=admin)
    except SpacesError as exc:
        fail(exc.message)
    typer.echo(f"created organization {name} (admin: {admin})")


@org_app.command("add-member")
def org_add_member(
    org: str, user: str,
    role: str = typer.Option("read", "--role", help="read, write or admin."),
) -> None:
    """Add a user to an organization, or change their role."""
    from core import accounts, store

    try:
        accounts.set_member(store.get_redis(), org, user, role)
    except SpacesError as exc:
        fail(exc.message)
    typer.echo(f"{user} is now a {role} member of {org}")


@org_app.command("remove-member")
def org_remove_member(org: str, user: str) -> None:
    """Remove a user from an organization (its last admin stays)."""
    from core import accounts, store

    try:
        accounts.remove_member(store.get_redis(), org, user)
    except SpacesError as exc:
        fail(exc.message)
    typer.echo(f"{user} is no longer a member of {org}")


def main() -> None:
    run(app)


if __name__ == "__main__":
    main()
