"""The one place that verifies our access tokens (DESIGN §3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from joserfc import jws
from joserfc import jwt
from joserfc.errors import JoseError

from idp import clock
from idp import runtime
from idp.models import Grant
from idp.models import User
from idp.oauth.tokens import ACCESS_TOKEN_TYP
from idp.services import access_tokens
from idp.services import clients
from idp.services import grants

ALGORITHMS = ["RS256", "ES256"]
MAX_TOKEN_LENGTH = 8192


class InvalidToken(Exception):
    """The bearer token is malformed, forged, expired or revoked."""


@dataclass(frozen=True)
class VerifiedAccessToken:
    claims: dict[str, Any]
    user: User | None
    grant: Grant | None = None

    @property
    def scopes(self) -> set[str]:
        return set(str(self.claims.get("scope", "")).split())


def decode_access_token(token: str) -> dict[str, Any]:
    """An access token we signed: signature, typ and iss; `exp` and revocation unchecked.
    Revocation (RFC 7009) needs no more to find a token's jti; everything else calls
    verify_access_token."""
    if not token or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise InvalidToken("malformed")
    try:
        kid = jws.extract_compact(token.encode()).headers().get("kid")
    except (JoseError, ValueError, UnicodeError):
        raise InvalidToken("malformed") from None
    try:
        decoded = jwt.decode(token, runtime.keyring().verification_keys(kid), algorithms=ALGORITHMS)
    except (JoseError, ValueError, KeyError, TypeError):
        raise InvalidToken("not validly signed") from None
    header, claims = decoded.header, decoded.claims
    if str(header.get("typ", "")).lower() not in (ACCESS_TOKEN_TYP, "application/at+jwt"):
        raise InvalidToken("not an access token")
    if claims.get("iss") != runtime.settings().issuer:
        raise InvalidToken("from another issuer")
    return claims


def verify_access_token(token: str) -> VerifiedAccessToken:
    """RFC 9068 §4: signature, typ, iss, exp; not revoked (RFC 7009, by jti); then the grant
    and the user still stand."""
    claims = decode_access_token(token)
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp <= clock.epoch():
        raise InvalidToken("expired")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise InvalidToken("malformed")
    if access_tokens.is_revoked(jti):
        raise InvalidToken("revoked")
    grant_id = claims.get("grant_id")
    user = grant = None
    if grant_id is not None:
        grant = grants.active_grant(str(grant_id))
        if grant is None:
            raise InvalidToken("revoked")
        user = grant.user
        if user is None or not user.can_sign_in:
            raise InvalidToken("for an inactive user")
        client = grant.client
    else:
        client = clients.get_by_client_id(str(claims.get("client_id", "")))
    if client is None or not client.is_active:
        raise InvalidToken("for a disabled client")
    return VerifiedAccessToken(claims, user, grant)


def verify_id_token_hint(token: str) -> dict[str, Any]:
    """An ID token we issued, used as a hint (OIDC Core §3.1.2.1, RP-Initiated Logout §2).

    The signature and issuer must check out; an expired hint is still accepted, as both specs
    allow, because it only identifies a user and a client and grants nothing.
    """
    if not token or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise InvalidToken("malformed")
    try:
        kid = jws.extract_compact(token.encode()).headers().get("kid")
        decoded = jwt.decode(token, runtime.keyring().verification_keys(kid), algorithms=ALGORITHMS)
    except (JoseError, ValueError, KeyError, TypeError, UnicodeError):
        raise InvalidToken("not validly signed") from None
    if str(decoded.header.get("typ", "JWT")).upper() != "JWT" or "events" in decoded.claims:
        raise InvalidToken("not an ID token")  # access, logout and other tokens we sign
    claims = decoded.claims
    if claims.get("iss") != runtime.settings().issuer or not claims.get("sub"):
        raise InvalidToken("from another issuer")
    aud = claims.get("aud")
    claims["aud"] = [aud] if isinstance(aud, str) else list(aud or [])
    return claims
