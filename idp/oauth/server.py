"""Authlib's authorization server, wired to our services and token policy."""

from __future__ import annotations

from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc6749 import OAuth2Request
from flask import Flask
from flask import Response
from flask import g

from idp.extensions import db
from idp.models import Client
from idp.oauth import grants
from idp.oauth import tokens
from idp.oauth.form_posts import check_form_post
from idp.services import clients
from idp.services import grants as grant_service


def query_client(client_id: str | None) -> Client | None:
    """The active client by OAuth client_id, looked up once per request (authlib, the views and
    client authentication all ask for it)."""
    key = client_id or ""
    cache: dict[str, Client | None] = g.setdefault("clients_by_id", {})
    if key not in cache:
        cache[key] = clients.get_by_client_id(key)
    return cache[key]


def client_post_response(endpoint_name: str) -> Response:
    """Answer a client-authenticated form POST to an authlib endpoint (revocation,
    introspection), then commit what it recorded (a revocation, an assertion's jti)."""
    oauth_request = authorization.create_oauth2_request(None)
    try:
        check_form_post(body_only=("token",))
    except InvalidRequestError as error:
        refused: Response = authorization.handle_error_response(oauth_request, error)
        return refused
    response: Response = authorization.create_endpoint_response(endpoint_name)
    db.session.commit()
    return response


class IdPAuthorizationServer(AuthorizationServer):
    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        """Accept a prepared request: a resumed interaction replays its stored parameters."""
        if isinstance(request, OAuth2Request):
            return request
        return super().create_oauth2_request(request)


def _save_token(token: dict[str, Any], request: OAuth2Request) -> None:
    refresh_token = token.get("refresh_token")
    code = request.authorization_code
    if refresh_token and code is not None:
        grant_service.store_refresh_token(
            refresh_token,
            grant_id=code.grant_id,
            client=request.client,
            user_id=code.user_id,
            scope=token.get("scope", ""),
            expires_at=tokens.refresh_token_expiry(request.client, code.grant),
        )


authorization = IdPAuthorizationServer()
authorization.register_grant(
    grants.AuthorizationCodeGrant,
    [
        grants.RejectRequestObjects(),
        grants.S256CodeChallenge(required=True),
        grants.OpenIDConnect(require_nonce=False),
    ],
)
authorization.register_grant(grants.RefreshTokenGrant)
authorization.register_grant(grants.ClientCredentialsGrant)


def init_oauth(app: Flask) -> None:
    # Imported here: the endpoint modules import `authorization` from this one.
    from idp.oauth import client_auth
    from idp.oauth.introspection import TokenIntrospection
    from idp.oauth.revocation import TokenRevocation

    authorization.init_app(app, query_client=query_client, save_token=_save_token)
    client_auth.install(authorization)
    # Once per process: several apps (tests) share this server.
    for endpoint in (TokenRevocation, TokenIntrospection):
        if endpoint.ENDPOINT_NAME not in authorization._endpoints:
            authorization.register_endpoint(endpoint)
