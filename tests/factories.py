"""Plain factories with sensible defaults; each commits and returns plain values."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from idp.extensions import db
from idp.services import clients
from idp.services import tenants
from idp.services import users

PASSWORD = "correct horse battery staple"
REDIRECT_URI = "https://rp.example.com/callback"


@dataclass
class MadeUser:
    id: str
    email: str
    password: str
    tenant_id: str


@dataclass
class MadeClient:
    client_id: str
    client_secret: str | None
    redirect_uri: str
    tenant_id: str


def make_user(
    app: Flask,
    email: str = "alice@example.com",
    password: str = PASSWORD,
    tenant_slug: str = "default",
    **fields: object,
) -> MadeUser:
    with app.app_context():
        tenant = tenants.get_by_slug(tenant_slug)
        user = users.create(
            tenant.id,
            email,
            password=password,
            email_verified=True,
            name=fields.pop("name", "Alice Example"),
        )  # type: ignore[arg-type]
        for key, value in fields.items():
            setattr(user, key, value)
        db.session.commit()
        return MadeUser(user.id, email, password, tenant.id)


def make_client(
    app: Flask,
    *,
    public: bool = False,
    redirect_uri: str | None = REDIRECT_URI,
    tenant_slug: str = "default",
    **options: object,
) -> MadeClient:
    with app.app_context():
        tenant = tenants.get_by_slug(tenant_slug)
        registered = clients.create(
            tenant.id,
            options.pop("name", "Test RP"),  # type: ignore[arg-type]
            redirect_uris=[redirect_uri] if redirect_uri else [],
            public=public,
            **options,
        )  # type: ignore[arg-type]
        db.session.commit()
        return MadeClient(
            registered.client.client_id, registered.client_secret, redirect_uri or "", tenant.id
        )


def make_tenant(app: Flask, slug: str, name: str = "Other") -> str:
    with app.app_context():
        tenant = tenants.create(slug, name)
        db.session.commit()
        return tenant.id


def make_api_key(
    app: Flask,
    *scopes: str,
    tenant_slug: str | None = "default",
    expires_at: object = None,
    application: str | None = None,
) -> str:
    """A management API key; `tenant_slug=None` makes a platform key, `application` (a
    client_id) restricts it to that client."""
    from idp.services import api_keys

    with app.app_context():
        owner = tenants.get_by_slug(tenant_slug).id if tenant_slug else None
        minted = api_keys.create(
            "test key",
            list(scopes) or ["*"],
            tenant_id=owner,
            expires_at=expires_at,  # type: ignore[arg-type]
            client_id=application,
        )
        db.session.commit()
        return minted.key
