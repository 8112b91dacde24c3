"""API keys restricted to one application (a client): created, shown, and held to that client."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent
from tests.factories import make_api_key
from tests.factories import make_client
from tests.factories import make_tenant

PREFIX = "/management/v1"
KEYS = f"{PREFIX}/api-keys"
CLIENTS = f"{PREFIX}/clients"


def bearer(key: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **headers}


def create_key(http, admin: str, **body) -> dict:
    response = http.post(KEYS, json={"name": "app key", "scopes": ["*"], **body}, headers=admin)
    assert response.status_code == 201, response.text
    return response.get_json()


def test_created_restricted_key_shows_its_application_everywhere(app, client):
    admin = bearer(make_api_key(app, "*"))
    rp = make_client(app)
    created = create_key(client, admin, application=rp.client_id)
    assert created["application"] == rp.client_id and created["key"]
    assert client.get(f"{KEYS}/{created['id']}", headers=admin).get_json()["application"] == (
        rp.client_id
    )
    listed = {
        k["id"]: k["application"] for k in client.get(KEYS, headers=admin).get_json()["items"]
    }
    assert listed[created["id"]] == rp.client_id
    assert None in listed.values()  # the admin key itself is unrestricted
    with app.app_context():
        event = db.session.scalar(
            select(AuditEvent).where(
                AuditEvent.event_type == "api_key.created", AuditEvent.target_id == created["id"]
            )
        )
        assert event is not None and event.details["application"] == rp.client_id


def test_unrestricted_key_shows_null_application(app, client):
    admin = bearer(make_api_key(app, "*"))
    assert create_key(client, admin)["application"] is None


@pytest.mark.parametrize("application", ["no-such-client", "", "x" * 65])
def test_unknown_application_is_a_422_field_error(app, client, application):
    admin = bearer(make_api_key(app, "*"))
    response = client.post(
        KEYS, json={"name": "k", "scopes": ["*"], "application": application}, headers=admin
    )
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert "application" in response.get_json()["errors"]


def test_another_tenants_client_is_a_422_field_error(app, client):
    make_tenant(app, "other")
    foreign = make_client(app, tenant_slug="other")
    admin = bearer(make_api_key(app, "*"))
    response = client.post(
        KEYS, json={"name": "k", "scopes": ["*"], "application": foreign.client_id}, headers=admin
    )
    assert response.status_code == 422
    assert "application" in response.get_json()["errors"]


def test_platform_caller_resolves_the_application_in_the_tenant_it_acts_on(app, client):
    make_tenant(app, "other")
    theirs = make_client(app, tenant_slug="other")
    platform = make_api_key(app, "*", tenant_slug=None)
    body = {"name": "k", "scopes": ["clients:read"], "application": theirs.client_id}
    assert client.post(KEYS, json=body, headers=bearer(platform)).status_code == 422
    response = client.post(KEYS, json=body, headers=bearer(platform, **{"X-Tenant-Id": "other"}))
    assert response.status_code == 201, response.text
    created = response.get_json()
    assert created["application"] == theirs.client_id
    assert created["tenant_id"] == theirs.tenant_id
    own = client.get(f"{CLIENTS}/{theirs.client_id}", headers=bearer(created["key"]))
    assert own.status_code == 200


def test_a_platform_key_cannot_be_restricted(app):
    from idp import errors
    from idp.services import api_keys

    rp = make_client(app)
    with app.app_context(), pytest.raises(errors.InvalidInput) as refused:
        api_keys.create("k", ["*"], tenant_id=None, client_id=rp.client_id)
    assert "application" in refused.value.field_errors


def test_restricted_key_reads_patches_and_rotates_its_own_client(app, client):
    rp = make_client(app)
    key = bearer(make_api_key(app, "clients:read", "clients:write", application=rp.client_id))
    assert client.get(f"{CLIENTS}/{rp.client_id}", headers=key).get_json()["name"] == "Test RP"
    patched = client.patch(f"{CLIENTS}/{rp.client_id}", json={"name": "Renamed"}, headers=key)
    assert patched.status_code == 200, patched.text
    assert patched.get_json()["name"] == "Renamed"
    rotated = client.post(f"{CLIENTS}/{rp.client_id}/secret", headers=key)
    assert rotated.status_code == 200, rotated.text
    assert rotated.get_json()["client_secret"] not in (None, rp.client_secret)


def _refused(response, application: str) -> None:
    assert response.status_code == 403, response.text
    assert response.mimetype == "application/problem+json"
    assert f"restricted to application {application}" in response.get_json()["detail"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/clients", None),
        ("post", "/clients", {"name": "New", "redirect_uris": ["https://n.example.com/cb"]}),
        ("get", "/users", None),
        ("post", "/users", {"email": "new@example.com"}),
        ("get", "/api-keys", None),
        ("post", "/api-keys", {"name": "k", "scopes": ["clients:read"]}),
        ("get", "/stats", None),
        ("get", "/audit-events", None),
    ],
)
def test_restricted_key_is_refused_everywhere_else(app, client, method, path, body):
    rp = make_client(app)
    key = bearer(make_api_key(app, "*", application=rp.client_id))
    response = getattr(client, method)(f"{PREFIX}{path}", json=body, headers=key)
    _refused(response, rp.client_id)


@pytest.mark.parametrize(
    ("method", "suffix"), [("get", ""), ("patch", ""), ("delete", ""), ("post", "/secret")]
)
def test_restricted_key_is_refused_on_another_client(app, client, method, suffix):
    rp = make_client(app)
    other = make_client(app, name="Other RP")
    key = bearer(make_api_key(app, "*", application=rp.client_id))
    body = {"name": "Hijacked"} if method == "patch" else None
    response = getattr(client, method)(
        f"{CLIENTS}/{other.client_id}{suffix}", json=body, headers=key
    )
    _refused(response, rp.client_id)
    # scope of action, not existence: an unknown client_id is refused the same way
    unknown = getattr(client, method)(f"{CLIENTS}/no-such-client{suffix}", json=body, headers=key)
    _refused(unknown, rp.client_id)
    admin = bearer(make_api_key(app, "clients:read"))
    assert client.get(f"{CLIENTS}/{other.client_id}", headers=admin).get_json()["name"] == (
        "Other RP"
    )


def test_scopes_still_apply_to_a_restricted_key(app, client):
    rp = make_client(app)
    key = bearer(make_api_key(app, "clients:read", application=rp.client_id))
    assert client.get(f"{CLIENTS}/{rp.client_id}", headers=key).status_code == 200
    for response in (
        client.patch(f"{CLIENTS}/{rp.client_id}", json={"name": "No"}, headers=key),
        client.post(f"{CLIENTS}/{rp.client_id}/secret", headers=key),
    ):
        assert response.status_code == 403
        assert "clients:write" in response.get_json()["detail"]
    response = client.delete(f"{CLIENTS}/{rp.client_id}", headers=key)
    assert response.status_code == 403 and "clients:delete" in response.get_json()["detail"]


def test_restricted_key_cannot_leave_its_tenant_nor_manage_tenants(app, client):
    make_tenant(app, "other")
    rp = make_client(app)
    key = make_api_key(app, "*", application=rp.client_id)
    elsewhere = bearer(key, **{"X-Tenant-Id": "other"})
    assert client.get(f"{CLIENTS}/{rp.client_id}", headers=elsewhere).status_code == 403
    assert client.get(f"{PREFIX}/tenants", headers=bearer(key)).status_code == 403


def test_deleting_the_application_deletes_its_keys(app, client):
    rp = make_client(app)
    admin = bearer(make_api_key(app, "*"))
    key = bearer(create_key(client, admin, application=rp.client_id)["key"])
    assert client.get(f"{CLIENTS}/{rp.client_id}", headers=key).status_code == 200
    assert client.delete(f"{CLIENTS}/{rp.client_id}", headers=admin).status_code == 204
    assert client.get(f"{CLIENTS}/{rp.client_id}", headers=key).status_code == 401
    assert client.get(KEYS, headers=admin).get_json()["total"] == 1  # only the admin key


def test_restricted_key_may_delete_its_own_application_and_then_stops_working(app, client):
    rp = make_client(app)
    key = bearer(make_api_key(app, "clients:read", "clients:delete", application=rp.client_id))
    assert client.delete(f"{CLIENTS}/{rp.client_id}", headers=key).status_code == 204
    assert client.get(f"{CLIENTS}/{rp.client_id}", headers=key).status_code == 401


def test_a_view_that_skips_require_scope_still_refuses_a_restricted_key(app):
    from flask import g

    from idp import errors
    from idp.management import auth

    with app.test_request_context(f"{PREFIX}/anything"):
        g.caller = auth.Caller("api_key", "k", "t", frozenset({"*"}), application="app-1")
        with pytest.raises(errors.Forbidden, match="restricted to application app-1"):
            auth.tenant_id()
