"""/account/v1/identities: list the user's linked upstream accounts, unlink one, never the
last way to sign in; the hosted page /account/linked."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp import clock
from idp.extensions import db
from idp.models import AuditEvent
from idp.models import Identity
from idp.models import User
from idp.models import WebAuthnCredential
from tests.accounts import account_token
from tests.accounts import csrf_header
from tests.accounts import signed_in
from tests.factories import MadeUser
from tests.factories import make_user
from tests.flow import csrf_token

URL = "/account/v1/identities"


def link(app: Flask, user: MadeUser, provider: str = "google", **fields: object) -> str:
    with app.app_context():
        identity = Identity(
            tenant_id=user.tenant_id,
            user_id=user.id,
            provider=provider,
            subject=fields.pop("subject", uuid.uuid4().hex),
            email=fields.pop("email", user.email),
            claims={"sub": "x", "email": user.email},
            **fields,
        )
        db.session.add(identity)
        db.session.commit()
        return identity.id


def without_password(app: Flask, user: MadeUser) -> None:
    with app.app_context():
        db.session.get(User, user.id).password_hash = None
        db.session.commit()


def add_passkey(app: Flask, user: MadeUser) -> None:
    with app.app_context():
        db.session.add(
            WebAuthnCredential(
                tenant_id=user.tenant_id,
                user_id=user.id,
                credential_id=uuid.uuid4().hex,
                public_key=b"key",
                name="YubiKey",
            )
        )
        db.session.commit()


def linked_ids(app: Flask, user: MadeUser) -> set[str]:
    with app.app_context():
        query = select(Identity.id).where(Identity.user_id == user.id)
        return set(db.session.scalars(query))


def unlink(http: FlaskClient, identity_id: str):
    return http.delete(f"{URL}/{identity_id}", headers=csrf_header(http))


def test_lists_the_users_own_identities_oldest_first(app, client):
    user = make_user(app)
    other = make_user(app, "bob@example.com")
    now = clock.now()
    older = link(app, user, "microsoft", created_at=now - timedelta(days=2))
    newer = link(app, user, "google", created_at=now - timedelta(days=1), last_login_at=now)
    link(app, other, "google")
    signed_in(client, user)

    response = client.get(URL)

    assert response.status_code == 200, response.text
    body = response.get_json()
    assert body["total"] == 2
    assert [i["id"] for i in body["items"]] == [older, newer]
    first, second = body["items"]
    assert first["provider"] == "microsoft" and first["email"] == user.email
    assert first["last_login_at"] is None and second["last_login_at"]
    assert set(first) == {"id", "provider", "email", "created_at", "last_login_at"}


def test_unlink_with_a_password_left(app, client):
    user = make_user(app)
    identity_id = link(app, user)
    signed_in(client, user)

    response = unlink(client, identity_id)

    assert response.status_code == 204, response.text
    assert linked_ids(app, user) == set()
    with app.app_context():
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event_type == "identity.unlinked")
        ).one()
        assert event.target_id == identity_id and event.user_id == user.id
        assert event.details["provider"] == "google"


def test_the_last_way_to_sign_in_cannot_be_unlinked(app, client):
    user = make_user(app)
    google = link(app, user, "google")
    microsoft = link(app, user, "microsoft")
    signed_in(client, user)
    without_password(app, user)

    assert unlink(client, google).status_code == 204  # microsoft is left
    refused = unlink(client, microsoft)

    assert refused.status_code == 409, refused.text
    assert refused.mimetype == "application/problem+json"
    assert "last way to sign in" in refused.get_json()["detail"]
    assert linked_ids(app, user) == {microsoft}


def test_a_passkey_is_a_way_to_sign_in(app, client):
    user = make_user(app)
    identity_id = link(app, user)
    signed_in(client, user)
    without_password(app, user)
    add_passkey(app, user)

    assert unlink(client, identity_id).status_code == 204


@pytest.mark.parametrize("whose", ["another user's", "unknown", "oversized"])
def test_an_identity_not_of_the_user_is_404(app, client, whose):
    user = make_user(app)
    other = make_user(app, "bob@example.com")
    theirs = link(app, other)
    identity_id = {"another user's": theirs, "unknown": str(uuid.uuid4()), "oversized": "x" * 300}
    signed_in(client, user)

    response = unlink(client, identity_id[whose])

    assert response.status_code == 404
    assert linked_ids(app, other) == {theirs}


def test_a_cookie_unlink_without_the_csrf_header_is_400(app, client):
    user = make_user(app)
    identity_id = link(app, user)
    signed_in(client, user)

    assert client.delete(f"{URL}/{identity_id}").status_code == 400
    assert linked_ids(app, user) == {identity_id}


def test_with_an_access_token(app):
    user = make_user(app)
    identity_id = link(app, user)
    http = app.test_client()
    without_scope = {"Authorization": f"Bearer {account_token(app, http, user, scope='email')}"}
    assert http.get(URL, headers=without_scope).status_code == 403
    assert http.delete(f"{URL}/{identity_id}", headers=without_scope).status_code == 403

    token = {"Authorization": f"Bearer {account_token(app, http, user)}"}
    assert http.get(URL, headers=token).get_json()["total"] == 1
    assert http.delete(f"{URL}/{identity_id}", headers=token).status_code == 204


# --- the hosted page ---------------------------------------------------------------------------


def test_the_page_lists_and_unlinks(app, client):
    user = make_user(app)
    identity_id = link(app, user, "google", email="alice@gmail.example")
    signed_in(client, user)

    page = client.get("/account/linked")
    assert page.status_code == 200, page.text
    assert "Google" in page.text and "alice@gmail.example" in page.text

    response = client.post(
        f"/account/linked/{identity_id}/unlink", data={"csrf_token": csrf_token(page.text)}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/account/linked"
    assert linked_ids(app, user) == set()
    assert "Unlinked your Google account" in client.get("/account/linked").text


def test_the_page_refuses_the_last_way_to_sign_in(app, client):
    user = make_user(app)
    identity_id = link(app, user)
    signed_in(client, user)
    without_password(app, user)
    page = client.get("/account/linked")

    client.post(f"/account/linked/{identity_id}/unlink", data={"csrf_token": csrf_token(page.text)})

    assert linked_ids(app, user) == {identity_id}
    assert "only way to sign in" in client.get("/account/linked").text


def test_the_page_needs_its_csrf_token_and_a_signed_in_user(app, client):
    user = make_user(app)
    identity_id = link(app, user)
    assert client.get("/account/linked").status_code == 303  # to the sign-in page
    signed_in(client, user)

    response = client.post(f"/account/linked/{identity_id}/unlink")

    assert response.status_code == 400
    assert linked_ids(app, user) == {identity_id}
