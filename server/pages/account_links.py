"""The pages mailed links open: choose a password (invitation), forgot password, new password, confirm email.

Opening a page never uses its link (mail scanners fetch links); only the form's POST does.
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request
from werkzeug.wrappers.response import Response as BaseResponse

from contract.errors import AuthError, ConfigError, RequestRefused
from server import mailed_links, people
from server.context import services
from server.db import links
from server.pages.admin import check_csrf
from server.web import client_address

blueprint = Blueprint("account_links", __name__)


@blueprint.before_request
def _check_csrf() -> None:
    check_csrf()


@blueprint.after_request
def _not_cached(response: Response) -> Response:
    """A page opened from a one-time link stays out of every cache (the link is in its address)."""
    response.headers["Cache-Control"] = "no-store"
    return response


def _gone() -> tuple[str, int]:
    return render_template("link_gone.html", principal=None), 410


def _done(title: str, message: str) -> str:
    return render_template("link_done.html", title=title, message=message, principal=None)


def _password_form(kind: str, token: str) -> BaseResponse | tuple[str, int] | str:
    page = mailed_links.open_link(services(), kind, token)
    if page is None:
        return _gone()
    title = "Choose your password" if kind == links.INVITATION else "Choose a new password"
    error: str | None = None
    status = 200
    if request.method == "POST":
        password = request.form.get("password", "")
        if password != request.form.get("password_again", ""):
            error, status = "The two passwords differ.", 400
        else:
            try:
                if kind == links.INVITATION:
                    mailed_links.accept_invitation(services(), token, password)
                    return _done("Your password is set", (
                        f"Welcome, {page.username}. Sign in to the Vinova desktop app with your username "
                        "and this password; a code is mailed to you each time."))
                mailed_links.reset_password(services(), token, password)
                return _done("Your password is changed", (
                    "Every device and browser that was signed in to your account is signed out. "
                    "Sign in again with the new password."))
            except ConfigError as exc:
                error, status = f"The password {exc.errors.get('password', 'is not accepted')}.", 400
            except RequestRefused:
                return _gone()
    return render_template(
        "link_password.html", title=title, page=page, error=error, principal=None,
        action=request.path,
    ), status


@blueprint.route("/welcome/<token>", methods=["GET", "POST"])
def welcome(token: str) -> BaseResponse | tuple[str, int] | str:
    """An invitation: the person chooses a password."""
    return _password_form(links.INVITATION, token)


@blueprint.route("/password-reset/<token>", methods=["GET", "POST"])
def new_password(token: str) -> BaseResponse | tuple[str, int] | str:
    """A reset link: a new password; every sign-in of the account ends."""
    return _password_form(links.PASSWORD_RESET, token)


@blueprint.route("/password-reset", methods=["GET", "POST"])
def forgot_password() -> tuple[str, int] | str:
    """Forgot password? A name or an address; the same answer whether or not an account matches."""
    if request.method == "GET":
        return render_template("password_forgot.html", error=None, sent=False, principal=None)
    asked = request.form.get("name_or_email", "").strip()
    if not asked:
        return render_template("password_forgot.html", error="Give your username or email address.",
                               sent=False, principal=None), 400
    context = services()
    is_email = "@" in asked
    try:
        mailed_links.request_password_reset(
            context, username=None if is_email else asked, email=asked if is_email else None,
            client_address=client_address(),
            base_url=people.link_base(context, request.host_url, anonymous=True),
        )
    except AuthError as exc:
        return render_template("password_forgot.html", error=f"{str(exc).capitalize()}.", sent=False,
                               principal=None), 429
    return render_template("password_forgot.html", error=None, sent=True, principal=None)


@blueprint.route("/confirm-email/<token>", methods=["GET", "POST"])
def confirm_email(token: str) -> tuple[str, int] | str:
    """An email change: the new address confirms itself."""
    page = mailed_links.open_link(services(), links.EMAIL_CHANGE, token)
    if page is None:
        return _gone()
    if request.method == "GET":
        return render_template("email_confirm.html", page=page, principal=None)
    try:
        username = mailed_links.confirm_email_change(services(), token)
    except RequestRefused:
        return _gone()
    return _done("Address confirmed", f"Mail for {username} now goes to {page.email}.")
