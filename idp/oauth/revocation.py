"""Token revocation (RFC 7009) at POST /revoke.

The client authenticates as at /token (public clients with their client_id). Then:
- a refresh token ends its whole grant, so every access token of the family dies at once
  (RFC 7009 §2.1);
- an access token (a JWT we signed, even expired) has its jti listed until it expires;
- a token of another client, an unknown or a malformed token changes nothing, and the answer
  is still 200 (§2.2), so the endpoint tells nobody what exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from flask import Blueprint
from flask import Response

from idp.extensions import csrf
from idp.models import Client
from idp.models import RefreshToken
from idp.oauth import client_auth
from idp.oauth.grants import request_actor
from idp.oauth.server import client_post_response
from idp.oauth.verification import InvalidToken
from idp.oauth.verification import decode_access_token
from idp.services import access_tokens
from idp.services import audit
from idp.services import grants

bp = Blueprint("revocation", __name__)
csrf.exempt(bp)  # client-authenticated, like /token

MAX_TOKEN_LENGTH = 8192


@dataclass(frozen=True)
class FoundToken:
    """A token we issued: an access token's claims, or a refresh token's record."""

    type: str  # access_token | refresh_token
    claims: dict[str, Any] | None = None
    record: RefreshToken | None = None

    def check_client(self, client: Client) -> bool:
        if self.record is not None:
            return self.record.client_id == client.id
        return self.claims is not None and self.claims.get("client_id") == client.client_id


def find_token(value: str) -> FoundToken | None:
    """Our access tokens are JWTs and our refresh tokens opaque strings without dots, so the
    shape says which kind to look for; token_type_hint is not needed (§2.1 lets us ignore it)."""
    if not value or len(value) > MAX_TOKEN_LENGTH:
        return None
    if value.count(".") == 2:
        try:
            return FoundToken("access_token", claims=decode_access_token(value))
        except InvalidToken:
            return None
    record = grants.find_refresh_token(value)
    return FoundToken("refresh_token", record=record) if record is not None else None


class TokenRevocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = client_auth.AUTH_METHODS

    def check_params(self, request: Any, client: Client) -> None:
        """token is required; any token_type_hint is accepted, an unknown one ignored."""
        if not request.form.get("token"):
            raise InvalidRequestError("token is required")

    def authenticate_token(self, request: Any, client: Client) -> FoundToken | None:
        self.check_params(request, client)
        token = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        if token is not None and not token.check_client(client):
            # RFC 7009 §2.1 refuses it; §2.2 still answers 200, so nothing leaks.
            audit.record(
                "token.revocation_refused",
                status="failure",
                actor=request_actor(client),
                tenant_id=client.tenant_id,
                client_id=client.client_id,
                target_type=token.type,
                reason="issued_to_another_client",
            )
            return None
        return token

    def query_token(self, token_string: str, token_type_hint: str | None) -> FoundToken | None:
        return find_token(token_string)

    def revoke_token(self, token: FoundToken, request: Any) -> None:
        actor = request_actor(request.client)
        if token.record is not None:
            grants.revoke_refresh_token(token.record, actor=actor)
        elif token.claims is not None:
            access_tokens.revoke(
                jti=str(token.claims.get("jti") or ""),
                exp=int(token.claims.get("exp") or 0),
                client=request.client,
                grant_id=token.claims.get("grant_id"),
                actor=actor,
            )


@bp.post("/revoke")
def revoke() -> Response:
    return client_post_response(TokenRevocation.ENDPOINT_NAME)
