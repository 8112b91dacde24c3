"""The IdP application factory."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask import Response
from flask import request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from idp import error_handlers
from idp import security
from idp.config import Settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def create_app(config: Settings | None = None) -> Flask:
    """Build the app. Tests pass a Settings; production reads IDP_* variables."""
    from idp import runtime
    from idp.auth.mfa import bp as mfa_bp
    from idp.auth.passkeys import bp as passkeys_bp
    from idp.auth.registration import bp as registration_bp
    from idp.auth.views import bp as auth_bp
    from idp.extensions import csrf
    from idp.extensions import db
    from idp.extensions import limiter
    from idp.extensions import migrate
    from idp.oauth.introspection import bp as introspection_bp
    from idp.oauth.keys import KeyRing
    from idp.oauth.logout import bp as logout_bp
    from idp.oauth.revocation import bp as revocation_bp
    from idp.oauth.server import init_oauth
    from idp.oauth.views import bp as oauth_bp

    settings = (config or Settings.from_env()).resolved()
    assert settings.secret_key is not None
    app = Flask(
        __name__,
        instance_path=settings.instance_path,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.update(
        SECRET_KEY=security.derive_key(settings.secret_key, "idp/flask-session/v1").hex(),
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings.database_url or ""),
        SESSION_COOKIE_NAME="idp_flow",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.https,
        MAX_CONTENT_LENGTH=1024 * 1024,
        RATELIMIT_ENABLED=settings.rate_limits_enabled,
        RATELIMIT_STORAGE_URI=settings.redis_url or "memory://",
        RATELIMIT_HEADERS_ENABLED=True,
        **settings.extra,
    )
    security.configure(
        settings.secret_key,
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_cost,
        parallelism=settings.argon2_parallelism,
    )
    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    limiter.init_app(app)
    app.extensions["idp"] = runtime.Runtime(settings=settings, keyring=KeyRing())
    init_oauth(app)
    app.register_blueprint(oauth_bp)
    app.register_blueprint(revocation_bp)
    app.register_blueprint(introspection_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(mfa_bp)
    app.register_blueprint(passkeys_bp)
    app.register_blueprint(registration_bp)
    app.register_blueprint(logout_bp)
    from idp.management import init_management

    init_management(app)
    from idp.account import init_account

    init_account(app)
    error_handlers.register(app)
    from idp import mail_delivery

    mail_delivery.init_app(app)  # sends what a request queued, once it has committed
    app.after_request(_security_headers)
    if settings.trusted_proxies:
        # Client IPs (rate limits, audit) and https detection behind a reverse proxy.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    return app


def _engine_options(url: str) -> dict[str, object]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    return {"pool_pre_ping": True}


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: object, connection_record: object) -> None:
    """SQLite: enforce foreign keys, and WAL so several gunicorn workers can share the file."""
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # Every LIKE we run compares lowercased values, so case-sensitive LIKE loses nothing and
    # lets SQLite use an index for prefix searches.
    cursor.execute("PRAGMA case_sensitive_like=ON")
    cursor.close()


def _security_headers(response: Response) -> Response:
    from idp import runtime

    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if runtime.settings().https:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if "Cache-Control" not in headers and not request.path.startswith("/static/"):
        headers["Cache-Control"] = "no-store"  # pages carry CSRF tokens, codes or personal data
    return response
