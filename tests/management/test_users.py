"""/management/v1/users: CRUD, listing (cursor, offset, filters), password, block, a user's
sessions, grants and audit trail; scopes and tenant isolation."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent
from idp.models import BrowserSession
from idp.models import Grant
from idp.models import User
from tests.factories import make_api_key
from tests.factories import make_client
from tests.factories import make_tenant
from tests.factories import make_user
from tests.flow import authorize
from tests.flow import exchange
from tests.flow import refresh

URL = "/management/v1/users"
REFRESHABLE = ["authorization_code", "refresh_token"]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def admin(app) -> dict[str, str]:
    return bearer(make_api_key(app, "*"))


def create(client, headers, **body):
    body.setdefault("email", "bob@example.com")
    response = client.post(URL, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.get_json()


def events(app, event_type: str) -> list[AuditEvent]:
    with app.app_context():
        query = select(AuditEvent).where(AuditEvent.event_type == event_type)
        return list(db.session.scalars(query))


def signed_in(app, client):
    """A user with a browser session, an access token and a refresh token."""
    user = make_user(app)
    rp = make_client(app, grant_types=REFRESHABLE, skip_consent=True)
    auth = authorize(client, rp, user, scope="openid email offline_access")
    tokens = exchange(client, rp, auth.code, auth.verifier).get_json()
    assert "refresh_token" in tokens, tokens
    return user, rp, tokens


def userinfo(client, access_token):
    return client.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})


# --- create, read, change, delete ---------------------------------------------------------


def test_create_user_returns_201_without_any_password_hash(app, client, admin):
    chosen = str(uuid.uuid4())
    user = create(
        client,
        admin,
        id=chosen,
        email="Bob@Example.com",
        password="long enough password",
        name="Bob",
        given_name="Bob",
        family_name="Builder",
        roles=["admin", "billing"],
        email_verified=True,
        metadata={"plan": "gold", "n": 3},
    )
    assert user["id"] == chosen and user["email"] == "Bob@Example.com"
    assert user["roles"] == ["admin", "billing"] and user["metadata"] == {"plan": "gold", "n": 3}
    assert user["has_password"] is True and user["email_verified"] is True
    assert not any("password" in name and name != "has_password" for name in user)
    assert "hash" not in json.dumps(user)
    got = client.get(f"{URL}/{chosen}", headers=admin)
    assert got.status_code == 200 and got.get_json() == user
    created = events(app, "user.created")
    assert created and created[0].actor_type == "api_key" and created[0].target_id == chosen


def test_create_user_minimal_has_no_password(app, client, admin):
    user = create(client, admin, email="min@example.com")
    assert user["has_password"] is False and user["roles"] == [] and user["is_active"] is True


@pytest.mark.parametrize("email", ["bob@example.com", "BOB@example.COM"])
def test_duplicate_email_is_409(app, client, admin, email):
    create(client, admin)
    response = client.post(URL, json={"email": email}, headers=admin)
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"


def test_duplicate_chosen_id_is_409(app, client, admin):
    chosen = str(uuid.uuid4())
    create(client, admin, id=chosen)
    response = client.post(URL, json={"id": chosen, "email": "x@example.com"}, headers=admin)
    assert response.status_code == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "email"),
        ({"email": "not-an-address"}, "email"),
        ({"email": 42}, "email"),
        ({"email": "a@" + "x" * 400 + ".com"}, "email"),
        ({"email": "a@example.com", "password": "short"}, "password"),
        ({"email": "a@example.com", "password": "x" * 5000}, "password"),
        ({"email": "a@example.com", "id": "not-a-uuid"}, "id"),
        ({"email": "a@example.com", "roles": "admin"}, "roles"),
        ({"email": "a@example.com", "roles": ["has space"]}, "roles"),
        ({"email": "a@example.com", "roles": ["r"] * 51}, "roles"),
        ({"email": "a@example.com", "email_verified": "maybe"}, "email_verified"),
        ({"email": "a@example.com", "metadata": [1]}, "metadata"),
        ({"email": "a@example.com", "metadata": {"k": "v" * 20_000}}, "metadata"),
        ({"email": "a@example.com", "name": "n" * 201}, "name"),
        ({"email": "a@example.com", "unknown": 1}, "unknown"),
        ({"email": "a@example.com", "password_hash": "x"}, "password_hash"),
    ],
)
def test_create_user_rejects_bad_bodies_with_422_per_field(app, client, admin, body, field):
    response = client.post(URL, json=body, headers=admin)
    assert response.status_code == 422, response.text
    problem = response.get_json()
    assert response.mimetype == "application/problem+json"
    assert field in problem["errors"], problem


def test_create_user_rejects_a_non_object_body(app, client, admin):
    assert client.post(URL, json=["x"], headers=admin).status_code == 422
    response = client.post(URL, data="{", headers={**admin, "Content-Type": "application/json"})
    assert response.status_code in (400, 422)


def test_patch_user_changes_fields_and_audits(app, client, admin):
    user = create(client, admin, email_verified=True)
    response = client.patch(
        f"{URL}/{user['id']}",
        json={
            "name": "Robert",
            "roles": ["ops"],
            "is_active": False,
            "metadata": {"a": 1},
            "email": "robert@example.com",
        },
        headers=admin,
    )
    assert response.status_code == 200, response.text
    changed = response.get_json()
    assert changed["name"] == "Robert" and changed["roles"] == ["ops"]
    assert changed["is_active"] is False and changed["metadata"] == {"a": 1}
    assert changed["email"] == "robert@example.com"
    assert changed["email_verified"] is False  # a new address is unverified
    (event,) = events(app, "user.updated")
    assert set(event.details["fields"]) == {"name", "roles", "is_active", "metadata", "email"}


def test_patch_to_an_existing_email_is_409(app, client, admin):
    create(client, admin, email="taken@example.com")
    user = create(client, admin)
    response = client.patch(
        f"{URL}/{user['id']}", json={"email": "TAKEN@example.com"}, headers=admin
    )
    assert response.status_code == 409


@pytest.mark.parametrize(
    "body",
    [{"is_active": "no"}, {"roles": [1]}, {"email": None}, {"password": "new password 1"},
     {"id": str(uuid.uuid4())}, {"name": "n" * 201}],
)  # fmt: skip
def test_patch_rejects_bad_bodies(app, client, admin, body):
    user = create(client, admin)
    assert client.patch(f"{URL}/{user['id']}", json=body, headers=admin).status_code == 422


def test_delete_user_is_204_and_cascades(app, client, admin):
    user, _rp, tokens = signed_in(app, client)
    assert client.delete(f"{URL}/{user.id}", headers=admin).status_code == 204
    assert client.get(f"{URL}/{user.id}", headers=admin).status_code == 404
    assert client.delete(f"{URL}/{user.id}", headers=admin).status_code == 404
    with app.app_context():
        assert db.session.scalars(select(BrowserSession)).all() == []
        assert db.session.scalars(select(Grant)).all() == []
    assert userinfo(client, tokens["access_token"]).status_code == 401
    assert events(app, "user.deleted")


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", ""), ("patch", ""), ("delete", ""), ("post", "/password"), ("post", "/block"),
     ("post", "/unblock"), ("get", "/sessions"), ("delete", "/sessions"),
     ("delete", "/sessions/x"), ("get", "/grants"), ("delete", "/grants"),
     ("get", "/audit-events")],
)  # fmt: skip
def test_unknown_and_other_tenants_users_are_404(app, client, admin, method, path):
    make_tenant(app, "acme")
    stranger = make_user(app, "eve@acme.example", tenant_slug="acme")
    body = {"password": "long enough password"} if path == "/password" else {}
    for user_id in (str(uuid.uuid4()), stranger.id, "x" * 300):
        response = getattr(client, method)(f"{URL}/{user_id}{path}", json=body, headers=admin)
        assert response.status_code == 404, (user_id, response.text)
        assert response.mimetype == "application/problem+json"


def test_unknown_session_of_a_known_user_is_404(app, client, admin):
    user = make_user(app)
    response = client.delete(f"{URL}/{user.id}/sessions/{uuid.uuid4()}", headers=admin)
    assert response.status_code == 404


# --- authentication, scopes, tenants ------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [("get", "", "users:read"), ("post", "", "users:write"), ("get", "/{id}", "users:read"),
     ("patch", "/{id}", "users:write"), ("delete", "/{id}", "users:delete"),
     ("post", "/{id}/password", "users:write"), ("post", "/{id}/block", "users:write"),
     ("post", "/{id}/unblock", "users:write"), ("get", "/{id}/sessions", "sessions:read"),
     ("delete", "/{id}/sessions", "sessions:write"),
     ("delete", "/{id}/sessions/x", "sessions:write"), ("get", "/{id}/grants", "sessions:read"),
     ("delete", "/{id}/grants", "sessions:write"), ("get", "/{id}/audit-events", "audit:read")],
)  # fmt: skip
def test_each_endpoint_needs_a_credential_and_its_scope(app, client, method, path, scope):
    user = make_user(app)
    url = URL + path.format(id=user.id)
    assert getattr(client, method)(url, json={}).status_code == 401
    wrong = "audit:read" if scope != "audit:read" else "users:read"
    response = getattr(client, method)(url, json={}, headers=bearer(make_api_key(app, wrong)))
    assert response.status_code == 403
    assert scope in response.get_json()["detail"]


def test_tenants_see_only_their_own_users(app, client):
    make_tenant(app, "acme")
    mine = make_user(app, "me@example.com")
    theirs = make_user(app, "them@acme.example", tenant_slug="acme")
    default_key = bearer(make_api_key(app, "*"))
    acme_key = bearer(make_api_key(app, "*", tenant_slug="acme"))
    listed = client.get(URL, headers=default_key).get_json()
    assert [u["id"] for u in listed["items"]] == [mine.id] and listed["total"] == 1
    listed = client.get(URL, headers=acme_key).get_json()
    assert [u["id"] for u in listed["items"]] == [theirs.id]
    assert client.get(f"{URL}/{theirs.id}", headers=default_key).status_code == 404
    assert client.patch(f"{URL}/{mine.id}", json={"name": "x"}, headers=acme_key).status_code == 404
    # the same address may exist once per tenant
    assert client.post(URL, json={"email": "me@example.com"}, headers=acme_key).status_code == 201
    # a tenant key may not pick another tenant
    response = client.get(URL, headers={**default_key, "X-Tenant-Id": "acme"})
    assert response.status_code == 403


def test_platform_key_acts_on_the_tenant_it_names(app, client):
    make_tenant(app, "acme")
    theirs = make_user(app, "them@acme.example", tenant_slug="acme")
    platform = bearer(make_api_key(app, "*", tenant_slug=None))
    listed = client.get(URL, headers={**platform, "X-Tenant-Id": "acme"}).get_json()
    assert [u["id"] for u in listed["items"]] == [theirs.id]
    assert client.get(URL, headers=platform).get_json()["total"] == 0


# --- listing --------------------------------------------------------------------------------


def _many(client, admin, count):
    return [create(client, admin, email=f"user{i:02d}@example.com")["id"] for i in range(count)]


def test_cursor_walks_every_user_exactly_once_newest_first(app, client, admin):
    ids = _many(client, admin, 7)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        body = client.get(URL, query_string=params, headers=admin).get_json()
        assert body["total"] == 7 and len(body["items"]) <= 3
        seen += [u["id"] for u in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 7 and set(seen) == set(ids)
    created = [
        u["created_at"]
        for u in client.get(URL, headers=admin, query_string={"limit": 7}).get_json()["items"]
    ]
    assert created == sorted(created, reverse=True)


def test_cursor_is_stable_when_users_share_a_creation_time(app, client, admin):
    ids = _many(client, admin, 5)
    with app.app_context():
        for user_id in ids:
            db.session.get(User, user_id).created_at = datetime(2030, 1, 1, tzinfo=UTC)
        db.session.commit()
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = client.get(URL, query_string=params, headers=admin).get_json()
        seen += [u["id"] for u in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 5


def test_offset_pages_and_total(app, client, admin):
    _many(client, admin, 5)
    everyone = client.get(URL, headers=admin).get_json()["items"]
    body = client.get(URL, query_string={"limit": 2, "offset": 2}, headers=admin).get_json()
    assert body["total"] == 5 and [u["id"] for u in body["items"]] == [
        u["id"] for u in everyone[2:4]
    ]
    body = client.get(URL, query_string={"offset": 10}, headers=admin).get_json()
    assert body["items"] == [] and body["total"] == 5 and body["next_cursor"] is None


def _bad_cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 201}, {"limit": "ten"}, {"offset": -1}, {"offset": 10**12},
     {"cursor": "%%%"}, {"cursor": "x" * 500}, {"cursor": _bad_cursor("[1,2]")},
     {"cursor": _bad_cursor('["2020-01-01T00:00:00+00:00", 5]')}, {"cursor": _bad_cursor("{}")},
     {"is_active": "perhaps"}, {"created_from": "yesterday"}, {"search": "x" * 400},
     {"unknown": "1"}],
)  # fmt: skip
def test_list_rejects_bad_query_parameters(app, client, admin, params):
    response = client.get(URL, query_string=params, headers=admin)
    assert response.status_code in (400, 422), response.text
    assert response.mimetype == "application/problem+json"


def test_filters(app, client, admin):
    ann = create(client, admin, email="ann.lee@example.com", name="Ann Lee", roles=["admin"])
    zed = create(client, admin, email="zed@example.com", name="Annabel Zed", email_verified=True)
    pct = create(client, admin, email="a_b%c@example.com", name="Percent", roles=["Admin2", "ops"])
    blocked = create(client, admin, email="off@example.com", name="Off")
    client.patch(f"{URL}/{blocked['id']}", json={"is_active": False}, headers=admin)
    start = datetime(2030, 1, 1, tzinfo=UTC)
    middle = start + timedelta(hours=1)
    with app.app_context():  # the column default is bound to the real clock: set times here
        for hours, made in enumerate((ann, zed, pct, blocked)):
            user = db.session.get(User, made["id"])
            user.created_at = start + timedelta(hours=min(hours, 2))
        db.session.commit()

    def emails(**params):
        body = client.get(URL, query_string=params, headers=admin).get_json()
        assert body["total"] == len(body["items"]), body
        return sorted(u["email"] for u in body["items"])

    assert emails(search="ANN") == ["ann.lee@example.com", "zed@example.com"]
    assert emails(search="ann.") == ["ann.lee@example.com"]
    assert emails(search="lee") == []  # a prefix, not a substring
    assert emails(search="a_") == ["a_b%c@example.com"]  # wildcards are literal
    assert emails(search="%") == []
    assert emails(email="ZED@example.com") == ["zed@example.com"]
    assert emails(email="zed") == []
    assert emails(role="admin") == ["ann.lee@example.com"]
    assert emails(role="ops") == ["a_b%c@example.com"]
    assert emails(role="adm") == []
    assert emails(is_active="false") == ["off@example.com"]
    assert len(emails(is_active="true")) == 3
    assert emails(email_verified="true") == ["zed@example.com"]
    assert emails(created_to=middle.isoformat()) == ["ann.lee@example.com"]
    assert emails(
        created_from=middle.isoformat(), created_to=(middle + timedelta(minutes=30)).isoformat()
    ) == ["zed@example.com"]
    assert len(emails(created_from=middle.isoformat())) == 3
    naive = middle.replace(tzinfo=None).isoformat()  # read as UTC
    assert emails(created_to=naive) == ["ann.lee@example.com"]
    assert emails(search="a", email_verified="false") == [
        "a_b%c@example.com",
        "ann.lee@example.com",
    ]


# --- password, block, unblock -------------------------------------------------------------


def test_set_password_lets_the_user_sign_in_with_it_and_keeps_sessions(app, client, admin):
    user, _rp, tokens = signed_in(app, client)
    response = client.post(
        f"{URL}/{user.id}/password", json={"password": "a brand new password"}, headers=admin
    )
    assert response.status_code == 204
    assert userinfo(client, tokens["access_token"]).status_code == 200  # revokes nothing
    with app.app_context():
        from idp.services import users

        users.authenticate(
            user.tenant_id, user.email, "a brand new password", actor=users.audit.SYSTEM
        )
    assert events(app, "user.password_set")


@pytest.mark.parametrize(
    "body",
    [{}, {"password": "short"}, {"password": 12345678}, {"password": "x" * 2000},
     {"password": "long enough", "x": 1}],
)  # fmt: skip
def test_set_password_rejects_bad_bodies(app, client, admin, body):
    user = make_user(app)
    response = client.post(f"{URL}/{user.id}/password", json=body, headers=admin)
    assert response.status_code == 422


def test_block_ends_sessions_and_kills_tokens_then_unblock(app, client, admin):
    user, rp, tokens = signed_in(app, client)
    assert userinfo(client, tokens["access_token"]).status_code == 200
    response = client.post(f"{URL}/{user.id}/block", json={"reason": "fraud"}, headers=admin)
    assert response.status_code == 200, response.text
    assert response.get_json()["blocked"] is True
    assert response.get_json()["blocked_reason"] == "fraud"
    assert userinfo(client, tokens["access_token"]).status_code == 401
    assert refresh(client, rp, tokens["refresh_token"]).status_code == 400
    live = client.get(f"{URL}/{user.id}/sessions", headers=admin).get_json()
    assert live == {"items": [], "total": 0}
    every = client.get(f"{URL}/{user.id}/sessions?include_revoked=true", headers=admin).get_json()
    assert every["total"] == 1 and every["items"][0]["revoked_at"]
    assert client.get(f"{URL}/{user.id}/grants", headers=admin).get_json()["total"] == 0
    assert events(app, "user.blocked") and events(app, "session.ended")
    # a blocked user cannot sign in again
    again = authorize(client.application.test_client(), rp, user)
    assert not again.redirect.get("code")

    response = client.post(f"{URL}/{user.id}/unblock", headers=admin)
    assert response.status_code == 200 and response.get_json()["blocked"] is False
    assert events(app, "user.unblocked")
    fresh = authorize(client.application.test_client(), rp, user)
    assert fresh.code


def test_block_without_a_reason_uses_a_default_and_rejects_bad_reasons(app, client, admin):
    user = make_user(app)
    response = client.post(f"{URL}/{user.id}/block", headers=admin)
    assert response.status_code == 200 and response.get_json()["blocked_reason"]
    for body in ({"reason": ""}, {"reason": "x" * 501}, {"reason": 5}, {"why": "x"}):
        assert client.post(f"{URL}/{user.id}/block", json=body, headers=admin).status_code == 422


# --- a user's sessions, grants, audit trail -----------------------------------------------


def test_list_and_end_one_session(app, client, admin):
    user, _rp, tokens = signed_in(app, client)
    body = client.get(f"{URL}/{user.id}/sessions", headers=admin).get_json()
    assert body["total"] == 1
    (session,) = body["items"]
    assert set(session) == {
        "id", "user_agent", "ip", "created_at", "last_seen_at", "auth_time", "amr", "revoked_at",
    }  # fmt: skip
    assert session["amr"] == ["pwd"] and session["revoked_at"] is None
    url = f"{URL}/{user.id}/sessions/{session['id']}"
    assert client.delete(url, headers=admin).status_code == 204
    assert client.delete(url, headers=admin).status_code == 204  # already over: nothing to do
    assert client.get(f"{URL}/{user.id}/sessions", headers=admin).get_json()["total"] == 0
    # offline_access grants outlive the session (OIDC Core §11)
    assert userinfo(client, tokens["access_token"]).status_code == 200


def test_end_all_sessions_counts_them(app, client, admin):
    user, _rp, _tokens = signed_in(app, client)
    rp = make_client(app, skip_consent=True, name="Second")
    authorize(client.application.test_client(), rp, user)  # a second browser
    response = client.delete(f"{URL}/{user.id}/sessions", headers=admin)
    assert response.status_code == 200 and response.get_json() == {"revoked": 2}
    assert client.delete(f"{URL}/{user.id}/sessions", headers=admin).get_json() == {"revoked": 0}


def test_other_users_session_is_404(app, client, admin):
    user, _rp, _tokens = signed_in(app, client)
    other = make_user(app, "other@example.com")
    session_id = client.get(f"{URL}/{user.id}/sessions", headers=admin).get_json()["items"][0]["id"]
    response = client.delete(f"{URL}/{other.id}/sessions/{session_id}", headers=admin)
    assert response.status_code == 404


def test_list_and_revoke_grants(app, client, admin):
    user, rp, tokens = signed_in(app, client)
    body = client.get(f"{URL}/{user.id}/grants", headers=admin).get_json()
    assert body["total"] == 1
    (grant,) = body["items"]
    assert grant["client_id"] == rp.client_id and "offline_access" in grant["scope"]
    assert set(grant) == {"id", "client_id", "scope", "created_at", "auth_time", "revoked_at"}
    response = client.delete(f"{URL}/{user.id}/grants", headers=admin)
    assert response.get_json() == {"revoked": 1}
    assert userinfo(client, tokens["access_token"]).status_code == 401
    assert refresh(client, rp, tokens["refresh_token"]).status_code == 400
    assert client.get(f"{URL}/{user.id}/grants", headers=admin).get_json()["total"] == 0
    every = client.get(f"{URL}/{user.id}/grants?include_revoked=true", headers=admin).get_json()
    assert every["total"] == 1 and every["items"][0]["revoked_at"]
    assert events(app, "grant.revoked")


def test_audit_events_of_a_user_newest_first_with_cursor(app, client, admin):
    user = create(client, admin)
    for index in range(4):
        client.patch(f"{URL}/{user['id']}", json={"name": f"n{index}"}, headers=admin)
    other = create(client, admin, email="other@example.com")
    url = f"{URL}/{user['id']}/audit-events"
    first = client.get(url, query_string={"limit": 3}, headers=admin).get_json()
    assert first["total"] == 5 and len(first["items"]) == 3
    assert first["items"][0]["event_type"] == "user.updated"
    assert set(first["items"][0]) == {
        "id", "occurred_at", "event_type", "status", "actor_type", "actor_id", "user_id",
        "client_id", "ip", "user_agent", "target_type", "target_id", "details",
    }  # fmt: skip
    second = client.get(
        url, query_string={"limit": 3, "cursor": first["next_cursor"]}, headers=admin
    ).get_json()
    assert second["next_cursor"] is None
    ids = [e["id"] for e in first["items"] + second["items"]]
    assert len(set(ids)) == 5 and ids == sorted(ids, reverse=True)
    assert second["items"][-1]["event_type"] == "user.created"
    assert other["id"] not in json.dumps(first)
    bad = client.get(url, query_string={"cursor": "nope"}, headers=admin)
    assert bad.status_code in (400, 422)


def test_every_write_is_audited_with_the_api_key_as_actor(app, client, admin):
    user = create(client, admin)
    client.patch(f"{URL}/{user['id']}", json={"name": "x"}, headers=admin)
    client.post(f"{URL}/{user['id']}/password", json={"password": "long enough pw"}, headers=admin)
    client.post(f"{URL}/{user['id']}/block", json={"reason": "r"}, headers=admin)
    client.post(f"{URL}/{user['id']}/unblock", headers=admin)
    client.delete(f"{URL}/{user['id']}", headers=admin)
    for event_type in ("user.created", "user.updated", "user.password_set", "user.blocked",
                       "user.unblocked", "user.deleted"):  # fmt: skip
        (event,) = events(app, event_type)
        assert event.actor_type == "api_key" and event.actor_id and event.target_id == user["id"]
        assert event.ip == "127.0.0.1"
