"""/token for the authorization-code grant: RFC 6749 §2.3, §4.1.3, §5.1, §5.2; RFC 7636 §4.5-4.6;
RFC 9700 §2.1.1 and §4.5 (code replay); OIDC Core §3.1.3."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select
from werkzeug.test import TestResponse

from idp.extensions import db
from idp.models import Client
from tests.factories import MadeClient
from tests.factories import make_client
from tests.factories import make_user
from tests.flow import Authorization
from tests.flow import authorize
from tests.flow import exchange
from tests.flow import pkce_pair


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def code_request(rp: MadeClient, auth: Authorization, **overrides: str | None) -> dict[str, str]:
    data: dict[str, str | None] = {
        "grant_type": "authorization_code",
        "code": auth.code,
        "redirect_uri": rp.redirect_uri,
        "code_verifier": auth.verifier,
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def update_client(app: Flask, client_id: str, **fields: object) -> None:
    with app.app_context():
        row = db.session.scalar(select(Client).where(Client.client_id == client_id))
        assert row is not None
        for key, value in fields.items():
            setattr(row, key, value)
        db.session.commit()


def decode(http: FlaskClient, token: str) -> jwt.Token:
    return jwt.decode(token, KeySet.import_key_set(http.get("/jwks.json").get_json()))


def userinfo_status(http: FlaskClient, access_token: str) -> int:
    return http.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"}).status_code


def assert_error(response: TestResponse, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.mimetype == "application/json"
    assert response.get_json()["error"] == error


def assert_tokens(response: TestResponse, http: FlaskClient, rp: MadeClient) -> dict:
    assert response.status_code == 200, response.text
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert decode(http, body["id_token"]).claims["aud"] == [rp.client_id]
    assert decode(http, body["access_token"]).claims["client_id"] == rp.client_id
    assert userinfo_status(http, body["access_token"]) == 200
    return body


# --- client authentication (RFC 6749 §2.3) -----------------------------------------------------


def test_token_accepts_client_secret_basic(app, client):
    user, rp = make_user(app), make_client(app)
    auth = authorize(client, rp, user)
    assert_tokens(exchange(client, rp, auth.code, auth.verifier, basic=True), client, rp)


def test_token_accepts_client_secret_post_for_a_client_registered_for_it(app, client):
    user, rp = make_user(app), make_client(app, auth_method="client_secret_post")
    auth = authorize(client, rp, user)
    assert_tokens(exchange(client, rp, auth.code, auth.verifier, basic=False), client, rp)


def test_token_accepts_public_client_with_client_id_and_code_verifier_only(app, client):
    user, rp = make_user(app), make_client(app, public=True)
    assert rp.client_secret is None
    auth = authorize(client, rp, user)
    response = client.post("/token", data=code_request(rp, auth, client_id=rp.client_id))
    assert_tokens(response, client, rp)


def _wrong_secret(rp: MadeClient) -> tuple[dict, dict]:
    return {}, basic(rp.client_id, "not-the-secret")


def _unknown_client_basic(rp: MadeClient) -> tuple[dict, dict]:
    return {}, basic("no-such-client", rp.client_secret or "")


def _empty_secret_basic(rp: MadeClient) -> tuple[dict, dict]:
    return {}, basic(rp.client_id, "")


@pytest.mark.parametrize(
    "credentials",
    [_wrong_secret, _unknown_client_basic, _empty_secret_basic],
    ids=["wrong-secret", "unknown-client", "empty-secret"],
)
def test_token_rejects_bad_basic_credentials_with_401_and_www_authenticate(
    app, client, credentials
):
    user, rp = make_user(app), make_client(app)
    auth = authorize(client, rp, user)
    form, headers = credentials(rp)
    response = client.post("/token", data={**code_request(rp, auth), **form}, headers=headers)
    assert_error(response, 401, "invalid_client")
    assert response.headers.get("WWW-Authenticate", "").startswith("Basic")
    assert "access_token" not in response.get_json()
    # the failed attempt did not burn the code for the real client
    assert_tokens(exchange(client, rp, auth.code, auth.verifier), client, rp)


@pytest.mark.parametrize(
    "auth_method, credentials",
    [
        (
            "client_secret_post",
            lambda rp: ({"client_id": "no-such-client", "client_secret": "x"}, {}),
        ),
        (
            "client_secret_post",
            lambda rp: ({"client_id": rp.client_id, "client_secret": "nope"}, {}),
        ),
        ("client_secret_basic", lambda rp: ({"client_id": rp.client_id}, {})),
        ("client_secret_post", lambda rp: ({"client_id": rp.client_id}, {})),
        ("client_secret_basic", lambda rp: ({}, {})),
        (
            "client_secret_basic",
            lambda rp: ({"client_id": rp.client_id, "client_secret": rp.client_secret}, {}),
        ),
        ("client_secret_post", lambda rp: ({}, basic(rp.client_id, rp.client_secret))),
    ],
    ids=[
        "unknown-client-post",
        "wrong-secret-post",
        "confidential-basic-client-sends-no-secret",
        "confidential-post-client-sends-no-secret",
        "no-client-identification-at-all",
        "basic-client-tries-client_secret_post",
        "post-client-tries-client_secret_basic",
    ],
)
def test_token_rejects_unauthenticated_or_wrongly_authenticated_client(
    app, client, auth_method, credentials
):
    user, rp = make_user(app), make_client(app, auth_method=auth_method)
    auth = authorize(client, rp, user)
    form, headers = credentials(rp)
    response = client.post("/token", data={**code_request(rp, auth), **form}, headers=headers)
    assert response.status_code in (400, 401), response.text
    assert_error(response, response.status_code, "invalid_client")
    if response.status_code == 401:  # RFC 6749 §5.2: a 401 names the scheme to use
        assert response.headers.get("WWW-Authenticate")
    assert "access_token" not in response.get_json()


def test_token_rejects_client_using_two_authentication_methods_at_once(app, client):
    user, rp = make_user(app), make_client(app)
    auth = authorize(client, rp, user)
    form = {"client_id": rp.client_id, "client_secret": rp.client_secret}
    response = client.post(
        "/token",
        data={**code_request(rp, auth), **form},
        headers=basic(rp.client_id, rp.client_secret),
    )
    assert_error(response, 400, "invalid_request")


# --- PKCE (RFC 7636 §4.5-4.6, RFC 9700 §2.1.1) -------------------------------------------------


@pytest.mark.parametrize("public", [False, True], ids=["confidential", "public"])
def test_token_requires_code_verifier_when_the_code_has_a_challenge(app, client, public):
    user, rp = make_user(app), make_client(app, public=public)
    auth = authorize(client, rp, user)
    response = exchange(client, rp, auth.code, None)
    assert_error(response, 400, "invalid_request")


@pytest.mark.parametrize(
    "wrong_verifier",
    [
        lambda auth: pkce_pair()[0],  # another well-formed verifier
        lambda auth: auth.verifier[:-1] + ("A" if auth.verifier[-1] != "A" else "B"),
        lambda auth: auth.params["code_challenge"],  # the challenge replayed as a "plain" verifier
    ],
    ids=["other-verifier", "one-character-changed", "challenge-as-verifier"],
)
@pytest.mark.parametrize("public", [False, True], ids=["confidential", "public"])
def test_token_rejects_wrong_code_verifier_with_invalid_grant(app, client, public, wrong_verifier):
    user, rp = make_user(app), make_client(app, public=public)
    auth = authorize(client, rp, user)
    response = exchange(client, rp, auth.code, wrong_verifier(auth))
    assert_error(response, 400, "invalid_grant")


# --- the code itself (RFC 6749 §4.1.2, §4.1.3; RFC 9700 §4.5) ----------------------------------


def test_token_rejects_reused_code_and_revokes_the_tokens_already_issued_from_it(app, client):
    user, rp = make_user(app), make_client(app)
    auth = authorize(client, rp, user)
    first = exchange(client, rp, auth.code, auth.verifier)
    access_token = assert_tokens(first, client, rp)["access_token"]

    replay = exchange(client, rp, auth.code, auth.verifier)

    assert_error(replay, 400, "invalid_grant")
    assert "access_token" not in replay.get_json()
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})
    assert info.status_code == 401
    assert 'error="invalid_token"' in info.headers["WWW-Authenticate"]


def test_token_rejects_code_older_than_its_60_second_lifetime(app, client, frozen_clock):
    user, rp = make_user(app), make_client(app)
    auth = authorize(client, rp, user)
    frozen_clock.advance(seconds=61)
    assert_error(exchange(client, rp, auth.code, auth.verifier), 400, "invalid_grant")


def test_token_accepts_code_just_inside_its_lifetime(app, client, frozen_clock):
    user, rp = make_user(app), make_client(app)
    auth = authorize(client, rp, user)
    frozen_clock.advance(seconds=59)
    assert_tokens(exchange(client, rp, auth.code, auth.verifier), client, rp)


def test_token_rejects_code_issued_to_another_client(app, client):
    user = make_user(app)
    client_a, client_b = make_client(app), make_client(app, name="Other RP")
    auth = authorize(client, client_a, user)
    response = exchange(client, client_b, auth.code, auth.verifier)
    assert_error(response, 400, "invalid_grant")
    assert "access_token" not in response.get_json()


def test_token_rejects_code_issued_to_a_confidential_client_redeemed_by_a_public_one(app, client):
    user = make_user(app)
    confidential, public = make_client(app), make_client(app, public=True)
    auth = authorize(client, confidential, user)
    response = client.post("/token", data=code_request(public, auth, client_id=public.client_id))
    assert_error(response, 400, "invalid_grant")


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example.com/callback",
        "https://rp.example.com/callback/",
        "https://rp.example.com/callback?x=1",
        "https://RP.example.com/callback",
    ],
)
def test_token_rejects_redirect_uri_differing_from_the_authorization_request(
    app, client, redirect_uri
):
    user, rp = make_user(app), make_client(app)
    auth = authorize(client, rp, user)
    response = client.post(
        "/token",
        data=code_request(rp, auth, redirect_uri=redirect_uri),
        headers=basic(rp.client_id, rp.client_secret),
    )
    assert_error(response, 400, "invalid_grant")


@pytest.mark.parametrize("redirect_uri", [None, ""], ids=["absent", "empty"])
def test_token_rejects_missing_redirect_uri_when_the_authorization_request_had_one(
    app, client, redirect_uri
):
    """RFC 6749 §4.1.3: redirect_uri is REQUIRED when it was in the authorization request;
    §3.2: an empty parameter counts as omitted."""
    user, rp = make_user(app), make_client(app)
    auth = authorize(client, rp, user)
    response = client.post(
        "/token",
        data=code_request(rp, auth, redirect_uri=redirect_uri),
        headers=basic(rp.client_id, rp.client_secret),
    )
    assert response.status_code == 400, response.text
    assert response.get_json()["error"] in ("invalid_grant", "invalid_request")
    assert "access_token" not in response.get_json()


# --- malformed requests (RFC 6749 §3.2, §5.2) --------------------------------------------------


def test_token_refuses_get_with_405(client):
    response = client.get("/token?grant_type=authorization_code&code=x")
    assert response.status_code == 405
    assert "access_token" not in response.text


def test_token_405_names_post_in_the_allow_header(client):
    response = client.get("/token")
    assert response.status_code == 405
    assert "POST" in response.headers.get("Allow", "")


def test_token_rejects_json_body_with_a_json_error(app, client):
    user, rp = make_user(app), make_client(app)
    auth = authorize(client, rp, user)
    response = client.post(
        "/token", json=code_request(rp, auth), headers=basic(rp.client_id, rp.client_secret)
    )
    assert response.status_code == 400, response.text
    assert response.mimetype == "application/json"
    assert isinstance(response.get_json()["error"], str)
    assert "access_token" not in response.get_json()


def test_token_rejects_missing_grant_type_with_400(app, client):
    rp = make_client(app)
    response = client.post(
        "/token",
        data={"code": "x", "redirect_uri": rp.redirect_uri},
        headers=basic(rp.client_id, rp.client_secret),
    )
    assert response.status_code == 400
    assert response.mimetype == "application/json"
    assert response.get_json()["error"]


def test_token_answers_missing_grant_type_with_invalid_request(app, client):
    rp = make_client(app)
    response = client.post(
        "/token",
        data={"code": "x", "redirect_uri": rp.redirect_uri},
        headers=basic(rp.client_id, rp.client_secret),
    )
    assert_error(response, 400, "invalid_request")


@pytest.mark.parametrize(
    "grant_type",
    [
        "password",
        "implicit",
        "token",
        "urn:ietf:params:oauth:grant-type:device_code",
        "AUTHORIZATION_CODE",
        "no-such-grant",
    ],
)
def test_token_rejects_unsupported_grant_type(app, client, grant_type):
    rp = make_client(app)
    response = client.post(
        "/token",
        data={"grant_type": grant_type, "code": "x", "redirect_uri": rp.redirect_uri},
        headers=basic(rp.client_id, rp.client_secret),
    )
    assert_error(response, 400, "unsupported_grant_type")


@pytest.mark.parametrize("grant_type", ["client_credentials", "refresh_token"])
def test_token_refuses_grant_types_the_client_is_not_registered_for(app, client, grant_type):
    rp = make_client(app)  # authorization_code only
    response = client.post(
        "/token",
        data={"grant_type": grant_type, "refresh_token": "x"},
        headers=basic(rp.client_id, rp.client_secret),
    )
    assert_error(response, 400, "unauthorized_client")


def test_token_rejects_missing_code_with_invalid_request(app, client):
    rp = make_client(app)
    response = client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "redirect_uri": rp.redirect_uri,
            "code_verifier": pkce_pair()[0],
        },
        headers=basic(rp.client_id, rp.client_secret),
    )
    assert_error(response, 400, "invalid_request")


@pytest.mark.parametrize(
    "code",
    ["A" * 10_000, "x", "not a code", "\u00e9\u00e8\u00ea" * 50, secrets.token_urlsafe(36)],
    ids=["10000-chars", "one-char", "spaces", "non-ascii", "well-formed-but-unknown"],
)
def test_token_rejects_unknown_or_oversized_code_with_invalid_grant(app, client, code):
    rp = make_client(app)
    response = client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": rp.redirect_uri,
            "code_verifier": pkce_pair()[0],
        },
        headers=basic(rp.client_id, rp.client_secret),
    )
    assert_error(response, 400, "invalid_grant")


# --- response format (RFC 6749 §5.1, §5.2) -----------------------------------------------------


def _success(http: FlaskClient, rp: MadeClient, auth: Authorization) -> TestResponse:
    return exchange(http, rp, auth.code, auth.verifier)


def _invalid_client(http: FlaskClient, rp: MadeClient, auth: Authorization) -> TestResponse:
    return http.post("/token", data=code_request(rp, auth), headers=basic(rp.client_id, "bad"))


def _invalid_grant(http: FlaskClient, rp: MadeClient, auth: Authorization) -> TestResponse:
    return exchange(http, rp, "not-a-code", auth.verifier)


def _invalid_request(http: FlaskClient, rp: MadeClient, auth: Authorization) -> TestResponse:
    return exchange(http, rp, auth.code, None)


def _unsupported_grant(http: FlaskClient, rp: MadeClient, auth: Authorization) -> TestResponse:
    data = code_request(rp, auth, grant_type="password")
    return http.post("/token", data=data, headers=basic(rp.client_id, rp.client_secret))


def _json_body(http: FlaskClient, rp: MadeClient, auth: Authorization) -> TestResponse:
    return http.post("/token", json=code_request(rp, auth))


@pytest.mark.parametrize(
    "send, status",
    [
        (_success, 200),
        (_invalid_client, 401),
        (_invalid_grant, 400),
        (_invalid_request, 400),
        (_unsupported_grant, 400),
        (_json_body, 400),
    ],
    ids=[
        "success",
        "invalid_client",
        "invalid_grant",
        "invalid_request",
        "unsupported_grant",
        "json-body",
    ],
)
def test_every_token_response_is_json_and_not_cacheable(
    app, client, send: Callable[..., TestResponse], status
):
    user, rp = make_user(app), make_client(app)
    auth = authorize(client, rp, user)
    response = send(client, rp, auth)
    assert response.status_code == status, response.text
    assert response.mimetype == "application/json"
    assert response.get_json() is not None
    directives = {d.strip().lower() for d in response.headers.get("Cache-Control", "").split(",")}
    assert "no-store" in directives


# --- lifetimes (RFC 6749 §5.1 expires_in; OIDC Core §2 exp) ------------------------------------


@pytest.mark.parametrize("lifetime", [300, 7200])
def test_id_token_lifetime_follows_the_clients_setting(app, client, lifetime):
    user, rp = make_user(app), make_client(app)
    update_client(app, rp.client_id, id_token_lifetime=lifetime)
    auth = authorize(client, rp, user)
    body = assert_tokens(exchange(client, rp, auth.code, auth.verifier), client, rp)
    claims = decode(client, body["id_token"]).claims
    assert claims["exp"] - claims["iat"] == lifetime
    # the access token keeps the deployment default
    access = decode(client, body["access_token"]).claims
    assert access["exp"] - access["iat"] == body["expires_in"] == 3600


@pytest.mark.parametrize("lifetime", [120, 900])
def test_access_token_lifetime_and_expires_in_follow_the_clients_setting(
    app, client, frozen_clock, lifetime
):
    user, rp = make_user(app), make_client(app)
    update_client(app, rp.client_id, access_token_lifetime=lifetime)
    auth = authorize(client, rp, user)
    body = assert_tokens(exchange(client, rp, auth.code, auth.verifier), client, rp)
    assert body["expires_in"] == lifetime
    claims = decode(client, body["access_token"]).claims
    assert claims["exp"] - claims["iat"] == lifetime
    id_claims = decode(client, body["id_token"]).claims
    assert id_claims["exp"] - id_claims["iat"] == 3600

    frozen_clock.advance(seconds=lifetime - 1)
    assert userinfo_status(client, body["access_token"]) == 200
    frozen_clock.advance(seconds=1)
    assert userinfo_status(client, body["access_token"]) == 401


def test_non_utf8_basic_credentials_are_invalid_client_not_500(app, client):
    raw = base64.b64encode(b"\xff\xfe:\xff").decode()
    response = client.post(
        "/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {raw}"},
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
