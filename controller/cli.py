"""The ``spaces`` command line.

``spaces user create NAME`` is an administrator's command on the platform's host: it talks to
the platform's Redis directly and prints the new user's write token alone on its last line.
"""

from __future__ import annotations

import sys

import typer

from core import store
from core.errors import SpacesError

app = typer.Typer(help="Manage a self-hosted Spaces platform.", no_args_is_help=True)
user_app = typer.Typer(help="Users and their access tokens (run on the platform's host).", no_args_is_help=True)
app.add_typer(user_app, name="user")
admin_app = typer.Typer(help="Platform administration (run on the platform's host).", no_args_is_help=True)
app.add_typer(admin_app, name="admin")


@admin_app.command("rotate-secrets-key")
def rotate_secrets_key() -> None:
    """Encrypt every Space secret under a new key and retire the old key."""
    from core import envvars

    count = envvars.rotate_key(store.get_redis())
    typer.echo(f"re-encrypted {count} secret(s) under a new key in {envvars.key_path()}")


@user_app.command("create")
def user_create(
    name: str,
    admin: bool = typer.Option(False, "--admin", help="Make the user an administrator."),
    exist_ok: bool = typer.Option(False, "--exist-ok", help="If the user exists, just issue a new token."),
) -> None:
    """Create a user and print a new write token on the last line."""
    r = store.get_redis()
    try:
        try:
            store.create_user(r, name, role="admin" if admin else "user")
            typer.echo(f"created user {name}" + (" (admin)" if admin else ""), err=True)
        except SpacesError:
            if not (exist_ok and store.get_user(r, name)):
                raise
            typer.echo(f"user {name} exists; issuing a new token", err=True)
        token = store.create_token(r, name, role="write", display_name="cli")
    except SpacesError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo("write token (shown once):", err=True)
    typer.echo(token)


def main() -> None:
    try:
        app()
    except SpacesError as exc:  # pragma: no cover - commands catch their own
        print(f"error: {exc.message}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
