"""THE token policy (STYLE rule 7): lifetimes, access-token format, refresh tokens, signing.

Access tokens are RFC 9068 JWTs carrying `jti`, `sid` and the grant id, so userinfo and
introspection see a revoked grant at once. A token response costs one signature for the access
token (plus one for the ID token in the code flow) and no extra database reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any

from authlib.oidc.core.util import create_half_hash
from joserfc import jwt

from idp import clock
from idp import runtime
from idp import security
from idp.models import AuthorizationCode
from idp.models import Client
from idp.models import Grant
from idp.models import RefreshToken
from idp.models import User
from idp.oauth import claims
from idp.oauth import subjects
from idp.services import audit
from idp.services import grants

ACCESS_TOKEN_TYP = "at+jwt"
SIGNING_ALG = "RS256"


@dataclass(frozen=True)
class Lifetimes:
    code: timedelta
    access_token: timedelta
    id_token: timedelta
    refresh_token: timedelta  # idle
    refresh_token_absolute: timedelta


def lifetimes(client: Client) -> Lifetimes:
    """The client's own lifetimes where set, the deployment's defaults otherwise."""
    s = runtime.settings()
    return Lifetimes(
        code=timedelta(seconds=client.code_lifetime or s.code_lifetime),
        access_token=timedelta(seconds=client.access_token_lifetime or s.access_token_lifetime),
        id_token=timedelta(seconds=client.id_token_lifetime or s.id_token_lifetime),
        refresh_token=timedelta(seconds=client.refresh_token_lifetime or s.refresh_token_lifetime),
        refresh_token_absolute=timedelta(
            seconds=client.refresh_token_absolute_lifetime or s.refresh_token_absolute_lifetime
        ),
    )


def sign(claims: dict[str, Any], *, alg: str = SIGNING_ALG, typ: str = "JWT") -> str:
    """Sign with the process's current key for `alg`; the only caller of a private key."""
    kid, key = runtime.keyring().signing_key(alg)
    return jwt.encode({"alg": alg, "kid": kid, "typ": typ}, claims, key, algorithms=[alg])


def access_token_audience() -> str:
    """Default resource of our access tokens: this IdP's own APIs (userinfo, account)."""
    return runtime.settings().issuer


def refresh_token_expiry(client: Client, grant: Grant) -> datetime:
    """Idle lifetime from now, never past the absolute lifetime counted from the sign-in."""
    life = lifetimes(client)
    return min(clock.now() + life.refresh_token, grant.created_at + life.refresh_token_absolute)


def issue(
    *,
    client: Client,
    user: User | None,
    scope: str,
    grant: Grant | None,
    include_refresh_token: bool,
    audience: str | list[str] | None = None,
) -> dict[str, Any]:
    """Build a token response (RFC 6749 §5.1) with an RFC 9068 access token."""
    life = lifetimes(client)
    now = clock.epoch()
    expires_in = int(life.access_token.total_seconds())
    claims: dict[str, Any] = {
        "iss": runtime.settings().issuer,
        "sub": subjects.subject_for(user, client) if user is not None else client.client_id,
        "aud": audience or access_token_audience(),
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


def id_token(
    *,
    client: Client,
    user: User,
    authorization_code: AuthorizationCode,
    access_token: str | None,
) -> str:
    """OIDC Core §2 and §3.1.3.6: who signed in, when and how, for this client, signed with
    the client's algorithm."""
    grant = authorization_code.grant
    now = clock.epoch()
    alg = client.id_token_signed_response_alg or SIGNING_ALG
    sub = subjects.subject_for(user, client)
    payload: dict[str, Any] = dict(claims.userinfo(user, authorization_code.scope, sub=sub))
    payload.update(
        iss=runtime.settings().issuer,
        aud=[client.client_id],
        iat=now,
        exp=now + int(lifetimes(client).id_token.total_seconds()),
        auth_time=int(grant.auth_time.timestamp()),
    )
    if authorization_code.nonce:
        payload["nonce"] = authorization_code.nonce
    if grant.session_id:
        payload["sid"] = grant.session_id
    if grant.amr:
        payload["amr"] = list(grant.amr)
    if grant.acr:
        payload["acr"] = grant.acr
    if access_token:
        payload["at_hash"] = create_half_hash(access_token, alg).decode()
    return sign(payload, alg=alg)


class RefreshTokenReused(Exception):
    """A rotated refresh token came back after the grace window: its family is revoked."""


def redeem_refresh_token(value: str, client: Client, *, actor: audit.Actor) -> RefreshToken | None:
    """Find a refresh token this client may use now: a live one, or one rotated within the
    grace window. A rotated one presented later is taken as stolen (RFC 9700 §4.14.2): the
    whole family (grant) is revoked and the event audited."""
    record = grants.find_refresh_token(value)
    if record is None or record.client_id != client.id:
        return None
    if grants.refresh_token_usable(record):
        return record
    if record.rotated_at is None or record.revoked_at is not None:
        return None
    if grants.successor_within_grace(record, _grace()) is not None:
        return record
    if record.grant.revoked_at is None:
        audit.record(
            "refresh_token.reused",
            status="failure",
            actor=actor,
            tenant_id=record.grant.tenant_id,
            user_id=record.user_id,
            client_id=client.client_id,
            target_type="grant",
            target_id=record.grant_id,
        )
        grants.revoke_grant(record.grant, reason="refresh_token_reuse", actor=actor)
    return None


def _grace() -> timedelta:
    return timedelta(seconds=runtime.settings().refresh_token_reuse_grace)


def refresh(record: RefreshToken, *, client: Client, user: User, scope: str) -> dict[str, Any]:
    """RFC 6749 §6 with rotation: a new access token for `scope` (which may be narrower) and
    the successor refresh token, which keeps the original scope. Of two concurrent uses of one
    token only one rotates it; the other gets the same successor (or nothing, if it is gone)."""
    response = issue(
        client=client, user=user, scope=scope, grant=record.grant, include_refresh_token=False
    )
    successor = None
    if record.rotated_at is None:
        candidate = security.random_token(32)
        rotated = grants.rotate_refresh_token(
            record,
            candidate,
            scope=record.scope,
            expires_at=refresh_token_expiry(client, record.grant),
        )
        successor = candidate if rotated is not None else None
    if successor is None:  # rotated earlier, or by a concurrent request just now
        successor = grants.successor_within_grace(record, _grace())
    if successor is None:
        raise RefreshTokenReused()
    response["refresh_token"] = successor
    return response
