"""Helpers for the self-service surfaces: a signed-in browser, a CSRF header for cookie-
authenticated /account/v1 writes, and an access token carrying the `account` scope."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.factories import MadeClient
from tests.factories import MadeUser
from tests.factories import make_client
from tests.flow import authorize
from tests.flow import csrf_token
from tests.flow import exchange
from tests.flow import sign_in


def signed_in(http: FlaskClient, user: MadeUser) -> FlaskClient:
    """Sign `user` in through the hosted page (password only: no second factor enrolled)."""
    response = sign_in(http, "/login", user.email, user.password)
    assert response.status_code == 303, response.text
    return http


def csrf_header(http: FlaskClient) -> dict[str, str]:
    """The X-CSRFToken a hosted page would send with a cookie-authenticated API write."""
    return {"X-CSRFToken": csrf_token(http.get("/login").text)}


def account_token(
    app: Flask,
    http: FlaskClient,
    user: MadeUser,
    scope: str = "account",
    client: MadeClient | None = None,
) -> str:
    """An access token for `user` with `openid {scope}`, through the real code flow (for a
    new first-party client unless `client` is given)."""
    if client is None:
        client = make_client(
            app, skip_consent=True, scopes=["openid", "profile", "email", "account"]
        )
    result = authorize(http, client, user, scope=f"openid {scope}")
    assert result.redirect.get("code"), result.response and result.response.text
    tokens = exchange(http, client, result.code, result.verifier)
    assert tokens.status_code == 200, tokens.text
    http.delete_cookie("idp_sso")  # the token, not the browser session, authenticates
    return str(tokens.json["access_token"])
