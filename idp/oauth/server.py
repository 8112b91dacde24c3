"""Authlib's authorization server, wired to our services and token policy."""

from __future__ import annotations

from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Request
from flask import Flask

from idp.oauth import grants
from idp.oauth import tokens
from idp.services import clients
from idp.services import grants as grant_service


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

    authorization.init_app(app, query_client=clients.get_by_client_id, save_token=_save_token)
    client_auth.install(authorization)
    # Once per process: several apps (tests) share this server.
    for endpoint in (TokenRevocation, TokenIntrospection):
        if endpoint.ENDPOINT_NAME not in authorization._endpoints:
            authorization.register_endpoint(endpoint)
