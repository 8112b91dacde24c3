"""Authlib grant subclasses: only the hooks authlib asks us to fill, each one service call."""

from __future__ import annotations

from typing import Any

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode
from authlib.oidc.core import UserInfo
from flask import request as flask_request

from idp import runtime
from idp.extensions import db
from idp.models import AuthorizationCode
from idp.models import Client
from idp.models import User
from idp.oauth import claims
from idp.oauth import tokens
from idp.services import audit
from idp.services import grants as grant_service


def request_actor(client: Client | None = None) -> audit.Actor:
    return audit.Actor(
        "client" if client is not None else "anonymous",
        client.client_id if client is not None else None,
        ip=flask_request.remote_addr,
        user_agent=flask_request.user_agent.string,
    )


class RequestNotSupportedError(OAuth2Error):
    error = "request_not_supported"


class RequestUriNotSupportedError(OAuth2Error):
    error = "request_uri_not_supported"


class RejectRequestObjects:
    """OIDC Core §6: we do not support request objects yet, and say so to the client."""

    def __call__(self, grant: grants.AuthorizationCodeGrant) -> None:
        grant.register_hook("after_validate_authorization_request_payload", self.check)

    def check(self, grant: grants.AuthorizationCodeGrant, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if "request" in data:
            raise RequestNotSupportedError("Request objects are not supported")
        if "request_uri" in data:
            raise RequestUriNotSupportedError("request_uri is not supported")


class S256CodeChallenge(CodeChallenge):
    """RFC 7636 with RFC 9700 §2.1.1: S256 only (`plain` refused); a challenge is required
    from public clients and from every client registered with require_pkce."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        client: Client = grant.request.client
        data = grant.request.payload.data
        if not data.get("code_challenge") and (client.is_public or client.require_pkce):
            raise InvalidRequestError("code_challenge required (PKCE S256)")
        super().validate_code_challenge(grant, redirect_uri)


# Every grant accepts every method; each client is held to its registered one.
TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_ENDPOINT_AUTH_METHODS

    def save_authorization_code(self, code: str, request: Any) -> None:
        data = request.payload.data
        grant_service.create_code(
            code,
            client=request.client,
            user=request.user,
            session=request.browser_session,
            request=grant_service.CodeRequest(
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope,
                nonce=data.get("nonce"),
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
            ),
            lifetime=tokens.lifetimes(request.client).code,
        )

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        return grant_service.redeem_code(code, client, actor=request_actor(client))

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Nothing to do: redeem_code already marked it used, and it is kept to detect replay."""

    def authenticate_user(self, authorization_code: AuthorizationCode) -> User | None:
        return db.session.get(User, authorization_code.user_id)

    def generate_token(
        self, user=None, scope=None, grant_type=None, expires_in=None, include_refresh_token=True
    ):  # noqa: ANN001 - authlib's signature
        return tokens.issue(
            client=self.request.client,
            user=user,
            scope=scope or "",
            grant=self.request.authorization_code.grant,
            include_refresh_token=include_refresh_token,
        )


class OpenIDConnect(OpenIDCode):
    """ID tokens (OIDC Core §3.1.3.6) signed with the client's algorithm and our current key."""

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        """Nonce replay is the relying party's check (OIDC Core §3.1.3.7 step 11); refusing a
        repeated nonce here would break a user who reloads the authorization URL."""
        return False

    def resolve_client_private_key(self, client: Client) -> Any:
        return runtime.keyring().signing_key(self.get_client_algorithm(client))[1]

    def get_encode_header(self, client: Client) -> dict[str, str]:
        alg = self.get_client_algorithm(client)
        kid, _ = runtime.keyring().signing_key(alg)
        return {"alg": alg, "kid": kid, "typ": "JWT"}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        return tokens.id_token_claims(client)

    def get_authorization_code_claims(self, authorization_code: AuthorizationCode) -> dict:
        claims_ = super().get_authorization_code_claims(authorization_code)
        if authorization_code.grant.session_id:
            claims_["sid"] = authorization_code.grant.session_id
        return claims_

    def generate_user_info(self, user: User, scope: str) -> UserInfo:
        return claims.userinfo(user, scope)
