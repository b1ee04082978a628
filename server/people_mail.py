"""The texts of the people mails: invitation, password reset, password changed, email change."""

from __future__ import annotations

from datetime import datetime

INVITATION_SUBJECT = "You are invited to Vinova"
RESET_SUBJECT = "Reset your Vinova password"
CHANGED_SUBJECT = "Your Vinova password was changed"
EMAIL_CHANGE_SUBJECT = "Confirm your new Vinova email address"
EMAIL_CHANGE_NOTICE_SUBJECT = "Your Vinova email address is being changed"


def _until(expires_at: datetime) -> str:
    return expires_at.strftime("%Y-%m-%d %H:%M UTC")


def invitation_body(username: str, invited_by: str, url: str, expires_at: datetime, is_admin: bool) -> str:
    """The invitation: a link to the page where the person chooses a password."""
    role = "an administrator" if is_admin else "a member"
    return (
        f"Hello {username},\n\n"
        f"{invited_by} added you to Vinova as {role}. Choose your password here:\n\n"
        f"{url}\n\n"
        f"The link works once, until {_until(expires_at)}. Then sign in with your username "
        f"{username!r}, your password and the code Vinova mails to this address.\n"
    )


def reset_body(username: str, url: str, expires_at: datetime) -> str:
    """The password reset: a link to the page that sets a new password."""
    return (
        f"Hello {username},\n\n"
        "Someone (you, we hope) asked to reset the password of your Vinova account. "
        "Choose a new one here:\n\n"
        f"{url}\n\n"
        f"The link works once, until {_until(expires_at)}. If you did not ask, ignore this mail: "
        "your password stays as it is.\n"
    )


def changed_body(username: str, at: datetime) -> str:
    """The notice after a password was set through a link: every device was signed out."""
    return (
        f"Hello {username},\n\n"
        f"The password of your Vinova account was changed at {_until(at)}. Every device and browser "
        "that was signed in has been signed out; sign in again with the new password.\n"
        "If you did not change it, ask your administrator to disable the account at once.\n"
    )


def email_change_body(username: str, new_email: str, url: str, expires_at: datetime) -> str:
    """To the new address: confirm it before sign-in codes go there."""
    return (
        f"Hello {username},\n\n"
        f"Your Vinova sign-in codes are to go to {new_email} from now on. Confirm this address here:\n\n"
        f"{url}\n\n"
        f"The link works once, until {_until(expires_at)}. Until then codes still go to the old address.\n"
    )


def email_change_notice_body(username: str, new_email: str, requested_by: str) -> str:
    """To the old address: the change was asked for (it happens only once the new address confirms)."""
    return (
        f"Hello {username},\n\n"
        f"{requested_by} asked to send your Vinova mail to {new_email} instead of this address. "
        "It changes once that address confirms. If this is wrong, tell your administrator.\n"
    )
