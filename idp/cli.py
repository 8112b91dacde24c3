"""The `idp` command (DESIGN §5)."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup
from flask.cli import with_appcontext
from sqlalchemy import text

from idp import create_app
from idp import errors
from idp import runtime
from idp.extensions import db
from idp.models import Client
from idp.models import User
from idp.models.client import AUTH_METHODS
from idp.models.tenant import DEFAULT_TENANT_SLUG
from idp.services import clients
from idp.services import signing_keys
from idp.services import tenants
from idp.services import users

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-correct-horse"  # noqa: S105 - printed on purpose: the demo account
DEMO_REDIRECT_URIS = ["http://localhost:3000/callback", "http://127.0.0.1:3000/callback"]


@click.group(cls=FlaskGroup, create_app=lambda: create_app(), add_default_commands=False)
def main() -> None:
    """Run and administer the identity provider."""


def _fail(exc: errors.IdPError) -> None:
    details = getattr(exc, "field_errors", None)
    message = exc.detail + (f": {json.dumps(details)}" if details else "")
    raise click.ClickException(message)


def _emit(as_json: bool, payload: dict[str, Any], human: str) -> None:
    click.echo(json.dumps(payload, default=str) if as_json else human)


def upgrade_database() -> None:
    """Apply migrations once; on PostgreSQL an advisory lock keeps two hosts from racing."""
    from flask_migrate import upgrade

    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(7290514)"))
            try:
                upgrade()
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(7290514)"))
                conn.commit()
    else:
        upgrade()


def initialize() -> None:
    """First start: schema, the default tenant, signing keys."""
    upgrade_database()
    tenants.ensure_default()
    signing_keys.ensure_keys()
    db.session.commit()
    if db.engine.dialect.name == "sqlite":  # PostgreSQL keeps its own statistics
        from idp.services import maintenance

        maintenance.refresh_statistics()
        db.session.commit()


def _tenant_id(slug: str | None) -> str:
    initialize()  # idempotent: `idp users create` works before the first `idp serve`
    try:
        return tenants.get_by_slug(slug or DEFAULT_TENANT_SLUG).id
    except errors.NotFound as exc:
        _fail(exc)
        raise


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
@click.option("--demo", is_flag=True, help="Create a demo user and client and print them.")
@with_appcontext
def serve(host: str, port: int, workers: int, demo: bool) -> None:
    """Apply migrations, create keys and the default tenant, and run gunicorn."""
    from gunicorn.app.base import BaseApplication

    initialize()
    if demo:
        _print_demo(_ensure_demo())
    settings = runtime.settings()

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("accesslog", "-")
            # One control socket per user would collide between two local servers.
            self.cfg.set("control_socket_disable", True)

        def load(self) -> Flask:
            return create_app(settings)

    db.session.remove()
    db.engine.dispose()  # no connection is shared across the fork
    click.echo(f"Serving {settings.issuer} on http://{host}:{port}", err=True)
    Server().run()


def _ensure_demo() -> dict[str, Any]:
    default = tenants.ensure_default()
    if not default.registration_enabled:  # the demo shows self-registration too
        tenants.update(default, registration_enabled=True)
    tenant_id = default.id
    user = users.find_by_email(tenant_id, DEMO_EMAIL) or users.create(
        tenant_id, DEMO_EMAIL, password=DEMO_PASSWORD, name="Demo User", email_verified=True
    )
    client = db.session.scalar(db.select(Client).where(Client.name == "Demo App"))
    if client is None:
        registered = clients.create(
            tenant_id,
            "Demo App",
            redirect_uris=DEMO_REDIRECT_URIS,
            grant_types=["authorization_code", "refresh_token"],
        )
        client, secret = registered.client, registered.client_secret
    else:
        secret = clients.rotate_secret(client)
    db.session.commit()
    assert isinstance(user, User) and secret is not None
    return {"client": client, "secret": secret}


def _print_demo(demo: dict[str, Any]) -> None:
    issuer = runtime.settings().issuer
    client = demo["client"]
    click.echo(
        f"""
  IdP ready at      {issuer}/
  Sign in as        {DEMO_EMAIL} / {DEMO_PASSWORD}
  Or register at    {issuer}/register  (mail goes to the log unless IDP_SMTP_URL is set)
  Your account      {issuer}/account   (passkeys, authenticator app, devices)
  Discovery         {issuer}/.well-known/openid-configuration
  Demo client       client_id={client.client_id}
                    client_secret={demo["secret"]}  (new on every --demo start)
                    redirect_uris={" ".join(client.redirect_uris)}
"""
    )


# --- users -----------------------------------------------------------------------------------


@main.group("users")
def users_group() -> None:
    """Manage users."""


@users_group.command("create")
@click.option("--email", required=True)
@click.option("--password", default=None, help="Omit for a user who signs in another way.")
@click.option("--name", default=None)
@click.option("--verified", is_flag=True, help="Mark the e-mail address verified.")
@click.option("--role", "roles", multiple=True)
@click.option("--tenant", default=None, help="Tenant slug (default: the default tenant).")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def users_create(
    email: str,
    password: str | None,
    name: str | None,
    verified: bool,
    roles: tuple[str, ...],
    tenant: str | None,
    as_json: bool,
) -> None:
    try:
        user = users.create(
            _tenant_id(tenant),
            email,
            password=password,
            name=name,
            email_verified=verified,
            roles=list(roles),
        )
    except errors.IdPError as exc:
        _fail(exc)
        return
    db.session.commit()
    payload = {
        "id": user.id,
        "tenant_id": user.tenant_id,
        "email": user.email,
        "email_verified": user.email_verified,
        "name": user.name,
        "roles": user.roles,
        "created_at": user.created_at.isoformat(),
    }
    _emit(as_json, payload, f"Created user {user.email} (sub {user.id})")


# --- clients ---------------------------------------------------------------------------------


@main.group("clients")
def clients_group() -> None:
    """Manage OAuth clients."""


@clients_group.command("create")
@click.option("--name", required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True)
@click.option("--post-logout-redirect-uri", "post_logout_redirect_uris", multiple=True)
@click.option("--public", is_flag=True, help="A client that cannot keep a secret (SPA, native).")
@click.option("--grant-type", "grant_types", multiple=True)
@click.option("--scope", "scopes", multiple=True)
@click.option("--auth-method", default=None, type=click.Choice(list(AUTH_METHODS)))
@click.option("--backchannel-logout-uri", default=None)
@click.option("--jwks-uri", default=None, help="The client's keys, for private_key_jwt.")
@click.option("--jwks", "jwks_json", default=None, help="The client's JWK Set as JSON.")
@click.option("--require-par", is_flag=True, help="Only pushed authorization requests.")
@click.option("--pairwise", is_flag=True, help="Pairwise subject identifiers.")
@click.option("--resource", "resources", multiple=True, help="Allowed RFC 8707 resource.")
@click.option("--skip-consent", is_flag=True, help="First-party client: no consent page.")
@click.option("--tenant", default=None)
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def clients_create(
    name: str,
    redirect_uris: tuple[str, ...],
    post_logout_redirect_uris: tuple[str, ...],
    public: bool,
    grant_types: tuple[str, ...],
    scopes: tuple[str, ...],
    auth_method: str | None,
    backchannel_logout_uri: str | None,
    jwks_uri: str | None,
    jwks_json: str | None,
    require_par: bool,
    pairwise: bool,
    resources: tuple[str, ...],
    skip_consent: bool,
    tenant: str | None,
    as_json: bool,
) -> None:
    try:
        jwks = json.loads(jwks_json) if jwks_json else None
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--jwks") from None
    try:
        registered = clients.create(
            _tenant_id(tenant),
            name,
            redirect_uris=list(redirect_uris),
            post_logout_redirect_uris=list(post_logout_redirect_uris),
            public=public,
            grant_types=list(grant_types) or None,
            scopes=list(scopes) or None,
            auth_method=auth_method,
            skip_consent=skip_consent,
            backchannel_logout_uri=backchannel_logout_uri,
            jwks=jwks,
            jwks_uri=jwks_uri,
            require_pushed_authorization_requests=require_par,
            subject_type="pairwise" if pairwise else "public",
            allowed_resources=list(resources),
        )
    except errors.IdPError as exc:
        _fail(exc)
        return
    db.session.commit()
    client = registered.client
    payload: dict[str, Any] = {
        "id": client.id,
        "tenant_id": client.tenant_id,
        "client_id": client.client_id,
        "name": client.name,
        "public": client.is_public,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "grant_types": client.grant_types,
        "scopes": client.scopes,
        "skip_consent": client.skip_consent,
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "jwks_uri": client.jwks_uri,
        "require_pushed_authorization_requests": client.require_pushed_authorization_requests,
        "subject_type": client.subject_type,
        "allowed_resources": client.allowed_resources,
        "require_pkce": client.require_pkce,
    }
    if registered.client_secret:
        payload["client_secret"] = registered.client_secret
    human = f"Created client {client.name}\n  client_id: {client.client_id}"
    if registered.client_secret:
        human += f"\n  client_secret: {registered.client_secret}  (shown once; store it now)"
    _emit(as_json, payload, human)


# --- API keys --------------------------------------------------------------------------------


@main.group("apikeys")
def apikeys_group() -> None:
    """Manage management-API keys."""


@apikeys_group.command("create")
@click.option("--name", required=True)
@click.option("--scope", "scopes", multiple=True, required=True)
@click.option("--tenant", default=None, help="Tenant slug (default: the default tenant).")
@click.option("--platform", is_flag=True, help="A key that may act on every tenant.")
@click.option("--expires-in-days", type=click.IntRange(1, 3650), default=None)
@click.option(
    "--application",
    "application",
    metavar="CLIENT_ID",
    default=None,
    help="Restrict the key to this client of its tenant (deleted with the client).",
)
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def apikeys_create(
    name: str,
    scopes: tuple[str, ...],
    tenant: str | None,
    platform: bool,
    expires_in_days: int | None,
    application: str | None,
    as_json: bool,
) -> None:
    from idp import clock
    from idp.services import api_keys

    if platform and tenant:
        raise click.UsageError("--platform and --tenant exclude each other")
    owner = None if platform else _tenant_id(tenant)
    expires = clock.now() + timedelta(days=expires_in_days) if expires_in_days else None
    try:
        minted = api_keys.create(
            name, list(scopes), tenant_id=owner, expires_at=expires, client_id=application
        )
    except errors.IdPError as exc:
        _fail(exc)
        return
    db.session.commit()
    record = minted.record
    payload = {
        "id": record.id,
        "name": record.name,
        "prefix": record.prefix,
        "scopes": record.scopes,
        "tenant_id": record.tenant_id,
        "application": record.application,
        "expires_at": record.expires_at.isoformat() if record.expires_at else None,
        "key": minted.key,
    }
    human = f"Created API key {record.prefix}…\n  key: {minted.key}  (shown once)"
    if record.application:
        human += f"\n  restricted to application: {record.application}"
    _emit(as_json, payload, human)


# --- keys ------------------------------------------------------------------------------------


@main.group("keys")
def keys_group() -> None:
    """Manage signing keys."""


@keys_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def keys_list(as_json: bool) -> None:
    rows = [
        {
            "kid": k.kid,
            "alg": k.alg,
            "created_at": k.created_at.isoformat(),
            "status": "active" if k.retired_at is None else "retired",
            "publish_until": k.publish_until.isoformat() if k.publish_until else None,
        }
        for k in signing_keys.list_all()
    ]
    if as_json:
        click.echo(json.dumps(rows))
        return
    for row in rows:
        until = f" published until {row['publish_until']}" if row["publish_until"] else ""
        click.echo(f"{row['kid']}  {row['alg']}  {row['status']}  {row['created_at']}{until}")


@keys_group.command("rotate")
@click.option("--alg", default="RS256", type=click.Choice(list(signing_keys.ALGORITHMS)))
@with_appcontext
def keys_rotate(alg: str) -> None:
    """Sign with a new key; the old one stays in JWKS until its tokens have expired."""
    settings = runtime.settings()
    longest = (
        db.session.scalar(db.select(db.func.max(db.func.coalesce(Client.id_token_lifetime, 0))))
        or 0
    )
    longest = max(
        longest,
        settings.id_token_lifetime,
        settings.access_token_lifetime,
        db.session.scalar(db.select(db.func.max(db.func.coalesce(Client.access_token_lifetime, 0))))
        or 0,
    )
    new = signing_keys.rotate(alg, publish_for=timedelta(seconds=longest + 300))
    db.session.commit()
    runtime.keyring().invalidate()
    click.echo(f"New {alg} signing key {new.kid}")


# --- tenants ---------------------------------------------------------------------------------


@main.group("tenants")
def tenants_group() -> None:
    """Manage tenants."""


@tenants_group.command("create")
@click.option("--slug", required=True)
@click.option("--name", required=True)
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def tenants_create(slug: str, name: str, as_json: bool) -> None:
    try:
        tenant = tenants.create(slug, name)
    except errors.IdPError as exc:
        _fail(exc)
        return
    db.session.commit()
    _emit(
        as_json,
        {"id": tenant.id, "slug": tenant.slug, "name": tenant.name},
        f"Created tenant {tenant.slug} ({tenant.id})",
    )


@main.command("purge")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def purge_command(as_json: bool) -> None:
    """Delete expired codes, refresh tokens, pushed requests, revoked-token and assertion
    records, and mail given up on more than 30 days ago (safe to run from cron at any time)."""
    from idp.services import maintenance

    counts = maintenance.purge_expired()
    db.session.commit()
    maintenance.refresh_statistics()
    db.session.commit()
    _emit(as_json, counts, ", ".join(f"{k}: {v}" for k, v in counts.items()))


# --- logout ----------------------------------------------------------------------------------


@main.group("logout")
def logout_group() -> None:
    """Back-Channel Logout deliveries."""


@logout_group.command("deliver")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def logout_deliver(as_json: bool) -> None:
    """Send every due logout token once (for cron, or after a restart)."""
    from idp.oauth import backchannel

    report = backchannel.deliver_due()
    _emit(
        as_json,
        {"delivered": report.delivered, "retrying": report.retrying, "failed": report.failed},
        f"Delivered {report.delivered}, retrying {report.retrying}, gave up {report.failed}",
    )


# --- mail ------------------------------------------------------------------------------------


@main.group("mail")
def mail_group() -> None:
    """The outgoing mail outbox."""


@mail_group.command("deliver")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def mail_deliver(as_json: bool) -> None:
    """Send every due message once (for cron, or after a restart)."""
    from idp import mail
    from idp import mail_delivery

    if not runtime.settings().smtp_url:
        raise click.ClickException("IDP_SMTP_URL is not set: mail goes to the log, none is queued")
    try:
        report = mail_delivery.deliver_all_due()
    except mail.MailConfigError as exc:
        raise click.ClickException(str(exc)) from None
    _emit(
        as_json,
        {"sent": report.sent, "retrying": report.retrying, "failed": report.failed},
        f"Sent {report.sent}, retrying {report.retrying}, gave up {report.failed}",
    )


@main.command("init")
@with_appcontext
def init_command() -> None:
    """Apply migrations and create the default tenant and signing keys (idempotent)."""
    initialize()
    click.echo("Database ready.")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
