"""/userinfo: OIDC Core §5.3 and §5.4, RFC 6750 §2 and §3, RFC 9068 §4."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jwk import RSAKey
from werkzeug.test import TestResponse

from tests.factories import make_client
from tests.factories import make_user
from tests.flow import authorize
from tests.flow import exchange

ADDRESS = {
    "street_address": "1 Example Street",
    "locality": "Exampleton",
    "postal_code": "12345",
    "country": "NL",
}


def tokens(
    app: Flask, http: FlaskClient, scope: str = "openid profile email", **user_fields
) -> dict:
    """Run the code flow and return the token response body."""
    user = make_user(app, **user_fields)
    rp = make_client(app)
    auth = authorize(http, rp, user, scope=scope)
    response = exchange(http, rp, auth.code, auth.verifier)
    assert response.status_code == 200, response.text
    body = response.get_json()
    body["user_id"] = user.id
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def assert_challenge(response: TestResponse, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    challenge = response.headers.get("WWW-Authenticate", "")
    assert challenge.startswith("Bearer"), challenge
    assert f'error="{error}"' in challenge
    assert response.get_json()["error"] == error


# --- presenting the token (RFC 6750 §2.1, §2.2) ------------------------------------------------


@pytest.mark.parametrize(
    "send",
    [
        lambda http, token: http.get("/userinfo", headers=bearer(token)),
        lambda http, token: http.post("/userinfo", headers=bearer(token)),
        lambda http, token: http.post("/userinfo", data={"access_token": token}),
        lambda http, token: http.get("/userinfo", headers={"Authorization": f"bearer {token}"}),
    ],
    ids=["get-header", "post-header", "post-form-body", "lowercase-scheme"],
)
def test_userinfo_returns_claims_for_a_valid_token_however_it_is_sent(app, client, send):
    body = tokens(app, client)
    id_claims = jwt.decode(
        body["id_token"], KeySet.import_key_set(client.get("/jwks.json").get_json())
    ).claims

    response = send(client, body["access_token"])

    assert response.status_code == 200, response.text
    assert response.mimetype == "application/json"
    info = response.get_json()
    assert info["sub"] == body["user_id"] == id_claims["sub"]  # OIDC Core §5.3.2
    assert info["email"] == "alice@example.com"
    assert info["name"] == "Alice Example"


def test_userinfo_refuses_a_token_in_both_header_and_body(app, client):
    token = tokens(app, client)["access_token"]
    response = client.post("/userinfo", headers=bearer(token), data={"access_token": token})
    assert_challenge(response, 400, "invalid_request")


# --- claims released by scope (OIDC Core §5.4) -------------------------------------------------


PROFILE_CLAIMS = {"name", "given_name", "family_name", "updated_at"}
EMAIL_CLAIMS = {"email", "email_verified"}
PHONE_CLAIMS = {"phone_number", "phone_number_verified"}
ADDRESS_CLAIMS = {"address"}
ALL_SCOPED = PROFILE_CLAIMS | EMAIL_CLAIMS | PHONE_CLAIMS | ADDRESS_CLAIMS


@pytest.mark.parametrize(
    "scope, released",
    [
        ("openid", set()),
        ("openid email", EMAIL_CLAIMS),
        ("openid profile", PROFILE_CLAIMS),
        ("openid phone", PHONE_CLAIMS),
        ("openid address", ADDRESS_CLAIMS),
        ("openid profile email address phone", ALL_SCOPED),
    ],
)
def test_userinfo_releases_only_the_claims_the_granted_scopes_cover(app, client, scope, released):
    body = tokens(
        app,
        client,
        scope=scope,
        name="Alice Example",
        given_name="Alice",
        family_name="Example",
        phone_number="+31 20 123 4567",
        phone_number_verified=True,
        address=ADDRESS,
    )
    info = client.get("/userinfo", headers=bearer(body["access_token"])).get_json()

    assert info["sub"] == body["user_id"]
    assert released <= info.keys()
    assert not (ALL_SCOPED - released) & info.keys(), info
    if "email" in released:
        assert info["email"] == "alice@example.com"
        assert info["email_verified"] is True
    if "name" in released:
        assert (info["name"], info["given_name"], info["family_name"]) == (
            "Alice Example",
            "Alice",
            "Example",
        )
    if "phone_number" in released:
        assert info["phone_number"] == "+31 20 123 4567"
        assert info["phone_number_verified"] is True
    if "address" in released:
        assert info["address"] == ADDRESS


def test_userinfo_leaves_out_claims_the_user_has_no_value_for(app, client):
    body = tokens(app, client, scope="openid profile phone address")
    info = client.get("/userinfo", headers=bearer(body["access_token"])).get_json()
    assert info["name"] == "Alice Example"
    assert {"phone_number", "address", "nickname", "picture"}.isdisjoint(info)
    assert all(value is not None for value in info.values())


def test_userinfo_refuses_a_token_without_the_openid_scope_with_insufficient_scope(app, client):
    body = tokens(app, client, scope="profile email")
    assert "id_token" not in body
    response = client.get("/userinfo", headers=bearer(body["access_token"]))
    assert_challenge(response, 403, "insufficient_scope")
    assert "email" not in response.get_json()


# --- bad tokens (RFC 6750 §3.1, RFC 9068 §4) ---------------------------------------------------


def _tamper_payload(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(unb64(payload))
    claims["sub"] = "someone-else"
    claims["scope"] = claims["scope"] + " admin"
    return ".".join([header, b64(json.dumps(claims).encode()), signature])


def _flip_middle(token: str) -> str:
    header, payload, signature = token.split(".")
    middle = len(payload) // 2
    flipped = "A" if payload[middle] != "A" else "B"
    return ".".join([header, payload[:middle] + flipped + payload[middle + 1 :], signature])


def _truncate_signature(token: str) -> str:
    return token[:-10]


def _strip_signature(token: str) -> str:
    header, payload, _ = token.split(".")
    return f"{header}.{payload}."


def _alg_none(token: str) -> str:
    header = json.loads(unb64(token.split(".")[0]))
    header["alg"] = "none"
    payload = token.split(".")[1]
    return f"{b64(json.dumps(header).encode())}.{payload}."


def _id_token_as_access_token(token: str, body: dict) -> str:
    return body["id_token"]


def _foreign_key_same_kid(token: str) -> str:
    header = json.loads(unb64(token.split(".")[0]))
    claims = json.loads(unb64(token.split(".")[1]))
    other = RSAKey.generate_key(2048)
    return jwt.encode({"alg": "RS256", "kid": header["kid"], "typ": header["typ"]}, claims, other)


def _unknown_kid(token: str) -> str:
    header = json.loads(unb64(token.split(".")[0]))
    claims = json.loads(unb64(token.split(".")[1]))
    other = RSAKey.generate_key(2048)
    return jwt.encode({"alg": "RS256", "kid": "not-our-key", "typ": header["typ"]}, claims, other)


def _hs256_with_public_key(token: str, body: dict) -> str:
    """Algorithm confusion: HS256 keyed with our published RSA public key (PEM)."""
    header = json.loads(unb64(token.split(".")[0]))
    public = next(k for k in body["jwks"]["keys"] if k["kid"] == header["kid"])
    secret = RSAKey.import_key(public).as_pem(private=False)
    forged_header = b64(json.dumps({**header, "alg": "HS256"}).encode())
    signing_input = f"{forged_header}.{token.split('.')[1]}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


MUTATIONS = {
    "garbage": lambda token, body: "garbage",
    "three-garbage-segments": lambda token, body: "a.b.c",
    "only-dots": lambda token, body: "..",
    "oversized": lambda token, body: token + "A" * 9000,
    "tampered-claims": lambda token, body: _tamper_payload(token),
    "flipped-payload-character": lambda token, body: _flip_middle(token),
    "truncated-signature": lambda token, body: _truncate_signature(token),
    "no-signature": lambda token, body: _strip_signature(token),
    "alg-none": lambda token, body: _alg_none(token),
    "hs256-confusion": _hs256_with_public_key,
    "id-token": _id_token_as_access_token,
    "foreign-key-same-kid": lambda token, body: _foreign_key_same_kid(token),
    "foreign-key-unknown-kid": lambda token, body: _unknown_kid(token),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS.values()), ids=list(MUTATIONS))
def test_userinfo_refuses_an_invalid_token_with_401_invalid_token(app, client, mutation):
    body = tokens(app, client)
    body["jwks"] = client.get("/jwks.json").get_json()
    assert client.get("/userinfo", headers=bearer(body["access_token"])).status_code == 200

    response = client.get("/userinfo", headers=bearer(mutation(body["access_token"], body)))

    assert_challenge(response, 401, "invalid_token")
    assert "sub" not in response.get_json()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
    ids=["no-header", "scheme-only", "empty-token", "basic-scheme"],
)
def test_userinfo_without_a_bearer_token_answers_401_invalid_token(client, headers):
    response = client.get("/userinfo", headers=headers)
    assert_challenge(response, 401, "invalid_token")


def test_userinfo_refuses_an_expired_access_token(app, client, frozen_clock):
    body = tokens(app, client)
    frozen_clock.advance(seconds=3599)
    assert client.get("/userinfo", headers=bearer(body["access_token"])).status_code == 200
    frozen_clock.advance(seconds=2)
    response = client.get("/userinfo", headers=bearer(body["access_token"]))
    assert_challenge(response, 401, "invalid_token")


def test_userinfo_refuses_tokens_of_a_disabled_client(app, client):
    from idp.extensions import db
    from idp.models import Client

    user = make_user(app)
    rp = make_client(app, skip_consent=True)
    auth = authorize(client, rp, user)
    token = exchange(client, rp, auth.code, auth.verifier).get_json()["access_token"]
    with app.app_context():
        db.session.execute(db.update(Client).values(is_active=False))
        db.session.commit()
    response = client.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
