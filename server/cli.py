"""Server CLI: ``flask --app app create-user|disable-user|enable-user|unlock-user|list-users``"""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import with_appcontext

from contract.errors import ConfigError
from server.context import services


@click.command("create-user")
@with_appcontext
@click.argument("name")
@click.option("--email", required=True, help="Where sign-in codes are mailed.")
@click.option("--admin", is_flag=True, help="May edit config and read everyone's data.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
def create_user_command(name: str, email: str, admin: bool, password_stdin: bool) -> None:
    """Create an account (the password is prompted twice unless --password-stdin)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        services().auth.create_user(name, email, password, admin=admin)
    except ConfigError as exc:
        raise click.ClickException("; ".join(f"{k}: {v}" for k, v in exc.errors.items())) from exc
    click.echo(f"created {'admin ' if admin else ''}account {name} <{email}>")


def _set_enabled(name: str, enabled: bool) -> None:
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
        create_user_command, disable_user_command, enable_user_command, unlock_user_command,
        list_users_command,
    )
    for command in commands:
        app.cli.add_command(command)
