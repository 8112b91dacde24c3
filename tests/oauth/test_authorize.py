"""/authorize: RFC 6749 §4.1.1-4.1.2.1, OIDC Core §3.1.2, RFC 7636, RFC 9207, RFC 9700."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.factories import make_client
from tests.factories import make_tenant
from tests.factories import make_user
from tests.flow import authorization_params
from tests.flow import authorize
from tests.flow import query
from tests.flow import sign_in


def _get(client, params):
    return client.get("/authorize?" + urlencode(params))


@pytest.mark.parametrize(
    "overrides, error",
    [
        ({"client_id": "no-such-client"}, "invalid_client"),
        ({"client_id": None}, "invalid_client"),
        ({"redirect_uri": "https://evil.example.com/callback"}, "invalid_request"),
        ({"redirect_uri": "https://rp.example.com/callback/"}, "invalid_request"),
        ({"redirect_uri": "https://rp.example.com/callback?x=1"}, "invalid_request"),
        ({"redirect_uri": "HTTPS://rp.example.com/callback"}, "invalid_request"),
        ({"redirect_uri": None}, "invalid_request"),
    ],
)
def test_unknown_client_or_unregistered_redirect_shows_error_page_and_never_redirects(
    app, client, overrides, error
):
    rp = make_client(app)
    params, _ = authorization_params(rp, **overrides)
    response = _get(client, params)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.mimetype == "text/html"
    assert error in response.text


def test_missing_redirect_uri_is_refused_even_with_a_single_registered_uri(app, client):
    rp = make_client(app)
    params, _ = authorization_params(rp, redirect_uri=None)
    response = _get(client, params)
    assert response.status_code == 400 and "Location" not in response.headers


@pytest.mark.parametrize(
    "overrides, error",
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "id_token"}, "unsupported_response_type"),
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"response_type": None}, "unsupported_response_type"),
        ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
        ({"request_uri": "https://rp.example.com/req.jwt"}, "request_uri_not_supported"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"max_age": "-1"}, "invalid_request"),
    ],
)
def test_redirectable_errors_go_back_to_the_client_with_state_and_iss(
    app, client, overrides, error
):
    rp = make_client(app)
    params, _ = authorization_params(rp, **overrides)
    response = _get(client, params)
    assert response.status_code == 302
    assert response.location.startswith(rp.redirect_uri + "?")
    result = query(response.location)
    assert result["error"] == error
    assert result["state"] == params["state"]
    assert result["iss"] == "http://localhost"
    assert "code" not in result


def test_public_client_must_use_pkce(app, client):
    rp = make_client(app, public=True)
    params, _ = authorization_params(rp, code_challenge=None, code_challenge_method=None)
    result = query(_get(client, params).location)
    assert result["error"] == "invalid_request"


def test_confidential_client_may_opt_out_of_pkce(app, client):
    user = make_user(app)
    rp = make_client(app, require_pkce=False)
    auth = authorize(client, rp, user, code_challenge=None, code_challenge_method=None)
    assert "code" in auth.redirect


def test_unauthenticated_request_goes_to_the_login_page_and_resumes(app, client):
    user = make_user(app)
    rp = make_client(app, skip_consent=True)
    params, _ = authorization_params(
        rp,
        login_hint="alice@example.com",
        ui_locales="en",
        display="page",
        claims_locales="en",
        unknown_param="x",
    )
    response = _get(client, params)
    assert response.status_code == 303
    assert response.location.startswith("/login?interaction_id=")
    page = client.get(response.location)
    assert 'value="alice@example.com"' in page.text  # login_hint pre-fills the form
    assert "Test RP" in page.text
    resumed = sign_in(client, response.location, user.email, user.password)
    assert resumed.status_code == 303 and "/authorize/resume/" in resumed.location
    final = client.get(resumed.location)
    result = query(final.location)
    assert final.location.startswith(rp.redirect_uri)
    assert result["state"] == params["state"] and result["code"]


def test_authorize_accepts_post(app, client):
    user = make_user(app)
    rp = make_client(app, skip_consent=True)
    authorize(client, rp, user)  # signs in and gives the SSO cookie
    params, _ = authorization_params(rp)
    response = client.post("/authorize", data=params)
    assert response.status_code == 302
    assert query(response.location)["code"]


def test_signed_in_user_with_consent_gets_a_code_without_any_page(app, client):
    user = make_user(app)
    rp = make_client(app)
    first = authorize(client, rp, user)
    assert first.redirect["code"]
    params, _ = authorization_params(rp)
    response = _get(client, params)
    assert response.status_code == 302 and query(response.location)["code"]


def test_consent_is_asked_again_for_new_scopes(app, client):
    user = make_user(app)
    rp = make_client(app)
    authorize(client, rp, user, scope="openid")
    params, _ = authorization_params(rp, scope="openid email")
    response = _get(client, params)
    assert response.status_code == 303 and response.location.startswith("/consent")


def test_deny_on_the_consent_page_answers_access_denied(app, client):
    user = make_user(app)
    rp = make_client(app)
    auth = authorize(client, rp, user, consent="deny")
    assert auth.redirect["error"] == "access_denied"
    assert auth.redirect["state"] == auth.params["state"]
    assert auth.redirect["iss"] == "http://localhost"
    assert "code" not in auth.redirect


def test_skip_consent_client_never_shows_the_consent_page(app, client):
    user = make_user(app)
    rp = make_client(app, skip_consent=True)
    params, _ = authorization_params(rp)
    login = _get(client, params).location
    resumed = sign_in(client, login, user.email, user.password)
    final = client.get(resumed.location)
    assert final.status_code == 302 and query(final.location)["code"]


def test_prompt_none_without_session_answers_login_required(app, client):
    rp = make_client(app)
    params, _ = authorization_params(rp, prompt="none")
    result = query(_get(client, params).location)
    assert result["error"] == "login_required" and result["iss"] == "http://localhost"


def test_prompt_none_without_consent_answers_consent_required(app, client):
    user = make_user(app)
    other = make_client(app, skip_consent=True, name="First party")
    authorize(client, other, user)
    rp = make_client(app, redirect_uri="https://rp2.example.com/cb")
    params, _ = authorization_params(rp, prompt="none")
    assert query(_get(client, params).location)["error"] == "consent_required"


def test_prompt_login_forces_sign_in_once(app, client):
    user = make_user(app)
    rp = make_client(app, skip_consent=True)
    authorize(client, rp, user)
    auth = authorize(client, rp, user, prompt="login")
    assert auth.redirect["code"]  # signed in again, then resumed without a loop


def test_user_of_another_tenant_is_not_signed_in_to_this_client(app, client):
    make_tenant(app, "acme")
    make_user(app, email="bob@acme.example", tenant_slug="acme")
    user = make_user(app)
    rp = make_client(app, tenant_slug="acme")
    params, _ = authorization_params(rp)
    login = _get(client, params).location
    response = sign_in(client, login, user.email, user.password)
    assert response.status_code == 200
    assert "Incorrect e-mail address or password." in response.text


def test_unknown_scopes_are_dropped(app, client):
    user = make_user(app)
    rp = make_client(app, skip_consent=True)
    auth = authorize(client, rp, user, scope="openid email admin:everything")
    from tests.flow import exchange

    body = exchange(client, rp, auth.code, auth.verifier).get_json()
    assert body["scope"] == "openid email"


def test_expired_interaction_shows_an_error_page(app, client):
    response = client.get("/authorize/resume/not-a-real-interaction")
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_authorization_responses_are_not_cacheable(app, client):
    user = make_user(app)
    rp = make_client(app, skip_consent=True)
    authorize(client, rp, user)
    params, _ = authorization_params(rp)
    response = _get(client, params)
    assert response.headers["Cache-Control"] == "no-store"


def test_many_parallel_sign_ins_keep_the_flow_cookie_small_and_the_newest_request(app, client):
    user = make_user(app)
    rp = make_client(app, skip_consent=True)
    locations = []
    for _ in range(12):
        params, _ = authorization_params(rp, state="s" * 400)
        locations.append(_get(client, params).location)
    cookie = client.get_cookie("idp_flow")
    assert cookie is not None and len(cookie.value) < 4000
    resumed = sign_in(client, locations[-1], user.email, user.password)
    final = client.get(resumed.location)
    assert query(final.location)["code"]


def test_oversized_authorization_request_is_refused(app, client):
    rp = make_client(app)
    params, _ = authorization_params(rp, state="s" * 3000)
    result = query(_get(client, params).location)
    assert result["error"] == "invalid_request"


def test_overlong_nonce_is_invalid_request_even_with_a_session(app, client):
    user = make_user(app)
    rp = make_client(app, skip_consent=True)
    authorize(client, rp, user)
    params, _ = authorization_params(rp, nonce="n" * 513)
    assert query(_get(client, params).location)["error"] == "invalid_request"


def test_a_consent_decision_counts_only_for_the_user_who_made_it(app, client):
    from tests.flow import decide_consent

    alice = make_user(app)
    bob = make_user(app, email="bob@example.com")
    rp = make_client(app)
    params, _ = authorization_params(rp)
    login = _get(client, params).location
    consent_url = sign_in(client, login, alice.email, alice.password)
    consent_url = client.get(consent_url.location).location
    resume = decide_consent(client, consent_url, "allow").location  # not followed yet
    client.post("/logout", data={})  # (no CSRF: ignored) — Bob signs in on the same browser
    sign_in(client, "/login", bob.email, bob.password)
    response = client.get(resume)
    assert response.status_code == 303 and response.location.startswith("/consent")
