"""Token introspection (RFC 7662) at POST /introspect.

Any confidential client of the token's tenant may ask (a resource server is registered as a
client); public clients are refused with invalid_client. Everything that is not a live token
of that tenant is `{"active": false}` and nothing more (§2.2): unknown, malformed, expired,
revoked by jti, of a revoked grant (seen at once), of an inactive user or client, of another
tenant, or a refresh token already rotated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from flask import Blueprint
from flask import Response

from idp.extensions import csrf
from idp.extensions import db
from idp.models import Client
from idp.models import User
from idp.oauth import client_auth
from idp.oauth import subjects
from idp.oauth.revocation import MAX_TOKEN_LENGTH
from idp.oauth.server import client_post_response
from idp.oauth.verification import InvalidToken
from idp.oauth.verification import verify_access_token
from idp.services import clients
from idp.services import grants

bp = Blueprint("introspection", __name__)
csrf.exempt(bp)  # client-authenticated, like /token

ACCESS_TOKEN_FIELDS = ("scope", "client_id", "sub", "exp", "iat", "iss", "aud", "jti")


@dataclass(frozen=True)
class ActiveToken:
    """A live token and the tenant it belongs to; anything else is never built."""

    tenant_id: str
    payload: dict[str, Any]

    def is_expired(self) -> bool:
        return False  # checked when found

    def is_revoked(self) -> bool:
        return False  # checked when found


def active_access_token(value: str) -> ActiveToken | None:
    try:
        verified = verify_access_token(value)
    except InvalidToken:
        return None
    client = clients.get_by_client_id(str(verified.claims.get("client_id") or ""))
    if client is None:
        return None
    payload = {k: verified.claims[k] for k in ACCESS_TOKEN_FIELDS if k in verified.claims}
    return ActiveToken(client.tenant_id, {"active": True, **payload, "token_type": "Bearer"})


def active_refresh_token(value: str) -> ActiveToken | None:
    record = grants.find_refresh_token(value)
    if record is None or not grants.refresh_token_usable(record):
        return None
    client = db.session.get(Client, record.client_id)
    user = db.session.get(User, record.user_id)
    if client is None or not client.is_active or user is None:
        return None
    payload = {
        "active": True,
        "scope": record.scope,
        "client_id": client.client_id,
        "sub": subjects.subject_for(user, client),
        "exp": int(record.expires_at.timestamp()),
        "iat": int(record.created_at.timestamp()),
        "token_type": "refresh_token",
    }
    return ActiveToken(client.tenant_id, payload)


class TokenIntrospection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = client_auth.CONFIDENTIAL_AUTH_METHODS

    def check_params(self, request: Any, client: Client) -> None:
        """token is required; any token_type_hint is accepted, an unknown one ignored."""
        if not request.form.get("token"):
            raise InvalidRequestError("token is required")

    def query_token(self, token_string: str, token_type_hint: str | None) -> ActiveToken | None:
        """Our access tokens are JWTs, our refresh tokens opaque strings without dots: the
        shape says where to look, whatever the hint."""
        if len(token_string) > MAX_TOKEN_LENGTH:
            return None
        if token_string.count(".") == 2:
            return active_access_token(token_string)
        return active_refresh_token(token_string)

    def check_permission(self, token: ActiveToken, client: Client, request: Any) -> bool:
        return token.tenant_id == client.tenant_id

    def introspect_token(self, token: ActiveToken) -> dict[str, Any]:
        return dict(token.payload)


@bp.post("/introspect")
def introspect() -> Response:
    return client_post_response(TokenIntrospection.ENDPOINT_NAME)
