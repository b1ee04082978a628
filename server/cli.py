"""Server CLI: ``flask --app app COMMAND`` for accounts.

Commands: create-user, invite, reset-password, disable-user, enable-user, unlock-user, list-users.

``reset-password`` prints a one-time link instead of mailing it, so a locked-out sole administrator
gets back in from the server's shell. Links start with VINOVA_PUBLIC_URL, else http://127.0.0.1:<port>.
"""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import with_appcontext

from contract.errors import ConfigError, RequestRefused
from server import mailed_links, people
from server.context import services
from server.db.users import find_user
from server.passwords import check_new_password

SHELL_ACTOR = "server shell"
PORT_OPTION = click.option(
    "--port", type=int, default=5000, show_default=True,
    help="Port of the server the link points to when VINOVA_PUBLIC_URL is not set.",
)


def _link_base(port: int) -> str:
    return people.link_base(services(), f"http://127.0.0.1:{port}")


@click.command("create-user")
@with_appcontext
@click.argument("name")
@click.option("--email", required=True, help="Where sign-in codes are mailed.")
@click.option("--admin", is_flag=True, help="May edit config and read everyone's data.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
def create_user_command(name: str, email: str, admin: bool, password_stdin: bool) -> None:
    """Create an account (the password is prompted twice unless --password-stdin)."""
    with services().database.session() as session:
        try:
            people.check_new_account(session, name, email)
        except RequestRefused as exc:
            raise click.ClickException(f"username: {exc}") from exc
        except ConfigError as exc:
            raise click.ClickException("; ".join(f"{k}: {v}" for k, v in exc.errors.items())) from exc
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        check_new_password(password, name)  # the rules that need the name too
        services().auth.create_user(name, email, password, admin=admin)
    except ConfigError as exc:
        raise click.ClickException("; ".join(f"{k}: {v}" for k, v in exc.errors.items())) from exc
    click.echo(f"created {'admin ' if admin else ''}account {name} <{email}>")


@click.command("invite")
@with_appcontext
@click.argument("name")
@click.option("--email", required=True, help="Where the invitation (and later sign-in codes) go.")
@click.option("--admin", is_flag=True, help="May edit config and read everyone's data.")
@PORT_OPTION
def invite_command(name: str, email: str, admin: bool, port: int) -> None:
    """Invite someone: a mail with a one-time link (48 hours) to choose their password."""
    try:
        invitation = people.invite(services(), SHELL_ACTOR, name, email, admin, _link_base(port))
    except ConfigError as exc:
        raise click.ClickException("; ".join(f"{k}: {v}" for k, v in exc.errors.items())) from exc
    except RequestRefused as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"invitation mailed to {invitation.email}; the link works until "
               f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC")


@click.command("reset-password")
@with_appcontext
@click.argument("name")
@PORT_OPTION
def reset_password_command(name: str, port: int) -> None:
    """Print a one-time link (30 minutes) that sets a new password for NAME (also lifts a lock)."""
    with services().database.session() as session:
        user = find_user(session, name)
        if user is not None and not user.is_enabled:
            raise click.ClickException(f"account {name} is disabled: enable-user {name} first")
    try:
        url, expires_at = mailed_links.reset_link(services(), name, _link_base(port), SHELL_ACTOR)
    except ConfigError as exc:
        raise click.ClickException("; ".join(exc.errors.values())) from exc
    click.echo(f"Open this link to choose a new password for {name} (works once, until "
               f"{expires_at:%H:%M} UTC):")
    click.echo(url)


def _set_enabled(name: str, enabled: bool) -> None:
    # The shell may disable even the last administrator (the web and the API may not): it is
    # where an administrator gets back in, with enable-user and reset-password.
    try:
        services().auth.set_enabled(name, enabled)
    except ConfigError as exc:
        raise click.ClickException("; ".join(exc.errors.values())) from exc
    click.echo(f"account {name} {'enabled' if enabled else 'disabled'}")


@click.command("disable-user")
@with_appcontext
@click.argument("name")
def disable_user_command(name: str) -> None:
    """Disable an account; its tokens and web sessions end at once and for good."""
    _set_enabled(name, False)


@click.command("enable-user")
@with_appcontext
@click.argument("name")
def enable_user_command(name: str) -> None:
    """Enable a disabled account (old tokens stay dead; it signs in again)."""
    _set_enabled(name, True)


@click.command("unlock-user")
@with_appcontext
@click.argument("name")
def unlock_user_command(name: str) -> None:
    """Lift the lock that 100 consecutive wrong passwords put on a name."""
    services().auth.unlock(name)
    click.echo(f"sign-in for {name} unlocked")


@click.command("list-users")
@with_appcontext
def list_users_command() -> None:
    """List every account."""
    for user in services().auth.list_users():
        flags = ", ".join(
            flag for flag, on in (("admin", user.is_admin), ("disabled", not user.is_enabled)) if on
        )
        click.echo(f"{user.username}\t{user.email}\t{flags}")


def register(app: Flask) -> None:
    """Add the account commands to ``app.cli``."""
    commands = (
        create_user_command, invite_command, reset_password_command, disable_user_command,
        enable_user_command, unlock_user_command, list_users_command,
    )
    for command in commands:
        app.cli.add_command(command)
