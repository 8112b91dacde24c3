"""client_credentials (RFC 6749 §4.4) with resource indicators (RFC 8707)."""

from __future__ import annotations

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.factories import make_client
from tests.flow import client_auth

API = "https://api.example.com/"
OTHER_API = "https://billing.example.com/"


def _machine(app, **options):
    return make_client(
        app,
        name="Backend",
        grant_types=["client_credentials"],
        redirect_uri=None,
        service_type="machine",
        scopes=["read", "write"],
        allowed_resources=[API, OTHER_API],
        **options,
    )


def _token(client, rp, **data):
    return client.post(
        "/token", data={"grant_type": "client_credentials", **data}, headers=client_auth(rp)
    )


def _claims(client, token):
    return jwt.decode(token, KeySet.import_key_set(client.get("/jwks.json").get_json())).claims


def test_confidential_client_gets_an_access_token_for_itself(app, client):
    rp = _machine(app)
    response = _token(client, rp, scope="read")
    assert response.status_code == 200, response.text
    body = response.get_json()
    assert "refresh_token" not in body and "id_token" not in body
    assert body["scope"] == "read"
    claims = _claims(client, body["access_token"])
    assert claims["sub"] == rp.client_id and claims["client_id"] == rp.client_id
    assert claims["aud"] == "http://localhost"
    assert "grant_id" not in claims


def test_without_scope_the_client_gets_its_registered_scopes(app, client):
    body = _token(client, _machine(app)).get_json()
    assert body["scope"] == "read write"


def test_resource_becomes_the_audience(app, client):
    rp = _machine(app)
    single = _token(client, rp, resource=API).get_json()
    assert _claims(client, single["access_token"])["aud"] == API
    both = client.post(
        "/token",
        data={"grant_type": "client_credentials", "resource": [API, OTHER_API]},
        headers=client_auth(rp),
    ).get_json()
    assert _claims(client, both["access_token"])["aud"] == [API, OTHER_API]


@pytest.mark.parametrize("resource", ["https://evil.example.com/", "not a uri", API + "#x"])
def test_unregistered_resource_is_invalid_target(app, client, resource):
    response = _token(client, _machine(app), resource=resource)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_target"


def test_wrong_secret_is_invalid_client(app, client):
    rp = _machine(app)
    rp.client_secret = "wrong"
    response = _token(client, rp)
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"


def test_public_client_cannot_use_client_credentials(app, client):
    rp = make_client(app, public=True)
    response = client.post(
        "/token", data={"grant_type": "client_credentials", "client_id": rp.client_id}
    )
    assert response.status_code in (400, 401)
    assert response.get_json()["error"] in ("unauthorized_client", "invalid_client")


def test_machine_token_is_not_accepted_by_userinfo(app, client):
    body = _token(client, _machine(app)).get_json()
    response = client.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert response.status_code == 403
