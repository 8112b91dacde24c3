"""Token revocation (RFC 7009) at /revoke."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jwk import RSAKey
from sqlalchemy import select
from werkzeug.test import TestResponse

from idp.extensions import db
from idp.models import AuditEvent
from idp.models import RevokedAccessToken
from tests.factories import MadeClient
from tests.factories import make_client
from tests.factories import make_user
from tests.flow import authorize
from tests.flow import client_auth
from tests.flow import exchange
from tests.flow import refresh
from tests.oauth.test_client_auth import RSA_KEY
from tests.oauth.test_client_auth import assertion_form
from tests.oauth.test_client_auth import public_jwks
from tests.oauth.test_client_auth import sign_assertion

REFRESHABLE = ["authorization_code", "refresh_token"]


@dataclass
class Issued:
    rp: MadeClient
    access_token: str
    refresh_token: str


def issue_tokens(
    app: Flask, http: FlaskClient, email: str = "alice@example.com", **options
) -> Issued:
    """Sign in, consent (skipped) and exchange the code: an access and a refresh token."""
    user = make_user(app, email=email, tenant_slug=options.get("tenant_slug", "default"))
    options.setdefault("grant_types", REFRESHABLE)
    rp = make_client(app, skip_consent=True, **options)
    auth = authorize(http, rp, user, scope="openid email offline_access")
    if options.get("auth_method") == "private_key_jwt":
        data = {
            "grant_type": "authorization_code",
            "code": auth.code,
            "redirect_uri": rp.redirect_uri,
            "code_verifier": auth.verifier,
            **assertion_form(sign_assertion(rp.client_id, RSA_KEY)),
        }
        body = http.post("/token", data=data).get_json()
    else:
        body = exchange(http, rp, auth.code, auth.verifier).get_json()
    assert "refresh_token" in body, body
    return Issued(rp, body["access_token"], body["refresh_token"])


def revoke(http: FlaskClient, rp: MadeClient, token: str | None, **form: str) -> TestResponse:
    data = dict(form)
    if token is not None:
        data["token"] = token
    if not rp.client_secret:
        data["client_id"] = rp.client_id
    return http.post("/revoke", data=data, headers=client_auth(rp))


def introspect(http: FlaskClient, rp: MadeClient, token: str) -> dict:
    response = http.post("/introspect", data={"token": token}, headers=client_auth(rp))
    assert response.status_code == 200, response.text
    return response.get_json()


def userinfo_status(http: FlaskClient, access_token: str) -> int:
    return http.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"}).status_code


def assert_ok(response: TestResponse) -> None:
    assert response.status_code == 200, response.text
    assert "no-store" in response.headers.get("Cache-Control", "")


def audit_events(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.event_type)).all())


# --- access tokens ------------------------------------------------------------------------------


@pytest.mark.parametrize("hint", [None, "access_token", "refresh_token", "something_else"], ids=str)
def test_revoking_an_access_token_ends_it_at_once(app, client, hint):
    issued = issue_tokens(app, client)
    assert userinfo_status(client, issued.access_token) == 200
    form = {"token_type_hint": hint} if hint else {}

    assert_ok(revoke(client, issued.rp, issued.access_token, **form))

    assert userinfo_status(client, issued.access_token) == 401
    assert introspect(client, issued.rp, issued.access_token) == {"active": False}
    # only that access token: the grant and its refresh token live on
    assert introspect(client, issued.rp, issued.refresh_token)["active"] is True
    renewed = refresh(client, issued.rp, issued.refresh_token)
    assert renewed.status_code == 200, renewed.text
    assert userinfo_status(client, renewed.get_json()["access_token"]) == 200
    assert "access_token.revoked" in audit_events(app)


def test_revoked_jti_is_kept_until_the_token_expires(app, client):
    issued = issue_tokens(app, client)
    jwks = KeySet.import_key_set(client.get("/jwks.json").get_json())
    claims = jwt.decode(issued.access_token, jwks).claims
    assert_ok(revoke(client, issued.rp, issued.access_token))
    with app.app_context():
        row = db.session.get(RevokedAccessToken, claims["jti"])
        assert row is not None
        assert int(row.expires_at.timestamp()) == claims["exp"]


def test_revoking_twice_is_fine(app, client):
    issued = issue_tokens(app, client)
    assert_ok(revoke(client, issued.rp, issued.access_token))
    assert_ok(revoke(client, issued.rp, issued.access_token))
    assert_ok(revoke(client, issued.rp, issued.refresh_token))
    assert_ok(revoke(client, issued.rp, issued.refresh_token))


def test_revoking_an_expired_access_token_answers_200(app, client, frozen_clock):
    issued = issue_tokens(app, client)
    frozen_clock.advance(hours=2)
    assert_ok(revoke(client, issued.rp, issued.access_token))


# --- refresh tokens -----------------------------------------------------------------------------


@pytest.mark.parametrize("hint", [None, "refresh_token", "access_token"], ids=str)
def test_revoking_a_refresh_token_revokes_its_whole_grant(app, client, hint):
    issued = issue_tokens(app, client)
    form = {"token_type_hint": hint} if hint else {}

    assert_ok(revoke(client, issued.rp, issued.refresh_token, **form))

    # RFC 7009 §2.1: the access tokens of the same grant die with it
    assert userinfo_status(client, issued.access_token) == 401
    assert introspect(client, issued.rp, issued.access_token) == {"active": False}
    assert introspect(client, issued.rp, issued.refresh_token) == {"active": False}
    again = refresh(client, issued.rp, issued.refresh_token)
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"
    assert "grant.revoked" in audit_events(app)


def test_other_grants_of_the_same_user_and_client_survive(app, client):
    first = issue_tokens(app, client)
    # the browser is still signed in: a second authorization opens a second grant
    auth = authorize(client, first.rp, None, scope="openid email offline_access")
    second = exchange(client, first.rp, auth.code, auth.verifier).get_json()
    assert_ok(revoke(client, first.rp, first.refresh_token))
    assert userinfo_status(client, first.access_token) == 401
    assert userinfo_status(client, second["access_token"]) == 200


# --- what must not happen -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_a_client_cannot_revoke_another_clients_token(app, client, kind):
    victim = issue_tokens(app, client)
    attacker = make_client(app, name="Other RP")
    token = getattr(victim, kind)

    response = revoke(client, attacker, token)

    assert_ok(response)  # RFC 7009 §2.2: no hint that the token exists
    assert userinfo_status(client, victim.access_token) == 200
    assert introspect(client, victim.rp, token)["active"] is True
    with app.app_context():
        refused = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event_type == "token.revocation_refused")
        ).all()
        assert [e.client_id for e in refused] == [attacker.client_id]


def _foreign_jwt() -> str:
    key = RSAKey.generate_key(2048, private=True, parameters={"kid": "evil"})
    claims = {"iss": "http://localhost", "jti": "x", "exp": 4102444800, "client_id": "x"}
    return jwt.encode({"alg": "RS256", "kid": "evil", "typ": "at+jwt"}, claims, key)


@pytest.mark.parametrize(
    "token",
    [
        lambda: secrets.token_urlsafe(32),
        lambda: "a.b.c",
        lambda: "x" * 10_000,
        lambda: "\u00e9\u00e8" * 20,
        _foreign_jwt,
    ],
    ids=[
        "unknown-opaque",
        "jwt-shaped-garbage",
        "oversized",
        "non-ascii",
        "signed-by-someone-else",
    ],
)
def test_unknown_or_garbage_token_answers_200(app, client, token):
    rp = make_client(app)
    assert_ok(revoke(client, rp, token()))


@pytest.mark.parametrize("token", [None, ""], ids=["absent", "empty"])
def test_missing_token_is_invalid_request(app, client, token):
    rp = make_client(app)
    response = revoke(client, rp, token)
    assert response.status_code == 400, response.text
    assert response.get_json()["error"] == "invalid_request"


def _no_credentials(rp: MadeClient) -> tuple[dict, dict]:
    return {}, {}


def _wrong_basic_secret(rp: MadeClient) -> tuple[dict, dict]:
    return client_auth(MadeClient(rp.client_id, "wrong", "", "")), {}


def _wrong_post_secret(rp: MadeClient) -> tuple[dict, dict]:
    return {}, {"client_id": rp.client_id, "client_secret": "wrong"}


@pytest.mark.parametrize(
    "credentials",
    [_no_credentials, _wrong_basic_secret, _wrong_post_secret],
    ids=["no-credentials", "wrong-basic-secret", "wrong-post-secret"],
)
def test_bad_client_authentication_is_401_and_revokes_nothing(app, client, credentials):
    issued = issue_tokens(app, client)
    headers, form = credentials(issued.rp)
    response = client.post("/revoke", data={"token": issued.refresh_token, **form}, headers=headers)
    assert response.status_code == 401, response.text
    assert response.get_json()["error"] == "invalid_client"
    assert response.headers.get("WWW-Authenticate")
    assert userinfo_status(client, issued.access_token) == 200


def test_basic_and_body_secret_together_is_invalid_request(app, client):
    issued = issue_tokens(app, client)
    response = client.post(
        "/revoke",
        data={"token": issued.access_token, "client_secret": issued.rp.client_secret},
        headers=client_auth(issued.rp),
    )
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"
    assert userinfo_status(client, issued.access_token) == 200


def test_public_client_revokes_its_own_token_with_its_client_id(app, client):
    issued = issue_tokens(app, client, public=True)
    assert issued.rp.client_secret is None
    assert_ok(revoke(client, issued.rp, issued.refresh_token))
    assert userinfo_status(client, issued.access_token) == 401


def test_private_key_jwt_client_revokes_with_an_assertion(app, client):
    issued = issue_tokens(app, client, auth_method="private_key_jwt", jwks=public_jwks(RSA_KEY))
    assertion = sign_assertion(issued.rp.client_id, RSA_KEY, aud="http://localhost/revoke")
    response = client.post(
        "/revoke", data={"token": issued.access_token, **assertion_form(assertion)}
    )
    assert_ok(response)
    assert userinfo_status(client, issued.access_token) == 401
    replay = client.post(
        "/revoke", data={"token": issued.refresh_token, **assertion_form(assertion)}
    )
    assert replay.status_code == 401 and replay.get_json()["error"] == "invalid_client"


def test_revoke_accepts_only_a_form_post(app, client):
    rp = make_client(app)
    get = client.get("/revoke?token=x")
    assert get.status_code == 405 and get.mimetype == "application/json"
    as_json = client.post("/revoke", json={"token": "x"}, headers=client_auth(rp))
    assert as_json.status_code == 400 and as_json.get_json()["error"] == "invalid_request"
    in_query = client.post("/revoke?token=x", data={}, headers=client_auth(rp))
    assert in_query.status_code == 400 and in_query.get_json()["error"] == "invalid_request"
