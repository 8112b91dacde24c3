"""Token introspection (RFC 7662) at /introspect."""

from __future__ import annotations

import secrets

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jwk import OctKey
from sqlalchemy import select
from werkzeug.test import TestResponse

from idp.extensions import db
from idp.models import Grant
from idp.models import User
from idp.services import audit
from idp.services import grants
from tests.factories import make_client
from tests.factories import make_tenant
from tests.factories import make_user
from tests.flow import authorize
from tests.flow import client_auth
from tests.flow import exchange
from tests.flow import refresh
from tests.oauth.test_client_auth import assertion_form
from tests.oauth.test_client_auth import sign_assertion
from tests.oauth.test_revocation import issue_tokens
from tests.oauth.test_revocation import revoke

INACTIVE = {"active": False}


def introspect(http, rp, token: str | None, **form: str) -> TestResponse:
    data = dict(form)
    if token is not None:
        data["token"] = token
    if not rp.client_secret:
        data["client_id"] = rp.client_id
    return http.post("/introspect", data=data, headers=client_auth(rp))


def answer(http, rp, token: str, **form: str) -> dict:
    response = introspect(http, rp, token, **form)
    assert response.status_code == 200, response.text
    assert response.mimetype == "application/json"
    assert "no-store" in response.headers.get("Cache-Control", "")
    return response.get_json()


def resource_server(app, tenant_slug: str = "default"):
    """A confidential client that only introspects (an API)."""
    return make_client(
        app,
        name="API",
        grant_types=["client_credentials"],
        redirect_uri=None,
        service_type="machine",
        tenant_slug=tenant_slug,
    )


# --- active tokens ------------------------------------------------------------------------------


@pytest.mark.parametrize("hint", [None, "access_token", "refresh_token", "bogus"], ids=str)
def test_active_access_token_shape(app, client, hint):
    issued = issue_tokens(app, client)
    api = resource_server(app)
    claims = jwt.decode(
        issued.access_token, KeySet.import_key_set(client.get("/jwks.json").get_json())
    ).claims
    form = {"token_type_hint": hint} if hint else {}

    body = answer(client, api, issued.access_token, **form)

    assert body == {
        "active": True,
        "scope": "openid email offline_access",
        "client_id": issued.rp.client_id,
        "sub": claims["sub"],
        "exp": claims["exp"],
        "iat": claims["iat"],
        "iss": "http://localhost",
        "aud": claims["aud"],
        "jti": claims["jti"],
        "token_type": "Bearer",
    }
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "alice@example.com"))
        assert user is not None and body["sub"] == user.id


def test_active_refresh_token_shape(app, client, frozen_clock):
    issued = issue_tokens(app, client)
    now = int(frozen_clock.current.timestamp())

    body = answer(client, issued.rp, issued.refresh_token, token_type_hint="refresh_token")

    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "alice@example.com"))
        assert user is not None
    assert body == {
        "active": True,
        "scope": "openid email offline_access",
        "client_id": issued.rp.client_id,
        "sub": user.id,
        "exp": body["exp"],
        "iat": now,
        "token_type": "refresh_token",
    }
    assert body["exp"] > now + 24 * 3600


def test_client_credentials_token_is_active(app, client):
    api = resource_server(app)
    caller = resource_server(app)
    token = client.post(
        "/token", data={"grant_type": "client_credentials"}, headers=client_auth(caller)
    ).get_json()["access_token"]
    body = answer(client, api, token)
    assert body["active"] is True
    assert body["client_id"] == body["sub"] == caller.client_id


# --- inactive tokens: exactly {"active": false} --------------------------------------------------


def test_revoked_access_token_is_inactive(app, client):
    issued = issue_tokens(app, client)
    assert revoke(client, issued.rp, issued.access_token).status_code == 200
    assert answer(client, issued.rp, issued.access_token) == INACTIVE


def test_revoked_grant_is_seen_at_once(app, client):
    issued = issue_tokens(app, client)
    assert answer(client, issued.rp, issued.access_token)["active"] is True
    with app.app_context():
        grant = db.session.scalars(select(Grant)).one()
        grants.revoke_grant(grant, reason="test", actor=audit.SYSTEM)
        db.session.commit()
    # the access token is unexpired and its jti is not listed: only the grant says no
    assert answer(client, issued.rp, issued.access_token) == INACTIVE
    assert answer(client, issued.rp, issued.refresh_token) == INACTIVE


def test_expired_tokens_are_inactive(app, client, frozen_clock):
    issued = issue_tokens(app, client)
    frozen_clock.advance(seconds=3599)
    assert answer(client, issued.rp, issued.access_token)["active"] is True
    frozen_clock.advance(seconds=1)
    assert answer(client, issued.rp, issued.access_token) == INACTIVE
    assert answer(client, issued.rp, issued.refresh_token)["active"] is True
    frozen_clock.advance(days=15)  # past the idle lifetime
    assert answer(client, issued.rp, issued.refresh_token) == INACTIVE


def test_rotated_refresh_token_is_inactive_and_its_successor_active(app, client):
    issued = issue_tokens(app, client)
    successor = refresh(client, issued.rp, issued.refresh_token).get_json()["refresh_token"]
    assert answer(client, issued.rp, issued.refresh_token) == INACTIVE
    assert answer(client, issued.rp, successor)["active"] is True


def test_token_of_a_deactivated_user_is_inactive(app, client):
    issued = issue_tokens(app, client)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "alice@example.com"))
        assert user is not None
        user.is_active = False
        db.session.commit()
    assert answer(client, issued.rp, issued.access_token) == INACTIVE
    assert answer(client, issued.rp, issued.refresh_token) == INACTIVE


@pytest.mark.parametrize(
    "token",
    [
        lambda: secrets.token_urlsafe(32),
        lambda: "a.b.c",
        lambda: "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        lambda: "x" * 10_000,
        lambda: "\u00e9" * 30,
    ],
    ids=["unknown", "jwt-shaped-garbage", "unsigned-jwt", "oversized", "non-ascii"],
)
def test_unknown_or_malformed_token_is_inactive(app, client, token):
    assert answer(client, resource_server(app), token()) == INACTIVE


def test_id_token_is_not_an_access_token(app, client):
    user, rp = make_user(app), make_client(app, skip_consent=True)
    auth = authorize(client, rp, user)
    id_token = exchange(client, rp, auth.code, auth.verifier).get_json()["id_token"]
    assert answer(client, rp, id_token) == INACTIVE


# --- who may ask ----------------------------------------------------------------------------------


def test_token_of_another_tenant_is_inactive(app, client):
    make_tenant(app, "other")
    issued = issue_tokens(app, client)
    foreign_api = resource_server(app, tenant_slug="other")
    assert answer(client, foreign_api, issued.access_token) == INACTIVE
    assert answer(client, foreign_api, issued.refresh_token) == INACTIVE
    # and the other way round
    other = issue_tokens(app, client, email="bob@example.com", tenant_slug="other")
    assert answer(client, resource_server(app), other.access_token) == INACTIVE
    assert answer(client, foreign_api, other.access_token)["active"] is True


def test_public_client_is_refused(app, client):
    issued = issue_tokens(app, client, public=True)
    response = introspect(client, issued.rp, issued.access_token)
    assert response.status_code == 401, response.text
    assert response.get_json()["error"] == "invalid_client"
    assert response.headers.get("WWW-Authenticate")
    assert "active" not in response.get_json()


@pytest.mark.parametrize(
    "headers, form",
    [({}, {}), ({}, {"client_id": "no-such-client", "client_secret": "x"})],
    ids=["no-credentials", "unknown-client"],
)
def test_unauthenticated_caller_is_401(app, client, headers, form):
    issued = issue_tokens(app, client)
    response = client.post(
        "/introspect", data={"token": issued.access_token, **form}, headers=headers
    )
    assert response.status_code == 401, response.text
    assert response.get_json()["error"] == "invalid_client"
    assert "active" not in response.get_json()


def test_wrong_secret_is_401(app, client):
    issued = issue_tokens(app, client)
    response = client.post(
        "/introspect",
        data={"token": issued.access_token, "client_id": issued.rp.client_id},
        headers={"Authorization": "Basic " + "d3Jvbmc6d3Jvbmc="},
    )
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"


def test_missing_token_is_invalid_request(app, client):
    response = introspect(client, resource_server(app), None)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


def test_client_secret_jwt_resource_server_introspects(app, client):
    issued = issue_tokens(app, client)
    api = make_client(
        app,
        name="API",
        grant_types=["client_credentials"],
        redirect_uri=None,
        service_type="machine",
        auth_method="client_secret_jwt",
    )
    key = OctKey.import_key(api.client_secret or "")
    assertion = sign_assertion(api.client_id, key, alg="HS256", aud="http://localhost")
    data = {"token": issued.access_token, **assertion_form(assertion)}
    response = client.post("/introspect", data=data)
    assert response.status_code == 200, response.text
    assert response.get_json()["active"] is True
    replay = client.post("/introspect", data=data)
    assert replay.status_code == 401 and replay.get_json()["error"] == "invalid_client"


def test_introspect_accepts_only_a_form_post(app, client):
    api = resource_server(app)
    get = client.get("/introspect?token=x")
    assert get.status_code == 405 and get.mimetype == "application/json"
    as_json = client.post("/introspect", json={"token": "x"}, headers=client_auth(api))
    assert as_json.status_code == 400 and as_json.get_json()["error"] == "invalid_request"
