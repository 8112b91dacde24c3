"""Authlib grant subclasses: only the hooks authlib asks us to fill, each one service call."""

from __future__ import annotations

from typing import Any

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidGrantError
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc6749 import UnauthorizedClientError
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode

from idp import web
from idp.extensions import db
from idp.models import AuthorizationCode
from idp.models import Client
from idp.models import RefreshToken
from idp.models import User
from idp.oauth import claims
from idp.oauth import tokens
from idp.oauth.client_auth import AUTH_METHODS
from idp.services import audit
from idp.services import grants as grant_service


def request_actor(client: Client | None = None) -> audit.Actor:
    """The calling client, as audit events name it."""
    return web.actor("client", client.client_id) if client is not None else web.actor()


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
TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS


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
                claims_request=claims.parse_claims_request(data.get("claims")),
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


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """RFC 6749 §6 with rotation on every use and reuse detection (RFC 9700 §4.14.2); the
    policy lives in oauth.tokens."""

    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_ENDPOINT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken | None:
        client = self.request.client
        return tokens.redeem_refresh_token(refresh_token, client, actor=request_actor(client))

    def authenticate_user(self, refresh_token: RefreshToken) -> User | None:
        user = db.session.get(User, refresh_token.user_id)
        return user if user is not None and user.can_sign_in else None

    def issue_token(self, user: User, refresh_token: RefreshToken) -> dict[str, Any]:
        scope = self.request.payload.scope or refresh_token.get_scope()
        try:
            return tokens.refresh(refresh_token, client=self.request.client, user=user, scope=scope)
        except tokens.RefreshTokenReused:
            raise InvalidGrantError("The refresh token is no longer valid") from None

    def save_token(self, token: dict[str, Any]) -> None:
        """Nothing to do: tokens.refresh stored the successor as it rotated."""

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        """Nothing to do: rotation already retired the old token."""


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """RFC 6749 §4.4 for confidential clients, with RFC 8707 resource indicators as `aud`."""

    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_ENDPOINT_AUTH_METHODS

    def validate_token_request(self) -> None:
        super().validate_token_request()
        client: Client = self.request.client
        if client.is_public:
            raise UnauthorizedClientError("Public clients cannot use client_credentials")
        resources = self.request.payload.datalist.get("resource", [])
        for resource in resources:
            if resource not in client.allowed_resources:
                raise InvalidTargetError("The resource is not allowed for this client")
        self.request.resources = resources

    def generate_token(
        self, user=None, scope=None, grant_type=None, expires_in=None, include_refresh_token=True
    ):  # noqa: ANN001 - authlib's signature
        client: Client = self.request.client
        resources = self.request.resources
        return tokens.issue(
            client=client,
            user=None,
            scope=client.get_allowed_scope(scope) if scope else " ".join(client.scopes),
            grant=None,
            include_refresh_token=False,
            audience=resources[0] if len(resources) == 1 else resources or None,
        )


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2: the requested resource is invalid, unknown or not allowed."""

    error = "invalid_target"


class OpenIDConnect(OpenIDCode):
    """ID tokens (OIDC Core §3.1.3.6): built and signed by oauth.tokens like every token."""

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        """Nonce replay is the relying party's check (OIDC Core §3.1.3.7 step 11); refusing a
        repeated nonce here would break a user who reloads the authorization URL."""
        return False

    def encode_id_token(self, token: dict[str, Any], request: Any) -> str:
        return tokens.id_token(
            client=request.client,
            user=request.user,
            authorization_code=request.authorization_code,
            access_token=token.get("access_token"),
        )
