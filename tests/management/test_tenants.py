"""/management/v1/tenants: platform keys only."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent
from tests.factories import make_api_key
from tests.factories import make_tenant

URL = "/management/v1/tenants"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def platform(app) -> str:
    return make_api_key(app, "tenants:read", "tenants:write", tenant_slug=None)


def test_create_read_and_list_tenants(app, client, platform):
    response = client.post(URL, json={"slug": "acme", "name": "Acme Inc"}, headers=bearer(platform))
    assert response.status_code == 201, response.text
    created = response.get_json()
    assert created["slug"] == "acme" and created["registration_enabled"] is False
    assert created["branding"] == {}
    fetched = client.get(f"{URL}/{created['id']}", headers=bearer(platform)).get_json()
    assert fetched == created
    listed = client.get(URL, headers=bearer(platform)).get_json()
    assert listed["total"] == 2
    assert {t["slug"] for t in listed["items"]} == {"default", "acme"}


def test_duplicate_slug_is_a_409(app, client, platform):
    make_tenant(app, "acme")
    for slug in ("acme", "ACME", "default"):
        response = client.post(URL, json={"slug": slug, "name": "x"}, headers=bearer(platform))
        assert response.status_code == 409, slug
        assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"slug": "Has Space", "name": "x"}, "slug"),
        ({"slug": "-edge", "name": "x"}, "slug"),
        ({"slug": "a" * 64, "name": "x"}, "slug"),
        ({"slug": "ok", "name": ""}, "name"),
        ({"slug": "ok", "name": "   "}, "name"),
        ({"slug": "ok", "name": "x" * 201}, "name"),
        ({"slug": 7, "name": "x"}, "slug"),
        ({"name": "x"}, "slug"),
        ({"slug": "ok", "name": "x", "registration_enabled": True}, "registration_enabled"),
        ({"slug": "ok", "name": "x", "id": "mine"}, "id"),
    ],
)
def test_invalid_tenant_is_a_422(app, client, platform, body, field):
    response = client.post(URL, json=body, headers=bearer(platform))
    assert response.status_code == 422, response.text
    assert field in response.get_json()["errors"]


def test_patch_changes_name_registration_and_branding_and_is_audited(app, client, platform):
    tenant_id = make_tenant(app, "acme")
    branding = {
        "display_name": "Acme",
        "logo_url": "https://cdn.acme.example/logo.png",
        "primary_color": "#ff6600",
    }
    response = client.patch(
        f"{URL}/{tenant_id}",
        json={"name": "Acme Ltd", "registration_enabled": True, "branding": branding},
        headers=bearer(platform),
    )
    assert response.status_code == 200, response.text
    body = response.get_json()
    assert body["name"] == "Acme Ltd" and body["registration_enabled"] is True
    assert body["branding"] == branding and body["slug"] == "acme"
    with app.app_context():
        event = db.session.scalar(
            select(AuditEvent).where(AuditEvent.event_type == "tenant.updated")
        )
        assert event.actor_type == "api_key" and event.tenant_id == tenant_id
        assert event.details["fields"] == ["name", "registration_enabled", "branding"]


def test_create_is_audited_with_the_caller(app, client, platform):
    created = client.post(URL, json={"slug": "acme", "name": "Acme"}, headers=bearer(platform))
    with app.app_context():
        event = db.session.scalar(
            select(AuditEvent).where(
                AuditEvent.event_type == "tenant.created",
                AuditEvent.target_id == created.get_json()["id"],
            )
        )
        assert event.actor_type == "api_key" and event.actor_id


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"slug": "renamed"}, "slug"),
        ({"name": ""}, "name"),
        ({"registration_enabled": "yes"}, "registration_enabled"),
        ({"branding": {"logo_url": "http://cdn.example.com/x.png"}}, "branding"),
        ({"branding": {"primary_color": "red"}}, "branding"),
        ({"branding": {"script": "alert(1)"}}, "branding"),
        ({"branding": "blue"}, "branding"),
    ],
)
def test_invalid_patch_is_a_422(app, client, platform, body, field):
    tenant_id = make_tenant(app, "acme")
    response = client.patch(f"{URL}/{tenant_id}", json=body, headers=bearer(platform))
    assert response.status_code == 422, response.text
    assert field in response.get_json()["errors"]


def test_unknown_tenant_is_404(app, client, platform):
    for tenant_id in ("nope", "x" * 100):
        assert client.get(f"{URL}/{tenant_id}", headers=bearer(platform)).status_code == 404
        response = client.patch(f"{URL}/{tenant_id}", json={"name": "x"}, headers=bearer(platform))
        assert response.status_code == 404


def test_tenant_keys_are_refused_even_with_every_scope(app, client):
    tenant_id = make_tenant(app, "acme")
    for key in (make_api_key(app, "*"), make_api_key(app, "*", tenant_slug="acme")):
        for method, path in (("get", URL), ("post", URL), ("get", f"{URL}/{tenant_id}"),
                             ("patch", f"{URL}/{tenant_id}")):  # fmt: skip
            response = getattr(client, method)(path, json={"name": "x"}, headers=bearer(key))
            assert response.status_code == 403, (method, path)
            assert "platform" in response.get_json()["detail"]


def test_missing_scope_is_a_403_naming_it(app, client):
    tenant_id = make_tenant(app, "acme")
    reader = make_api_key(app, "tenants:read", tenant_slug=None)
    other = make_api_key(app, "users:read", tenant_slug=None)
    cases = (
        (other, "get", URL, "tenants:read"),
        (reader, "post", URL, "tenants:write"),
        (other, "get", f"{URL}/{tenant_id}", "tenants:read"),
        (reader, "patch", f"{URL}/{tenant_id}", "tenants:write"),
    )
    for key, method, path, scope in cases:
        response = getattr(client, method)(path, json={"name": "x"}, headers=bearer(key))
        assert response.status_code == 403
        assert scope in response.get_json()["detail"]


def test_requests_without_credentials_are_401(app, client):
    for method, path in (("get", URL), ("post", URL), ("get", f"{URL}/x"), ("patch", f"{URL}/x")):
        assert getattr(client, method)(path, json={}).status_code == 401


def test_list_walks_every_tenant_once(app, client, platform):
    for i in range(5):
        make_tenant(app, f"t{i}")
    seen, cursor = [], None
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(URL, query_string=query, headers=bearer(platform)).get_json()
        assert page["total"] == 6
        seen += [t["slug"] for t in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert sorted(seen) == sorted(["default"] + [f"t{i}" for i in range(5)])
    by_offset = client.get(URL, query_string={"offset": 4}, headers=bearer(platform)).get_json()
    assert len(by_offset["items"]) == 2
