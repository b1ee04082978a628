"""The Flask server: create_app(), thin routes, and the Flask CLI commands.

``python app.py [--host 127.0.0.1] [--port 5000] [--debug]`` serves with waitress (Flask's
development server only with ``--debug``). The HTTP contract is docs/API.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import click
from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from auth_manager import ServerAuth
from contract.config_schema import validate_config, validate_overrides
from contract.errors import AuthError, ConfigError, RequestRefused, TransientError
from server.api import screenshots as screenshot_routes
from server.db import activity_data, agents, config_data, database, models
from server.db.database import Database
from server.mailer import FileOutbox, Mailer, SmtpMailer
from server.objectstores import LOCAL_URL_BASE, ObjectStore, make_object_store
from server.pages import admin as admin_pages
from server.pages import diary as diary_pages
from server.settings import ServerSettings, load_settings
from server.web import (
    EXTENSION_KEY,
    ApiError,
    bearer_token,
    current_principal,
    error_response,
    json_body,
    require_admin,
    services,
    string_fields,
)

logger = logging.getLogger(__name__)

ACTIVITY_DEFAULT_RANGE = timedelta(hours=24)
ACTIVITY_MAX_RANGE = timedelta(days=31)
AUDIT_DEFAULT_LIMIT = 200

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "bad_request",
    429: "too_many_attempts",
}
_THROTTLE_CODES = {"too_many_attempts", "challenge_locked", "resend_too_soon"}


# --------------------------------------------------------------------------- wiring
@dataclass(frozen=True, slots=True)
class ServerContext:
    """What the routes need, built once by create_app and kept in ``app.extensions["vinova"]``."""

    settings: ServerSettings
    database: database.Database
    mailer: Mailer
    auth: ServerAuth
    object_store: ObjectStore

    def now(self) -> datetime:
        """The server's clock (tz-aware UTC; a fake one in tests)."""
        return self.settings.clock()


def build_mailer(settings: ServerSettings) -> Mailer:
    """SMTP when SMTP_HOST is set, else the file outbox under the data dir."""
    smtp = settings.smtp
    if smtp.host is None:
        return FileOutbox(settings.outbox_dir, smtp.mail_from)
    return SmtpMailer(
        smtp.host, smtp.port, smtp.mail_from, username=smtp.username, password=smtp.password,
        starttls=smtp.starttls, timeout_seconds=smtp.timeout_seconds,
    )


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def handle_api_error(error: ApiError) -> Response:
        return error_response(
            error.status, error.code, error.message, retry_after_seconds=error.retry_after_seconds
        )

    @app.errorhandler(AuthError)
    def handle_auth_error(error: AuthError) -> Response:
        status = 429 if error.code in _THROTTLE_CODES else 401
        return error_response(status, error.code, str(error), retry_after_seconds=error.retry_after_seconds)

    @app.errorhandler(ConfigError)
    def handle_validation_error(error: ConfigError) -> Response:
        return error_response(400, "validation_error", "some fields are not valid", fields=error.errors)

    @app.errorhandler(RequestRefused)
    def handle_refused(error: RequestRefused) -> Response:
        response = jsonify(error.to_json())
        response.status_code = error.status
        return response

    @app.errorhandler(TransientError)
    def handle_transient_error(error: TransientError) -> Response:
        logger.warning("request %s: %s", g.get("request_id", "-"), error)
        return error_response(503, "mail_unavailable", "the sign-in mail could not be sent; try again later")

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = _HTTP_CODES.get(status, (error.name or "error").lower().replace(" ", "_"))
        response = error_response(status, code, error.description or error.name)
        if status == 405 and error.get_response().headers.get("Allow"):
            response.headers["Allow"] = error.get_response().headers["Allow"]
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        request_id = g.get("request_id", "-")
        logger.error("request %s %s %s failed", request_id, request.method, request.path, exc_info=error)
        return error_response(500, "internal_error", f"internal error, request id {request_id}")


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the server: settings, database (migrated), mailer, auth, routes, CLI."""
    settings = load_settings(overrides)
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    database = Database(settings.database_url)
    database.migrate()
    mailer = build_mailer(settings)
    if settings.smtp.host is None:
        logger.info("no SMTP_HOST set: sign-in mail is written to %s", settings.outbox_dir)
    auth = ServerAuth(
        database, mailer, secret_key=settings.secret_key,
        token_ttl=timedelta(seconds=settings.token_ttl_seconds), clock=settings.clock,
    )
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        MAX_FORM_MEMORY_SIZE=settings.max_body_bytes,
        SESSION_COOKIE_NAME="vinova_admin",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    object_store = make_object_store(settings.values, settings.data_dir, settings.secret_key.encode())
    app.extensions[EXTENSION_KEY] = ServerContext(settings, database, mailer, auth, object_store)

    @app.before_request
    def start_request() -> None:
        g.request_id = uuid.uuid4().hex[:12]
        length = request.content_length
        # Screenshot uploads have their own, signed size cap (screenshot_routes.receive_local).
        is_upload = request.method == "PUT" and request.path.startswith(LOCAL_URL_BASE)
        if length is not None and length > settings.max_body_bytes and not is_upload:
            message = f"the body is larger than {settings.max_body_bytes} bytes"
            raise ApiError(413, "payload_too_large", message)

    @app.after_request
    def finish_request(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("request_id", "-")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    _register_error_handlers(app)
    _register_api_routes(app)
    app.register_blueprint(admin_pages.blueprint)
    app.register_blueprint(screenshot_routes.blueprint)
    app.register_blueprint(diary_pages.blueprint)
    _register_cli(app)
    return app


# --------------------------------------------------------------------------- request helpers
def _not_found(what: str) -> NoReturn:
    raise ApiError(404, "not_found", f"{what} not found")


def _query_datetime(name: str) -> datetime | None:
    """An ISO 8601 query parameter as UTC (a naive value is read as UTC); 400 when unparseable."""
    text = request.args.get(name)
    if text is None or text == "":
        return None
    # A "+" in an unencoded query string arrives as a space.
    if re.search(r" \d{2}:\d{2}$", text):
        text = f"{text[:-6]}+{text[-5:]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError({name: "must be an ISO 8601 datetime, e.g. 2026-11-25T18:00:00+00:00"}) from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def config_etag(config: Mapping[str, Any], version: int) -> str:
    """A strong validator that changes whenever the effective config or the version changes."""
    canonical = json.dumps({"config": dict(config), "version": version}, sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


# --------------------------------------------------------------------------- routes
def _register_api_routes(app: Flask) -> None:
    @app.get("/health")
    def health() -> Response:
        return jsonify({"status": "ok"})

    # ------------------------------------------------------------ sign-in
    @app.post("/auth/login")
    def auth_login() -> Response:
        username, password = string_fields(json_body(), "username", "password")
        issued = services().auth.login(username, password)
        return jsonify(
            {"challenge_id": issued.challenge_id, "sent_to": issued.sent_to,
             "expires_at": issued.expires_at.isoformat()}
        )

    @app.post("/auth/verify")
    def auth_verify() -> Response:
        challenge_id, code = string_fields(json_body(), "challenge_id", "code")
        issued = services().auth.verify(challenge_id, code.strip())
        return jsonify(
            {"token": issued.token, "expires_at": issued.expires_at.isoformat(),
             "username": issued.username, "is_admin": issued.is_admin}
        )

    @app.post("/auth/resend")
    def auth_resend() -> Response:
        (challenge_id,) = string_fields(json_body(), "challenge_id")
        issued = services().auth.resend(challenge_id)
        return jsonify({"sent_to": issued.sent_to, "expires_at": issued.expires_at.isoformat()})

    @app.post("/auth/logout")
    def auth_logout() -> Response:
        current_principal()
        services().auth.logout(bearer_token())
        return Response(status=204)

    @app.get("/auth/me")
    def auth_me() -> Response:
        principal = current_principal()
        return jsonify(
            {"username": principal.username, "email": principal.email, "is_admin": principal.is_admin,
             "expires_at": principal.token_expires_at.isoformat(),
             "upload_prefix": services().object_store.prefix}
        )

    # ------------------------------------------------------------ config
    @app.get("/get-config")
    def get_config() -> Response:
        principal = current_principal()
        with services().database.session() as session:
            config = config_data.effective_config(session, principal.user_id)
            version = config_data.config_version(session)
        etag = config_etag(config, version)
        if request.if_none_match.contains(etag):
            response = Response(status=304)
        else:
            response = jsonify({**config, "version": version})
        response.set_etag(etag)
        response.headers["Cache-Control"] = "private, no-cache"
        return response

    @app.get("/api/config")
    def get_global_config() -> Response:
        require_admin()
        with services().database.session() as session:
            return jsonify(
                {"config": config_data.global_config(session), "version": config_data.config_version(session)}
            )

    @app.put("/api/config")
    def put_global_config() -> Response:
        principal = require_admin()
        changes = validate_config(json_body(), partial=True)
        with services().database.session() as session:
            config_data.update_global_config(session, principal.username, changes, services().now())
            return jsonify(
                {"config": config_data.global_config(session), "version": config_data.config_version(session)}
            )

    def user_config_payload(session: Any, user: models.User) -> Response:
        return jsonify(
            {"overrides": config_data.user_overrides(session, user.id),
             "effective": config_data.effective_config(session, user.id),
             "version": config_data.config_version(session)}
        )

    @app.get("/api/users/<username>/config")
    def get_user_config(username: str) -> Response:
        require_admin()
        with services().database.session() as session:
            user = config_data.find_user(session, username) or _not_found(f"user {username!r}")
            return user_config_payload(session, user)

    @app.put("/api/users/<username>/config")
    def put_user_config(username: str) -> Response:
        principal = require_admin()
        changes = validate_overrides(json_body())
        with services().database.session() as session:
            user = config_data.find_user(session, username) or _not_found(f"user {username!r}")
            config_data.update_user_overrides(session, principal.username, user, changes, services().now())
            return user_config_payload(session, user)

    @app.get("/api/config/audit")
    def get_config_audit() -> Response:
        require_admin()
        limit = request.args.get("limit", type=int) or AUDIT_DEFAULT_LIMIT
        with services().database.session() as session:
            entries = config_data.audit_entries(session, max(1, min(limit, 5000)))
        return jsonify({"entries": [entry.as_dict() for entry in entries]})

    @app.get("/api/users")
    def get_users() -> Response:
        require_admin()
        users = services().auth.list_users()
        return jsonify(
            {"users": [
                {"username": user.username, "email": user.email, "is_admin": user.is_admin,
                 "is_enabled": user.is_enabled, "created_at": user.created_at.isoformat()}
                for user in users
            ]}
        )

    # ------------------------------------------------------------ activity
    @app.post("/activity")
    def post_activity() -> Response:
        principal = current_principal()
        payload = json_body()
        records = activity_data.parse_activity_batch(payload, services().now())
        backlog = agents.parse_agent_backlog(payload)
        with services().database.session() as session:
            activity_data.upsert_activity(session, principal.user_id, records, services().now())
            if backlog is not None:
                agents.save_agent_backlog(session, principal.user_id, backlog, services().now())
        return jsonify({"accepted": len(records)})

    @app.get("/api/activity")
    def get_activity() -> Response:
        principal = current_principal()
        username = request.args.get("username") or None
        if not principal.is_admin and username not in (None, principal.username):
            raise ApiError(403, "forbidden", "only administrators can read another user's activity")
        end = _query_datetime("to") or services().now()
        start = _query_datetime("from") or end - ACTIVITY_DEFAULT_RANGE
        if start >= end:
            raise ConfigError({"from": "must be before to"})
        if end - start > ACTIVITY_MAX_RANGE:
            raise ConfigError({"from": "the range may span at most 31 days"})
        with services().database.session() as session:
            if principal.is_admin and username is None:
                user_id = None
            elif username is None or username == principal.username:
                user_id = principal.user_id
            else:
                user = config_data.find_user(session, username) or _not_found(f"user {username!r}")
                user_id = user.id
            rows = activity_data.activity_between(session, user_id, start, end)
        return jsonify(
            {"from": start.isoformat(), "to": end.isoformat(),
             "samples": [{**record.as_dict(), "username": name} for name, record in rows]}
        )


# --------------------------------------------------------------------------- Flask CLI
def _register_cli(app: Flask) -> None:
    @app.cli.command("create-user")
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

    def set_enabled(name: str, enabled: bool) -> None:
        try:
            services().auth.set_enabled(name, enabled)
        except ConfigError as exc:
            raise click.ClickException("; ".join(exc.errors.values())) from exc
        click.echo(f"account {name} {'enabled' if enabled else 'disabled'}")

    @app.cli.command("disable-user")
    @click.argument("name")
    def disable_user_command(name: str) -> None:
        """Disable an account; its tokens stop working at once."""
        set_enabled(name, False)

    @app.cli.command("enable-user")
    @click.argument("name")
    def enable_user_command(name: str) -> None:
        """Enable a disabled account."""
        set_enabled(name, True)

    @app.cli.command("list-users")
    def list_users_command() -> None:
        """List every account."""
        for user in services().auth.list_users():
            flags = ", ".join(
                flag for flag, on in (("admin", user.is_admin), ("disabled", not user.is_enabled)) if on
            )
            click.echo(f"{user.username}\t{user.email}\t{flags}")


# --------------------------------------------------------------------------- python app.py
def configure_logging(level: str = "INFO") -> None:
    """Log lines with time, level and module to stderr."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> None:
    """Serve the app with waitress (or Flask's dev server with --debug)."""
    parser = argparse.ArgumentParser(description="Vinova config server")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port to listen on (default 5000)")
    parser.add_argument("--debug", action="store_true", help="Flask's development server with the debugger")
    arguments = parser.parse_args(argv)
    configure_logging()
    try:
        app = create_app()
    except ConfigError as exc:
        raise SystemExit(f"invalid settings: {exc}") from exc
    logging.getLogger().setLevel(services_of(app).settings.log_level)
    logger.info("serving on http://%s:%s", arguments.host, arguments.port)
    if arguments.debug:
        app.run(host=arguments.host, port=arguments.port, debug=True, use_reloader=False)
        return
    import waitress

    waitress.serve(app, host=arguments.host, port=arguments.port, threads=8)


def services_of(app: Flask) -> ServerContext:
    """The ServerContext of ``app`` outside a request."""
    context: ServerContext = app.extensions[EXTENSION_KEY]
    return context


if __name__ == "__main__":
    main()
