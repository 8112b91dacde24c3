"""Management API authentication, scopes, tenant isolation, and /api-keys."""

from __future__ import annotations

from datetime import timedelta

import pytest

from idp import clock
from tests.factories import make_api_key
from tests.factories import make_client
from tests.factories import make_tenant
from tests.flow import client_auth

URL = "/management/v1/api-keys"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_missing_or_bad_credentials_are_401_problems(app, client):
    for headers in ({}, bearer("idp_nope"), bearer("garbage"), {"X-Api-Key": "idp_x"}):
        response = client.get(URL, headers=headers)
        assert response.status_code == 401
        assert response.mimetype == "application/problem+json"
        body = response.get_json()
        assert body["status"] == 401 and body["title"] and body["type"]
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_x_api_key_header_and_bearer_both_work(app, client):
    key = make_api_key(app, "api-keys:read")
    assert client.get(URL, headers=bearer(key)).status_code == 200
    assert client.get(URL, headers={"X-Api-Key": key}).status_code == 200


def test_expired_and_revoked_keys_are_refused(app, client, frozen_clock):
    key = make_api_key(app, "*", expires_at=clock.now() + timedelta(days=1))
    assert client.get(URL, headers=bearer(key)).status_code == 200
    frozen_clock.advance(days=1, seconds=1)
    assert client.get(URL, headers=bearer(key)).status_code == 401
    admin = make_api_key(app, "*")
    victim = make_api_key(app, "api-keys:read")
    key_id = client.get(URL, headers=bearer(victim)).get_json()["items"][0]["id"]
    ids = {k["id"]: k["prefix"] for k in client.get(URL, headers=bearer(admin)).get_json()["items"]}
    victim_id = next(i for i, p in ids.items() if victim.startswith(p))
    assert client.delete(f"{URL}/{victim_id}", headers=bearer(admin)).status_code == 204
    assert client.get(URL, headers=bearer(victim)).status_code == 401
    assert key_id


def test_missing_scope_is_a_403_naming_it(app, client):
    key = make_api_key(app, "users:read")
    response = client.get(URL, headers=bearer(key))
    assert response.status_code == 403
    assert "api-keys:read" in response.get_json()["detail"]


def test_created_key_is_shown_once_and_works(app, client):
    admin = make_api_key(app, "*")
    response = client.post(
        URL, json={"name": "ci", "scopes": ["api-keys:read"]}, headers=bearer(admin)
    )
    assert response.status_code == 201, response.text
    created = response.get_json()
    assert created["key"].startswith(created["prefix"]) and created["scopes"] == ["api-keys:read"]
    listed = client.get(f"{URL}/{created['id']}", headers=bearer(created["key"])).get_json()
    assert "key" not in listed and listed["last_used_at"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "scopes": ["nope"]},
        {"name": "", "scopes": ["users:read"]},
        {"scopes": ["users:read"]},
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": "users:read"},
        {"name": "x", "scopes": ["users:read"], "unknown": 1},
        {"name": "x", "scopes": ["users:read"], "expires_at": "yesterday"},
        {"name": "x" * 300, "scopes": ["users:read"]},
    ],
)
def test_invalid_bodies_are_422_problems_with_field_errors(app, client, body):
    admin = make_api_key(app, "*")
    response = client.post(URL, json=body, headers=bearer(admin))
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["errors"]


def test_malformed_json_is_a_4xx_problem(app, client):
    admin = make_api_key(app, "*")
    response = client.post(
        URL, data="{not json", headers={**bearer(admin), "Content-Type": "application/json"}
    )
    assert 400 <= response.status_code < 500
    assert response.mimetype == "application/problem+json"


def test_a_key_cannot_mint_wider_scopes_than_its_own(app, client):
    writer = make_api_key(app, "api-keys:write")
    response = client.post(
        URL, json={"name": "x", "scopes": ["users:delete"]}, headers=bearer(writer)
    )
    assert response.status_code == 403


def test_tenant_keys_see_only_their_tenant(app, client):
    make_tenant(app, "acme")
    acme = make_api_key(app, "*", tenant_slug="acme")
    default = make_api_key(app, "*")
    acme_ids = {k["id"] for k in client.get(URL, headers=bearer(acme)).get_json()["items"]}
    default_ids = {k["id"] for k in client.get(URL, headers=bearer(default)).get_json()["items"]}
    assert acme_ids.isdisjoint(default_ids)
    other = next(iter(default_ids))
    assert client.get(f"{URL}/{other}", headers=bearer(acme)).status_code == 404
    assert client.get(URL, headers={**bearer(acme), "X-Tenant-Id": "default"}).status_code == 403


def test_platform_key_picks_the_tenant_with_x_tenant_id(app, client):
    make_tenant(app, "acme")
    make_api_key(app, "*", tenant_slug="acme")
    platform = make_api_key(app, "*", tenant_slug=None)
    listed = client.get(URL, headers={**bearer(platform), "X-Tenant-Id": "acme"}).get_json()
    assert listed["total"] == 1
    missing = client.get(URL, headers={**bearer(platform), "X-Tenant-Id": "nope"})
    assert missing.status_code == 404


def test_client_credentials_token_with_management_scope_is_accepted(app, client):
    machine = make_client(
        app, grant_types=["client_credentials"], redirect_uri=None, scopes=["api-keys:read"]
    )
    token = client.post(
        "/token", data={"grant_type": "client_credentials"}, headers=client_auth(machine)
    ).get_json()["access_token"]
    assert client.get(URL, headers=bearer(token)).status_code == 200
    assert (
        client.post(
            URL, json={"name": "x", "scopes": ["users:read"]}, headers=bearer(token)
        ).status_code
        == 403
    )


def test_openapi_document_is_served(client):
    response = client.get("/management/v1/openapi.json")
    assert response.status_code == 200
    assert "/management/v1/api-keys" in response.get_json()["paths"]


def test_api_key_list_walks_every_key_once_by_cursor(app, client):
    admin = make_api_key(app, "*")
    for _ in range(4):
        make_api_key(app, "users:read")
    seen, cursor = [], None
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(URL, query_string=query, headers=bearer(admin)).get_json()
        assert page["total"] == 5
        seen += [k["id"] for k in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 5
