"""OIDC Core §3.1.2.1 request options: prompt, max_age, id_token_hint, claims, acr, and
pairwise subjects (§8)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.factories import make_client
from tests.factories import make_user
from tests.flow import authorization_params
from tests.flow import authorize
from tests.flow import exchange
from tests.flow import query


def _tokens(client, rp, auth):
    body = exchange(client, rp, auth.code, auth.verifier).get_json()
    keys = KeySet.import_key_set(client.get("/jwks.json").get_json())
    return body, jwt.decode(body["id_token"], keys).claims


def _get(client, params):
    return client.get("/authorize?" + urlencode(params))


@pytest.fixture
def signed_in(app, client):
    user = make_user(app)
    rp = make_client(app, skip_consent=True)
    first = authorize(client, rp, user)
    _, id_claims = _tokens(client, rp, first)
    return user, rp, id_claims


def test_prompt_none_with_a_session_and_consent_answers_without_a_page(client, signed_in):
    _, rp, _ = signed_in
    params, _ = authorization_params(rp, prompt="none")
    response = _get(client, params)
    assert response.status_code == 302 and query(response.location)["code"]


def test_max_age_zero_forces_a_fresh_sign_in(client, signed_in, frozen_clock):
    user, rp, first_claims = signed_in
    frozen_clock.advance(seconds=30)
    params, _ = authorization_params(rp, max_age="0")
    assert _get(client, params).location.startswith("/login")
    auth = authorize(client, rp, user, max_age="0")
    _, claims = _tokens(client, rp, auth)
    assert claims["auth_time"] > first_claims["auth_time"]


def test_max_age_is_met_by_a_recent_sign_in(client, signed_in, frozen_clock):
    _, rp, first_claims = signed_in
    frozen_clock.advance(seconds=30)
    params, _ = authorization_params(rp, max_age="3600")
    response = _get(client, params)
    assert response.status_code == 302 and query(response.location)["code"]


def test_stale_session_with_prompt_none_answers_login_required(client, signed_in, frozen_clock):
    _, rp, _ = signed_in
    frozen_clock.advance(seconds=120)
    params, _ = authorization_params(rp, max_age="60", prompt="none")
    assert query(_get(client, params).location)["error"] == "login_required"


def test_id_token_hint_of_the_signed_in_user_is_accepted(client, signed_in):
    user, rp, _ = signed_in
    auth_params, _ = authorization_params(rp, prompt="none")
    hint = _hint(client, rp, user)
    response = _get(client, {**auth_params, "id_token_hint": hint})
    assert query(response.location)["code"]


def _hint(client, rp, user):
    auth = authorize(client, rp, user)
    body = exchange(client, rp, auth.code, auth.verifier).get_json()
    return body["id_token"]


def test_id_token_hint_of_another_user_needs_sign_in(app, client, signed_in):
    user, rp, _ = signed_in
    other = make_user(app, email="bob@example.com")
    other_client = app.test_client()
    hint = _hint(other_client, rp, other)
    params, _ = authorization_params(rp, prompt="none", id_token_hint=hint)
    assert query(_get(client, params).location)["error"] == "login_required"
    params, _ = authorization_params(rp, id_token_hint=hint)
    assert _get(client, params).location.startswith("/login")


def test_forged_id_token_hint_is_invalid_request(client, signed_in):
    _, rp, _ = signed_in
    params, _ = authorization_params(rp, id_token_hint="eyJhbGciOiJub25lIn0.e30.")
    assert query(_get(client, params).location)["error"] == "invalid_request"


@pytest.mark.parametrize(
    "claims",
    [
        "not json",
        "[1]",
        '{"userinfo": 3}',
        "{" * 5000,
        '{"id_token":' + "[" * 2000 + "]" * 2000 + "}",
    ],
)
def test_malformed_claims_parameter_is_invalid_request(client, signed_in, claims):
    _, rp, _ = signed_in
    params, _ = authorization_params(rp, claims=claims)
    assert query(_get(client, params).location)["error"] == "invalid_request"


def test_claims_parameter_never_releases_claims_beyond_the_granted_scopes(app, client):
    user = make_user(app, phone_number="+15551234567")
    rp = make_client(app, skip_consent=True)
    request = {"id_token": {"email": {"essential": True}}, "userinfo": {"phone_number": None}}
    auth = authorize(client, rp, user, scope="openid email", claims=json.dumps(request))
    body, claims = _tokens(client, rp, auth)
    assert claims["email"] == user.email  # covered by the email scope
    assert "phone_number" not in claims
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert "phone_number" not in info.get_json()  # not consented: the phone scope was absent
    assert info.get_json()["email"] == user.email


def test_id_token_reports_acr_and_amr(client, signed_in):
    _, _, claims = signed_in
    assert claims["acr"] == "1" and claims["amr"] == ["pwd"]


def test_acr_values_and_ui_locales_are_accepted(client, signed_in):
    _, rp, _ = signed_in
    params, _ = authorization_params(rp, acr_values="1 2", ui_locales="fr en", claims_locales="fr")
    assert query(_get(client, params).location)["code"]


def test_pairwise_subjects_differ_per_sector_and_match_userinfo(app, client):
    user = make_user(app)
    one = make_client(app, skip_consent=True, subject_type="pairwise")
    two = make_client(
        app, skip_consent=True, subject_type="pairwise", redirect_uri="https://two.example.com/cb"
    )
    public = make_client(app, skip_consent=True, redirect_uri="https://three.example.com/cb")
    subs = []
    for rp in (one, two, public):
        body, claims = _tokens(client, rp, authorize(client, rp, user))
        info = client.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
        assert info.get_json()["sub"] == claims["sub"]
        subs.append(claims["sub"])
    assert subs[2] == user.id
    assert len(set(subs)) == 3 and user.id not in subs[:2]
    _, again = _tokens(client, one, authorize(client, one, user))
    assert again["sub"] == subs[0]  # stable for the same sector


def test_signing_in_again_keeps_other_relying_parties_tokens(app, client, frozen_clock):
    user = make_user(app)
    first = make_client(app, skip_consent=True, grant_types=["authorization_code", "refresh_token"])
    second = make_client(app, skip_consent=True, redirect_uri="https://two.example.com/cb")
    body, claims = _tokens(client, first, authorize(client, first, user))
    frozen_clock.advance(seconds=60)
    _, again = _tokens(client, second, authorize(client, second, user, prompt="login"))
    assert again["sid"] == claims["sid"] and again["auth_time"] > claims["auth_time"]
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200
    from tests.flow import refresh

    assert refresh(client, first, body["refresh_token"]).status_code == 200


def test_another_user_signing_in_ends_the_previous_session(app, client):
    alice = make_user(app)
    bob = make_user(app, email="bob@example.com")
    rp = make_client(app, skip_consent=True)
    body, _ = _tokens(client, rp, authorize(client, rp, alice))
    params, _ = authorization_params(rp, prompt="login")
    from tests.flow import sign_in

    login = _get(client, params).location
    sign_in(client, login, bob.email, bob.password)
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 401
