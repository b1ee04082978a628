"""The Flask CLI of the server: ``flask --app app create-user|disable-user|enable-user|list-users``."""

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
    """Disable an account; its tokens stop working at once."""
    _set_enabled(name, False)


@click.command("enable-user")
@with_appcontext
@click.argument("name")
def enable_user_command(name: str) -> None:
    """Enable a disabled account."""
    _set_enabled(name, True)


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
    for command in (create_user_command, disable_user_command, enable_user_command, list_users_command):
        app.cli.add_command(command)
