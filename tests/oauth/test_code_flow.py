"""The authorization-code flow with PKCE, end to end through the test client."""

from __future__ import annotations

from joserfc import jwt
from joserfc.jwk import KeySet

from tests.factories import make_client
from tests.factories import make_user
from tests.flow import authorize
from tests.flow import exchange


def test_code_flow_issues_signed_id_token_and_access_token(app, client):
    user = make_user(app)
    rp = make_client(app)
    auth = authorize(client, rp, user)
    assert auth.redirect["state"] == auth.params["state"]
    assert auth.redirect["iss"] == "http://localhost"

    response = exchange(client, rp, auth.code, auth.verifier)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert "refresh_token" not in body  # the client may not use the refresh_token grant

    keys = KeySet.import_key_set(client.get("/jwks.json").get_json())
    id_token = jwt.decode(body["id_token"], keys)
    claims = id_token.claims
    assert id_token.header["kid"] in {k["kid"] for k in client.get("/jwks.json").get_json()["keys"]}
    assert claims["iss"] == "http://localhost"
    assert claims["aud"] == [rp.client_id]
    assert claims["sub"] == user.id
    assert claims["nonce"] == auth.params["nonce"]
    assert claims["amr"] == ["pwd"]
    assert {"exp", "iat", "auth_time", "at_hash", "sid"} <= claims.keys()
    assert claims["exp"] - claims["iat"] == 3600

    access = jwt.decode(body["access_token"], keys)
    assert access.header["typ"] == "at+jwt"
    assert access.claims["client_id"] == rp.client_id
    assert access.claims["sub"] == user.id
    assert access.claims["sid"] == claims["sid"]
    assert {"jti", "exp", "iat", "aud", "scope"} <= access.claims.keys()

    info = client.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200
    assert info.get_json()["email"] == user.email
    assert info.get_json()["sub"] == user.id
