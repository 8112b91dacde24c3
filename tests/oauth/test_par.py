"""Pushed Authorization Requests (RFC 9126)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from idp.services.par import REQUEST_URI_PREFIX
from tests.factories import make_client
from tests.factories import make_user
from tests.flow import authorization_params
from tests.flow import authorize
from tests.flow import client_auth
from tests.flow import exchange
from tests.flow import query


def _push(client, rp, params):
    return client.post("/par", data=params, headers=client_auth(rp))


def test_pushed_request_is_used_by_reference_and_yields_a_code(app, client):
    user = make_user(app)
    rp = make_client(app, skip_consent=True)
    authorize(client, rp, user)  # signs in
    params, verifier = authorization_params(rp)
    pushed = _push(client, rp, params)
    assert pushed.status_code == 201, pushed.text
    body = pushed.get_json()
    assert body["request_uri"].startswith(REQUEST_URI_PREFIX) and body["expires_in"] == 60
    response = client.get(
        "/authorize?" + urlencode({"client_id": rp.client_id, "request_uri": body["request_uri"]})
    )
    result = query(response.location)
    assert result["state"] == params["state"] and result["code"]
    assert exchange(client, rp, result["code"], verifier).status_code == 200


def test_request_uri_is_single_use(app, client):
    user = make_user(app)
    rp = make_client(app, skip_consent=True)
    authorize(client, rp, user)
    params, _ = authorization_params(rp)
    request_uri = _push(client, rp, params).get_json()["request_uri"]
    url = "/authorize?" + urlencode({"client_id": rp.client_id, "request_uri": request_uri})
    assert client.get(url).status_code == 302
    again = client.get(url)
    assert again.status_code == 400 and "Location" not in again.headers


def test_request_uri_expires(app, client, frozen_clock):
    rp = make_client(app)
    params, _ = authorization_params(rp)
    request_uri = _push(client, rp, params).get_json()["request_uri"]
    frozen_clock.advance(seconds=61)
    url = "/authorize?" + urlencode({"client_id": rp.client_id, "request_uri": request_uri})
    assert client.get(url).status_code == 400


def test_request_uri_of_another_client_is_refused(app, client):
    rp = make_client(app)
    other = make_client(app, redirect_uri="https://other.example.com/cb")
    params, _ = authorization_params(rp)
    request_uri = _push(client, rp, params).get_json()["request_uri"]
    url = "/authorize?" + urlencode({"client_id": other.client_id, "request_uri": request_uri})
    assert client.get(url).status_code == 400


def test_pushed_parameters_win_over_query_parameters(app, client):
    user = make_user(app)
    rp = make_client(app, skip_consent=True)
    authorize(client, rp, user)
    params, _ = authorization_params(rp, state="pushed")
    request_uri = _push(client, rp, params).get_json()["request_uri"]
    response = client.get(
        "/authorize?"
        + urlencode({"client_id": rp.client_id, "request_uri": request_uri, "state": "evil"})
    )
    assert query(response.location)["state"] == "pushed"


@pytest.mark.parametrize(
    "overrides, error",
    [
        ({"redirect_uri": "https://evil.example.com/cb"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"request_uri": "urn:x"}, "invalid_request"),
        ({"client_id": "someone-else"}, "invalid_request"),
    ],
)
def test_invalid_pushed_requests_are_answered_directly(app, client, overrides, error):
    rp = make_client(app)
    params, _ = authorization_params(rp, **overrides)
    response = _push(client, rp, params)
    assert response.status_code == 400, response.text
    assert response.get_json()["error"] == error
    assert "Location" not in response.headers


def test_push_requires_client_authentication(app, client):
    rp = make_client(app)
    params, _ = authorization_params(rp)
    response = client.post("/par", data={**params, "client_secret": "wrong"})
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"


def test_client_that_requires_par_cannot_use_a_plain_request(app, client):
    rp = make_client(app, require_pushed_authorization_requests=True)
    params, _ = authorization_params(rp)
    response = client.get("/authorize?" + urlencode(params))
    result = query(response.location)
    assert result["error"] == "invalid_request"
    assert client.post("/par", data=params, headers=client_auth(rp)).status_code == 201


def test_public_client_may_push(app, client):
    rp = make_client(app, public=True)
    params, _ = authorization_params(rp)
    assert client.post("/par", data=params).status_code == 201


@pytest.mark.parametrize(
    "overrides",
    [{"max_age": "-5"}, {"claims": "[1]"}, {"nonce": "n" * 600}, {"id_token_hint": "x.y.z"}],
)
def test_pushed_request_options_are_validated_before_storing(app, client, overrides):
    rp = make_client(app)
    params, _ = authorization_params(rp, **overrides)
    response = _push(client, rp, params)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"
