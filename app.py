"""The Flask server: create_app(), the error handlers and the entry point.

``python app.py [--host 127.0.0.1] [--port 5000] [--debug]`` serves with waitress (Flask's
development server only with ``--debug``). The routes are blueprints in server/api/ and
server/pages/, the CLI is server/cli.py; the HTTP contract is docs/API.md.
"""

from __future__ import annotations

import argparse
import atexit
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, g, request
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from auth_manager import ServerAuth
from contract.errors import AuthError, ConfigError, RequestRefused, TransientError
from server import cli, retention
from server.api import activity, auth, config, health, password_reset, screenshots, users
from server.api import me as me_api
from server.context import (
    EXTENSION_KEY,
    ServerContext,
    build_mailer,
    make_object_store,
    make_storage_check,
    services_of,
)
from server.data_dir import secure_data_folders
from server.db.database import POOL_SIZE, Database
from server.pages import account as account_page
from server.pages import account_links, admin, diary, people
from server.pages import me as me_pages
from server.settings import is_sqlite_url, load_settings, provision_secret_key, session_idle_limits
from server.stores.local import LOCAL_URL_BASE
from server.web import error_response, page_security_headers, transport_security_headers
from server.web_sessions import COOKIE_NAME, DatabaseSessionInterface

logger = logging.getLogger(__name__)

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
DATABASE_RETRY_AFTER_SECONDS = 5


def _register_error_handlers(app: Flask) -> None:
    """Every error becomes a RequestRefused and leaves through the one error_response."""

    @app.errorhandler(RequestRefused)
    def handle_refused(error: RequestRefused) -> Response:
        return error_response(error)

    @app.errorhandler(AuthError)
    def handle_auth_error(error: AuthError) -> Response:
        status = 429 if error.code in _THROTTLE_CODES else 401
        return error_response(RequestRefused(
            str(error), status=status, code=error.code, retry_after_seconds=error.retry_after_seconds
        ))

    @app.errorhandler(ConfigError)
    def handle_validation_error(error: ConfigError) -> Response:
        return error_response(RequestRefused(
            "some fields are not valid", status=400, code="validation_error", fields=error.errors
        ))

    @app.errorhandler(TransientError)
    def handle_transient_error(error: TransientError) -> Response:
        logger.warning("request %s: %s", g.get("request_id", "-"), error)
        return error_response(RequestRefused(
            "the sign-in mail could not be sent; try again later", status=503, code="mail_unavailable"
        ))

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = _HTTP_CODES.get(status, (error.name or "error").lower().replace(" ", "_"))
        response = error_response(RequestRefused(error.description or error.name, status=status, code=code))
        allow = error.get_response().headers.get("Allow") if status == 405 else None
        if allow:
            response.headers["Allow"] = allow
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        request_id = g.get("request_id", "-")
        logger.error("request %s %s %s failed", request_id, request.method, request.path, exc_info=error)
        return error_response(RequestRefused(
            f"internal error, request id {request_id}", status=500, code="internal_error"
        ))

    @app.errorhandler(DBAPIError)
    def handle_database_error(error: DBAPIError) -> Response:
        # A connection that broke in use (the database restarted, the network dropped it) or a database
        # that refuses: the transaction was not committed and the pool replaces the connection, so the
        # same request can succeed when retried. Any other database error is a bug (500).
        if not (error.connection_invalidated or isinstance(error, OperationalError)):
            return handle_unexpected(error)
        logger.warning("request %s %s %s: the database failed (%s)", g.get("request_id", "-"),
                       request.method, request.path, type(error.orig).__name__)
        return error_response(RequestRefused(
            "the database is unavailable; try again shortly", status=503, code="database_unavailable",
            retry_after_seconds=DATABASE_RETRY_AFTER_SECONDS,
        ))


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the server: settings, database (migrated), mailer, auth, routes, CLI."""
    settings = load_settings(overrides)
    secure_data_folders(settings)
    settings = provision_secret_key(settings)
    database = Database(settings.database_url)
    database.migrate()
    mailer = build_mailer(settings)
    if settings.smtp.host is None:
        logger.info("no SMTP_HOST set: sign-in mail is written to %s", settings.outbox_dir)
    token_idle, web_idle = session_idle_limits(settings)
    server_auth = ServerAuth(
        database, mailer, secret_key=settings.secret_key, token_ttl=token_idle, clock=settings.clock,
    )
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        MAX_FORM_MEMORY_SIZE=settings.max_body_bytes,
        SESSION_COOKIE_NAME=COOKIE_NAME,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    if settings.trusted_proxies:
        # The address and scheme the Nth proxy saw; never a client's own X-Forwarded-For without one.
        count = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)  # type: ignore[method-assign]
    app.session_interface = DatabaseSessionInterface(database, web_idle, settings.clock)
    security_headers = page_security_headers(settings.values)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    object_store = make_object_store(settings.values, settings.data_dir, settings.secret_key.encode())
    if object_store.mode == "local" and not is_sqlite_url(settings.database_url):
        # Several nodes on one database each keep their own screenshots unless the folder is shared.
        logger.warning(
            "screenshots are kept in %s on this node: with several server nodes every node needs the same "
            "VINOVA_DATA_DIR (a shared folder) or set S3_BUCKET", settings.data_dir / "screenshots",
        )
    app.extensions[EXTENSION_KEY] = ServerContext(
        settings, database, mailer, server_auth, object_store,
        storage_check=make_storage_check(settings.values, settings.data_dir),
    )

    @app.before_request
    def start_request() -> None:
        g.request_id = uuid.uuid4().hex[:12]
        # A request whose client gave up while it waited its turn (an overloaded node) is not served:
        # its answer would go nowhere, and the work would delay the requests still waiting.
        client_gone = request.environ.get("waitress.client_disconnected")
        if client_gone is not None and client_gone():
            raise RequestRefused("the client closed the connection before its turn", status=503,
                                 code="client_gone")
        length = request.content_length
        # Screenshot uploads have their own, signed size cap (server/api/screenshots.receive_local).
        is_upload = request.method == "PUT" and request.path.startswith(LOCAL_URL_BASE)
        if length is not None and length > settings.max_body_bytes and not is_upload:
            message = f"the body is larger than {settings.max_body_bytes} bytes"
            raise RequestRefused(message, status=413, code="payload_too_large")

    @app.after_request
    def finish_request(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("request_id", "-")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        for name, value in (security_headers | transport_security_headers()).items():
            response.headers.setdefault(name, value)
        return response

    _register_error_handlers(app)
    # health first: its /health (database and store) answers before auth's older plain one.
    for module in (health, auth, config, users, activity, screenshots, admin, diary, me_api, me_pages,
                   password_reset, people, account_links):
        app.register_blueprint(module.blueprint)
    app.register_blueprint(account_page.blueprint)
    cli.register(app)
    retention.register(app)
    return app


# --------------------------------------------------------------------------- python app.py
def configure_logging(level: str = "INFO") -> None:
    """Log lines with time, level and module to stderr."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)


CONNECTION_LIMIT = 4096
# One node alone on a machine keeps 8 request threads busy; several nodes sharing its cores run better on
# fewer (``--threads 4`` behind a balancer that sends each node 4 requests at once): every thread that
# waits on the database hands the GIL over when it is back, and 16 threads on 2 cores spent a third of
# the nodes' CPU doing so (issue 14's load, 8,000 agents: 2.9 against 2.0 ms a request, p99 2.3 s
# against 83 ms). The database pool keeps this many connections and more (server/db/database.py POOL_SIZE).
DEFAULT_THREADS = 8


def serve_options(trusted_proxies: int, threads: int = DEFAULT_THREADS) -> dict[str, Any]:
    """waitress's settings for a node (``python app.py``), shared with the tests of an overloaded node."""
    return {
        "threads": threads,
        # waitress deletes X-Forwarded-* headers unless told otherwise; with trusted proxies ProxyFix
        # (create_app) reads exactly VINOVA_TRUSTED_PROXIES hops of them, so waitress must pass them on.
        "clear_untrusted_proxy_headers": trusted_proxies == 0,
        # Agents keep their connection open between calls a minute apart: waitress's default of 100
        # connections (and select(), which stops near 1,024 sockets) would lock the rest out.
        "connection_limit": CONNECTION_LIMIT,
        "asyncore_use_poll": True,
        # Keep reading a connection whose request waits for a thread, so a client that gave up (its
        # timeout passed while the node was overloaded) is seen and its request dropped (start_request):
        # without it the node serves every abandoned request late and never catches up.
        "channel_request_lookahead": 1,
    }


def main(argv: list[str] | None = None) -> None:
    """Serve the app with waitress (or Flask's dev server with --debug)."""
    parser = argparse.ArgumentParser(description="Vinova config server")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port to listen on (default 5000)")
    parser.add_argument("--threads", type=int, choices=range(1, POOL_SIZE + 1), default=DEFAULT_THREADS,
                        metavar="N", help=f"request threads (default {DEFAULT_THREADS}; 1 to {POOL_SIZE})")
    parser.add_argument("--debug", action="store_true", help="Flask's development server with the debugger")
    arguments = parser.parse_args(argv)
    configure_logging()
    try:
        app = create_app()
    except ConfigError as exc:
        raise SystemExit(f"invalid settings: {exc}") from exc
    logging.getLogger().setLevel(services_of(app).settings.log_level)
    logger.info("serving on http://%s:%s", arguments.host, arguments.port)
    # The retention purge, once a UTC day (one node runs it when several share the database).
    daily_purge = retention.DailyPurge(app)
    daily_purge.start()
    atexit.register(daily_purge.stop)
    if arguments.debug:
        app.run(host=arguments.host, port=arguments.port, debug=True, use_reloader=False)
        return
    import waitress

    waitress.serve(app, host=arguments.host, port=arguments.port,
                   **serve_options(services_of(app).settings.trusted_proxies, arguments.threads))


if __name__ == "__main__":
    main()
