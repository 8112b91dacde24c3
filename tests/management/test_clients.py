"""/management/v1/clients: register, read, list, change, delete, rotate the secret."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent
from idp.models import Client
from tests.factories import make_api_key
from tests.factories import make_tenant

URL = "/management/v1/clients"
WEB = {"name": "Web App", "redirect_uris": ["https://app.example.com/callback"]}


def bearer(key: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **headers}


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def create(http, key: str, **overrides) -> dict:
    response = http.post(URL, json={**WEB, **overrides}, headers=bearer(key))
    assert response.status_code == 201, response.text
    return response.get_json()


def audit_events(app, event_type: str) -> list[AuditEvent]:
    with app.app_context():
        query = select(AuditEvent).where(AuditEvent.event_type == event_type)
        return list(db.session.scalars(query.order_by(AuditEvent.id)))


def test_create_shows_the_secret_once_and_reads_never_show_it(app, client):
    key = make_api_key(app, "clients:read", "clients:write")
    created = create(client, key)
    assert created["client_secret"] and created["public"] is False
    assert created["token_endpoint_auth_method"] == "client_secret_basic"
    assert created["redirect_uris"] == WEB["redirect_uris"]
    fetched = client.get(f"{URL}/{created['client_id']}", headers=bearer(key))
    assert fetched.status_code == 200
    body = fetched.get_json()
    assert not {"client_secret", "client_secret_hash", "client_secret_encrypted"} & set(body)
    listed = client.get(URL, headers=bearer(key)).get_json()
    assert "client_secret" not in listed["items"][0]
    assert created["client_secret"] not in fetched.text + str(listed)


def test_create_accepts_every_client_metadata_field(app, client):
    key = make_api_key(app, "clients:write")
    body = {
        "name": "Full",
        "redirect_uris": ["https://rp.example.com/cb", "https://rp.example.com/cb2"],
        "post_logout_redirect_uris": ["https://rp.example.com/bye"],
        "public": False,
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "scopes": ["openid", "email", "offline_access"],
        "token_endpoint_auth_method": "client_secret_post",
        "skip_consent": True,
        "service_type": "web",
        "require_pkce": False,
        "id_token_signed_response_alg": "ES256",
        "backchannel_logout_uri": "https://rp.example.com/backchannel",
        "jwks_uri": None,
        "jwks": None,
        "require_pushed_authorization_requests": True,
        "subject_type": "pairwise",
        "allowed_resources": ["https://api.example.com"],
        "code_lifetime": 30,
        "access_token_lifetime": 600,
        "id_token_lifetime": 900,
        "refresh_token_lifetime": 3600,
        "refresh_token_absolute_lifetime": 86400,
    }
    response = client.post(URL, json=body, headers=bearer(key))
    assert response.status_code == 201, response.text
    created = response.get_json()
    for name, value in body.items():
        assert created[name] == value, name
    assert created["response_types"] == ["code"] and created["client_secret"]


def test_public_client_has_no_secret_and_always_requires_pkce(app, client):
    key = make_api_key(app, "clients:write", "clients:read")
    created = create(client, key, public=True, require_pkce=False)
    assert "client_secret" not in created
    assert created["token_endpoint_auth_method"] == "none"
    assert created["service_type"] == "spa" and created["require_pkce"] is True


def test_localhost_and_native_redirect_uris_are_accepted(app, client):
    key = make_api_key(app, "clients:write")
    created = create(
        client,
        key,
        public=True,
        service_type="native",
        redirect_uris=[
            "http://localhost:5000/cb",
            "com.example.app:/oauth2redirect",
            "https://rp/cb",
        ],
    )
    assert len(created["redirect_uris"]) == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"redirect_uris": ["/callback"]}, "redirect_uris"),
        ({"redirect_uris": ["https://rp.example.com/cb#frag"]}, "redirect_uris"),
        ({"redirect_uris": ["http://rp.example.com/cb"]}, "redirect_uris"),
        ({"redirect_uris": ["javascript:alert(1)"]}, "redirect_uris"),
        ({"redirect_uris": ["https://rp.example.com/" + "a" * 3000]}, "redirect_uris"),
        ({"redirect_uris": "https://rp.example.com/cb"}, "redirect_uris"),
        ({"redirect_uris": []}, "redirect_uris"),
        ({"post_logout_redirect_uris": ["http://evil.example.com/"]}, "post_logout_redirect_uris"),
        ({"backchannel_logout_uri": "ftp://rp.example.com/x"}, "backchannel_logout_uri"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": 42}, "name"),
        ({"public": "yes"}, "public"),
        ({"public": True, "token_endpoint_auth_method": "client_secret_basic"},
         "token_endpoint_auth_method"),
        ({"token_endpoint_auth_method": "magic"}, "token_endpoint_auth_method"),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "jwks"),
        ({"grant_types": ["password"]}, "grant_types"),
        ({"public": True, "grant_types": ["client_credentials"]}, "grant_types"),
        ({"scopes": ["has space"]}, "scopes"),
        ({"jwks": {"keys": "nope"}}, "jwks"),
        ({"service_type": "mainframe"}, "service_type"),
        ({"subject_type": "secret"}, "subject_type"),
        ({"id_token_signed_response_alg": "none"}, "id_token_signed_response_alg"),
        ({"code_lifetime": 3600}, "code_lifetime"),
        ({"access_token_lifetime": 0}, "access_token_lifetime"),
        ({"access_token_lifetime": "600"}, "access_token_lifetime"),
        ({"refresh_token_lifetime": 7200, "refresh_token_absolute_lifetime": 3600},
         "refresh_token_lifetime"),
        ({"client_secret": "chosen-by-me"}, "client_secret"),
        ({"unknown": 1}, "unknown"),
    ],
)  # fmt: skip
def test_invalid_metadata_is_a_422_naming_the_field(app, client, body, field):
    key = make_api_key(app, "clients:write")
    response = client.post(URL, json={**WEB, **body}, headers=bearer(key))
    assert response.status_code == 422, response.text
    assert response.mimetype == "application/problem+json"
    assert field in response.get_json()["errors"]
    with app.app_context():
        assert db.session.scalar(select(Client.id)) is None


def test_missing_name_and_non_object_bodies_are_422(app, client):
    key = make_api_key(app, "clients:write")
    assert client.post(URL, json={"redirect_uris": []}, headers=bearer(key)).status_code == 422
    assert client.post(URL, json=["x"], headers=bearer(key)).status_code == 422


def test_list_walks_every_client_once_by_cursor(app, client):
    key = make_api_key(app, "clients:read", "clients:write")
    made = {create(client, key, name=f"App {i}")["client_id"] for i in range(7)}
    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get(URL, query_string=query, headers=bearer(key)).get_json()
        assert page["total"] == 7 and len(page["items"]) <= 3
        seen += [c["client_id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 7 and set(seen) == made


def test_list_by_offset_and_search_by_name_prefix(app, client):
    key = make_api_key(app, "clients:read", "clients:write")
    for name in ("Billing", "billing admin", "Shop", "100%_off"):
        create(client, key, name=name)
    page = client.get(URL, query_string={"limit": 2, "offset": 2}, headers=bearer(key)).get_json()
    assert page["total"] == 4 and len(page["items"]) == 2
    found = client.get(URL, query_string={"search": "BILL"}, headers=bearer(key)).get_json()
    assert {c["name"] for c in found["items"]} == {"Billing", "billing admin"}
    assert found["total"] == 2
    wildcard = client.get(URL, query_string={"search": "1%"}, headers=bearer(key)).get_json()
    assert wildcard["total"] == 0  # % is literal, not a LIKE wildcard


@pytest.mark.parametrize(
    "query",
    [
        {"limit": 0},
        {"limit": 1000},
        {"limit": "many"},
        {"offset": -1},
        {"cursor": "not-a-cursor"},
        {"cursor": "WyJ4IiwxXQ"},
        {"cursor": "x", "offset": 1},
        {"search": "x" * 300},
    ],
)
def test_bad_list_queries_are_422(app, client, query):
    key = make_api_key(app, "clients:read")
    response = client.get(URL, query_string=query, headers=bearer(key))
    assert response.status_code == 422, response.text
    assert response.mimetype == "application/problem+json"


def test_patch_changes_metadata_under_the_rules_of_create(app, client):
    key = make_api_key(app, "clients:read", "clients:write")
    created = create(client, key)
    url = f"{URL}/{created['client_id']}"
    changed = client.patch(
        url,
        json={
            "name": "Renamed",
            "redirect_uris": ["https://new.example.com/cb"],
            "skip_consent": True,
        },
        headers=bearer(key),
    )
    assert changed.status_code == 200, changed.text
    body = changed.get_json()
    assert body["name"] == "Renamed" and body["skip_consent"] is True
    assert body["redirect_uris"] == ["https://new.example.com/cb"] and "client_secret" not in body
    for bad in (
        {"redirect_uris": ["http://evil.example.com/cb"]},
        {"redirect_uris": []},
        {"access_token_lifetime": 10},
        {"name": None},
        {"token_endpoint_auth_method": "none"},
        {"client_id": "mine"},
    ):
        response = client.patch(url, json=bad, headers=bearer(key))
        assert response.status_code == 422, (bad, response.text)
    again = client.get(url, headers=bearer(key)).get_json()
    assert again["redirect_uris"] == ["https://new.example.com/cb"] and again["name"] == "Renamed"
    timed = client.patch(url, json={"access_token_lifetime": 600}, headers=bearer(key))
    assert timed.get_json()["access_token_lifetime"] == 600
    cleared = client.patch(url, json={"access_token_lifetime": None}, headers=bearer(key))
    assert cleared.get_json()["access_token_lifetime"] is None  # back to the server default


def test_patch_to_public_drops_the_secret_and_back_issues_a_new_one(app, client):
    key = make_api_key(app, "clients:read", "clients:write")
    created = create(client, key, grant_types=["authorization_code", "client_credentials"])
    url = f"{URL}/{created['client_id']}"
    conflict = client.patch(url, json={"public": True}, headers=bearer(key))
    assert conflict.status_code == 422 and "grant_types" in conflict.get_json()["errors"]
    public = client.patch(
        url, json={"public": True, "grant_types": ["authorization_code"]}, headers=bearer(key)
    ).get_json()
    assert public["token_endpoint_auth_method"] == "none" and public["require_pkce"] is True
    assert "client_secret" not in public
    token = client.post(
        "/token",
        data={"grant_type": "client_credentials"},
        headers=basic(created["client_id"], created["client_secret"]),
    )
    assert token.status_code == 401
    confidential = client.patch(url, json={"public": False}, headers=bearer(key)).get_json()
    assert confidential["token_endpoint_auth_method"] == "client_secret_basic"
    assert (
        confidential["client_secret"] and confidential["client_secret"] != created["client_secret"]
    )
    to_jwt = client.patch(
        url, json={"token_endpoint_auth_method": "client_secret_jwt"}, headers=bearer(key)
    ).get_json()
    assert to_jwt["client_secret"] not in (None, confidential["client_secret"])
    to_post = client.patch(
        url, json={"token_endpoint_auth_method": "client_secret_post"}, headers=bearer(key)
    ).get_json()
    assert "client_secret" not in to_post  # the secret it has still works


def test_delete_removes_the_client(app, client):
    key = make_api_key(app, "clients:read", "clients:write", "clients:delete")
    created = create(client, key)
    url = f"{URL}/{created['client_id']}"
    response = client.delete(url, headers=bearer(key))
    assert response.status_code == 204 and not response.data
    assert client.get(url, headers=bearer(key)).status_code == 404
    assert client.delete(url, headers=bearer(key)).status_code == 404
    token = client.post(
        "/token",
        data={"grant_type": "client_credentials"},
        headers=basic(created["client_id"], created["client_secret"]),
    )
    assert token.status_code == 401


def test_rotating_the_secret_invalidates_the_old_one_at_once(app, client):
    key = make_api_key(app, "clients:write")
    created = create(client, key, redirect_uris=[], grant_types=["client_credentials"])
    old = basic(created["client_id"], created["client_secret"])
    data = {"grant_type": "client_credentials"}
    assert client.post("/token", data=data, headers=old).status_code == 200
    rotated = client.post(f"{URL}/{created['client_id']}/secret", headers=bearer(key))
    assert rotated.status_code == 200
    body = rotated.get_json()
    assert set(body) == {"client_id", "client_secret"}
    assert body["client_id"] == created["client_id"]
    assert body["client_secret"] != created["client_secret"]
    refused = client.post("/token", data=data, headers=old)
    assert refused.status_code == 401 and refused.get_json()["error"] == "invalid_client"
    new = basic(created["client_id"], body["client_secret"])
    assert client.post("/token", data=data, headers=new).status_code == 200


def test_public_clients_have_no_secret_to_rotate(app, client):
    key = make_api_key(app, "clients:write")
    created = create(client, key, public=True)
    response = client.post(f"{URL}/{created['client_id']}/secret", headers=bearer(key))
    assert response.status_code == 422


def test_every_write_is_audited_with_the_caller(app, client):
    key = make_api_key(app, "clients:write", "clients:delete")
    created = create(client, key)
    url = f"{URL}/{created['client_id']}"
    client.patch(url, json={"name": "Renamed"}, headers=bearer(key))
    client.post(f"{url}/secret", headers=bearer(key))
    client.delete(url, headers=bearer(key))
    for event_type in (
        "client.created",
        "client.updated",
        "client.secret_rotated",
        "client.deleted",
    ):
        (event,) = audit_events(app, event_type)
        assert event.actor_type == "api_key" and event.actor_id
        assert event.client_id == created["client_id"] and event.ip
        assert created["client_secret"] not in str(event.details)
    (updated,) = audit_events(app, "client.updated")
    assert updated.details["fields"] == ["name"]


def test_unknown_and_other_tenants_clients_are_404(app, client):
    make_tenant(app, "acme")
    acme = make_api_key(app, "*", tenant_slug="acme")
    mine = make_api_key(app, "*")
    theirs = create(client, acme)["client_id"]
    assert client.get(URL, headers=bearer(mine)).get_json()["total"] == 0
    for client_id in (theirs, "nope", "x" * 500):
        url = f"{URL}/{client_id}"
        assert client.get(url, headers=bearer(mine)).status_code == 404
        assert client.patch(url, json={"name": "x"}, headers=bearer(mine)).status_code == 404
        assert client.post(f"{url}/secret", headers=bearer(mine)).status_code == 404
        assert client.delete(url, headers=bearer(mine)).status_code == 404
    assert client.get(f"{URL}/{theirs}", headers=bearer(acme)).get_json()["name"] == "Web App"


def test_platform_key_acts_on_the_tenant_named_by_x_tenant_id(app, client):
    make_tenant(app, "acme")
    platform = make_api_key(app, "*", tenant_slug=None)
    response = client.post(URL, json=WEB, headers=bearer(platform, **{"X-Tenant-Id": "acme"}))
    created = response.get_json()
    acme = make_api_key(app, "clients:read", tenant_slug="acme")
    assert client.get(f"{URL}/{created['client_id']}", headers=bearer(acme)).status_code == 200
    assert client.get(URL, headers=bearer(platform)).get_json()["total"] == 0


def test_requests_without_credentials_are_401(app, client):
    for method, path in (
        ("get", URL), ("post", URL), ("get", f"{URL}/x"), ("patch", f"{URL}/x"),
        ("delete", f"{URL}/x"), ("post", f"{URL}/x/secret"),
    ):  # fmt: skip
        response = getattr(client, method)(path, json={})
        assert response.status_code == 401, (method, path)
        assert response.mimetype == "application/problem+json"


def test_missing_scope_is_a_403_naming_it(app, client):
    writer = make_api_key(app, "clients:write")
    client_id = create(client, writer)["client_id"]
    reader = make_api_key(app, "clients:read")
    other = make_api_key(app, "users:read")
    cases = (
        (other, "get", URL, "clients:read"),
        (reader, "post", URL, "clients:write"),
        (other, "get", f"{URL}/{client_id}", "clients:read"),
        (reader, "patch", f"{URL}/{client_id}", "clients:write"),
        (writer, "delete", f"{URL}/{client_id}", "clients:delete"),
        (reader, "post", f"{URL}/{client_id}/secret", "clients:write"),
    )
    for key, method, path, scope in cases:
        response = getattr(client, method)(path, json=WEB, headers=bearer(key))
        assert response.status_code == 403, (method, path)
        assert scope in response.get_json()["detail"]
