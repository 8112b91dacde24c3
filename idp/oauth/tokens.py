"""THE token policy (STYLE rule 7): lifetimes, access-token format, refresh tokens, signing.

Access tokens are RFC 9068 JWTs carrying `jti`, `sid` and the grant id, so userinfo and
introspection see a revoked grant at once. A token response costs one signature for the access
token (plus one for the ID token in the code flow) and no extra database reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from joserfc import jwt

from idp import clock
from idp import runtime
from idp import security
from idp.models import Client
from idp.models import Grant
from idp.models import User

ACCESS_TOKEN_TYP = "at+jwt"
SIGNING_ALG = "RS256"


@dataclass(frozen=True)
class Lifetimes:
    code: timedelta
    access_token: timedelta
    id_token: timedelta
    refresh_token: timedelta


def lifetimes(client: Client) -> Lifetimes:
    """The client's own lifetimes where set, the deployment's defaults otherwise."""
    s = runtime.settings()
    return Lifetimes(
        code=timedelta(seconds=client.code_lifetime or s.code_lifetime),
        access_token=timedelta(seconds=client.access_token_lifetime or s.access_token_lifetime),
        id_token=timedelta(seconds=client.id_token_lifetime or s.id_token_lifetime),
        refresh_token=timedelta(seconds=client.refresh_token_lifetime or s.refresh_token_lifetime),
    )


def sign(claims: dict[str, Any], *, alg: str = SIGNING_ALG, typ: str = "JWT") -> str:
    """Sign with the process's current key for `alg`; the only caller of a private key."""
    kid, key = runtime.keyring().signing_key(alg)
    return jwt.encode({"alg": alg, "kid": kid, "typ": typ}, claims, key, algorithms=[alg])


def access_token_audience() -> str:
    """Default resource of our access tokens: this IdP's own APIs (userinfo, account)."""
    return runtime.settings().issuer


def issue(
    *,
    client: Client,
    user: User | None,
    scope: str,
    grant: Grant | None,
    include_refresh_token: bool,
) -> dict[str, Any]:
    """Build a token response (RFC 6749 §5.1) with an RFC 9068 access token."""
    life = lifetimes(client)
    now = clock.epoch()
    expires_in = int(life.access_token.total_seconds())
    claims: dict[str, Any] = {
        "iss": runtime.settings().issuer,
        "sub": user.id if user is not None else client.client_id,
        "aud": access_token_audience(),
        "client_id": client.client_id,
        "iat": now,
        "exp": now + expires_in,
        "jti": security.random_token(16),
        "scope": scope,
    }
    if grant is not None:
        claims["auth_time"] = int(grant.auth_time.timestamp())
        claims["grant_id"] = grant.id
        if grant.session_id:
            claims["sid"] = grant.session_id
        if grant.acr:
            claims["acr"] = grant.acr
        if grant.amr:
            claims["amr"] = list(grant.amr)
    response: dict[str, Any] = {
        "access_token": sign(claims, typ=ACCESS_TOKEN_TYP),
        "token_type": "Bearer",
        "expires_in": expires_in,
        "scope": scope,
    }
    if include_refresh_token:
        response["refresh_token"] = security.random_token(32)
    return response


def id_token_claims(client: Client) -> dict[str, Any]:
    """iss, aud, iat, exp for an ID token (OIDC Core §2), read from idp.clock."""
    now = clock.epoch()
    return {
        "iss": runtime.settings().issuer,
        "aud": [client.client_id],
        "iat": now,
        "exp": now + int(lifetimes(client).id_token.total_seconds()),
    }
