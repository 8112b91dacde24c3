"""/management/v1/users/{id}/identities: list and unlink a user's linked identities (the last
way to sign in only with force=true); the `provider` filter of the user list."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from idp import clock
from idp.extensions import db
from idp.models import AuditEvent
from idp.models import Identity
from idp.models import User
from tests.factories import MadeUser
from tests.factories import make_api_key
from tests.factories import make_tenant
from tests.factories import make_user

URL = "/management/v1/users"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def admin(app) -> dict[str, str]:
    return bearer(make_api_key(app, "*"))


def link(app: Flask, user: MadeUser, provider: str = "google", **fields: object) -> str:
    with app.app_context():
        identity = Identity(
            tenant_id=user.tenant_id,
            user_id=user.id,
            provider=provider,
            subject=fields.pop("subject", uuid.uuid4().hex),
            email=user.email,
            claims={"sub": "upstream", "hd": "example.com"},
            **fields,
        )
        db.session.add(identity)
        db.session.commit()
        return identity.id


def without_password(app: Flask, user: MadeUser) -> None:
    with app.app_context():
        db.session.get(User, user.id).password_hash = None
        db.session.commit()


def linked_ids(app: Flask, user: MadeUser) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(select(Identity.id).where(Identity.user_id == user.id)))


def test_lists_a_users_identities_with_their_claims(app, client, admin):
    user = make_user(app)
    now = clock.now()
    first = link(app, user, "microsoft", subject="ms-1", created_at=now - timedelta(days=1))
    second = link(app, user, "google", subject="g-1", created_at=now)
    link(app, make_user(app, "bob@example.com"))

    response = client.get(f"{URL}/{user.id}/identities", headers=admin)

    assert response.status_code == 200, response.text
    body = response.get_json()
    assert body["total"] == 2 and [i["id"] for i in body["items"]] == [first, second]
    item = body["items"][0]
    assert item["provider"] == "microsoft" and item["subject"] == "ms-1"
    assert item["email"] == user.email and item["claims"] == {
        "sub": "upstream",
        "hd": "example.com",
    }
    assert item["last_login_at"] is None and item["created_at"]


def test_unlink_an_identity(app, client, admin):
    user = make_user(app)
    identity_id = link(app, user)

    response = client.delete(f"{URL}/{user.id}/identities/{identity_id}", headers=admin)

    assert response.status_code == 204, response.text
    assert linked_ids(app, user) == set()
    with app.app_context():
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event_type == "identity.unlinked")
        ).one()
        assert event.actor_type == "api_key" and event.target_id == identity_id
        assert event.details["last_way_to_sign_in"] is False


def test_the_last_way_to_sign_in_needs_force(app, client, admin):
    user = make_user(app)
    identity_id = link(app, user)
    without_password(app, user)
    url = f"{URL}/{user.id}/identities/{identity_id}"

    refused = client.delete(url, headers=admin)
    assert refused.status_code == 409, refused.text
    assert refused.mimetype == "application/problem+json"
    assert linked_ids(app, user) == {identity_id}
    assert client.delete(f"{url}?force=false", headers=admin).status_code == 409

    forced = client.delete(f"{url}?force=true", headers=admin)

    assert forced.status_code == 204
    assert linked_ids(app, user) == set()
    with app.app_context():
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event_type == "identity.unlinked")
        ).one()
        assert event.details["last_way_to_sign_in"] is True


def test_unknown_query_parameters_are_refused(app, client, admin):
    user = make_user(app)
    identity_id = link(app, user)
    response = client.delete(f"{URL}/{user.id}/identities/{identity_id}?forse=1", headers=admin)
    assert response.status_code == 422
    assert linked_ids(app, user) == {identity_id}


def test_identities_of_another_user_or_tenant_are_404(app, client, admin):
    user = make_user(app)
    other = make_user(app, "bob@example.com")
    theirs = link(app, other)
    make_tenant(app, "acme")
    stranger = make_user(app, "eve@acme.example", tenant_slug="acme")
    strangers = link(app, stranger)

    for user_id, identity_id in [
        (user.id, theirs),
        (user.id, str(uuid.uuid4())),
        (user.id, "x" * 300),
        (stranger.id, strangers),
    ]:
        response = client.delete(f"{URL}/{user_id}/identities/{identity_id}", headers=admin)
        assert response.status_code == 404, (user_id, identity_id)
    assert client.get(f"{URL}/{stranger.id}/identities", headers=admin).status_code == 404
    assert linked_ids(app, other) == {theirs} and linked_ids(app, stranger) == {strangers}


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [("get", "/identities", "users:read"), ("delete", "/identities/{identity}", "users:write")],
)
def test_each_endpoint_needs_its_scope(app, client, method, path, scope):
    user = make_user(app)
    url = f"{URL}/{user.id}" + path.format(identity=link(app, user))
    assert getattr(client, method)(url).status_code == 401
    wrong = "users:read" if scope == "users:write" else "sessions:read"
    response = getattr(client, method)(url, headers=bearer(make_api_key(app, wrong)))
    assert response.status_code == 403 and scope in response.get_json()["detail"]
    assert getattr(client, method)(url, headers=bearer(make_api_key(app, scope))).status_code in (
        200,
        204,
    )


# --- the provider filter of the user list ------------------------------------------------------


def test_users_can_be_filtered_by_provider(app, client, admin):
    googler = make_user(app, "g@example.com")
    both = make_user(app, "both@example.com")
    make_user(app, "plain@example.com")
    link(app, googler, "google")
    link(app, both, "google")
    link(app, both, "microsoft")

    def emails(query: str) -> list[str]:
        response = client.get(f"{URL}?{query}", headers=admin)
        assert response.status_code == 200, response.text
        return sorted(u["email"] for u in response.get_json()["items"])

    assert emails("provider=google") == ["both@example.com", "g@example.com"]
    assert emails("provider=microsoft") == ["both@example.com"]
    assert emails("provider=github") == []
    assert emails("provider=google&search=both") == ["both@example.com"]
    page = client.get(f"{URL}?provider=google&limit=1", headers=admin).get_json()
    assert page["total"] == 2 and len(page["items"]) == 1 and page["next_cursor"]
    assert client.get(f"{URL}?provider=", headers=admin).status_code == 422


def test_the_provider_filter_stays_in_the_tenant(app, client, admin):
    make_tenant(app, "acme")
    link(app, make_user(app, "eve@acme.example", tenant_slug="acme"), "google")
    assert client.get(f"{URL}?provider=google", headers=admin).get_json()["total"] == 0
