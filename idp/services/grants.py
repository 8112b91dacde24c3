"""Grants (token families), authorization codes and refresh tokens.

A grant is created with its authorization code; every token issued from that code carries the
grant id. Revoking the grant kills the whole family at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value

from idp import clock
from idp import security
from idp.extensions import db
from idp.models import AuthorizationCode
from idp.models import BrowserSession
from idp.models import Client
from idp.models import Grant
from idp.models import RefreshToken
from idp.models import User
from idp.models._types import new_id
from idp.services import audit


@dataclass(frozen=True)
class CodeRequest:
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    claims_request: dict[str, Any] | None = None


def create_code(
    code: str,
    *,
    client: Client,
    user: User,
    session: BrowserSession,
    request: CodeRequest,
    lifetime: timedelta,
) -> AuthorizationCode:
    """Store a new code (as its HMAC) and the grant it opens."""
    now = clock.now()
    grant = Grant(
        tenant_id=client.tenant_id,
        user_id=user.id,
        client_id=client.id,
        session_id=session.id,
        scope=request.scope,
        auth_time=session.auth_time,
        amr=list(session.amr),
        acr=session.acr,
        claims_request=request.claims_request,
        created_at=now,
    )
    db.session.add(grant)
    db.session.flush()
    record = AuthorizationCode(
        code_hash=security.hash_secret(code),
        grant_id=grant.id,
        client_id=client.id,
        user_id=user.id,
        redirect_uri=request.redirect_uri,
        scope=request.scope,
        nonce=request.nonce,
        code_challenge=request.code_challenge,
        code_challenge_method=(request.code_challenge_method or "S256")
        if request.code_challenge
        else None,
        created_at=now,
        expires_at=now + lifetime,
    )
    record.grant = grant
    db.session.add(record)
    db.session.flush()
    return record


def redeem_code(code: str, client: Client, *, actor: audit.Actor) -> AuthorizationCode | None:
    """RFC 6749 §4.1.2: a code is single use. The first redemption claims it atomically (two
    concurrent requests cannot both win); a second one revokes every token issued from it."""
    if not code or len(code) > 256:
        return None
    record: AuthorizationCode | None = db.session.scalar(
        select(AuthorizationCode).where(AuthorizationCode.code_hash == security.hash_secret(code))
    )
    if record is None or record.client_id != client.id:
        return None
    now = clock.now()
    claimed = db.session.execute(  # type: ignore[attr-defined]
        update(AuthorizationCode)
        .where(AuthorizationCode.id == record.id, AuthorizationCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        revoke_grant(record.grant, reason="code_replay", actor=actor)
        return None
    set_committed_value(record, "used_at", now)  # already written by the UPDATE above
    if record.expires_at <= now:
        return None
    grant = record.grant
    user = db.session.get(User, record.user_id)
    if grant.revoked_at is not None or user is None or not user.can_sign_in:
        return None
    return record


def revoke_grant(grant: Grant, *, reason: str, actor: audit.Actor) -> None:
    if grant.revoked_at is not None:
        return
    now = clock.now()
    grant.revoked_at = now
    grant.revoked_reason = reason
    db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.grant_id == grant.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    audit.record(
        "grant.revoked",
        status="success",
        actor=actor,
        tenant_id=grant.tenant_id,
        user_id=grant.user_id,
        target_type="grant",
        target_id=grant.id,
        reason=reason,
    )


def store_refresh_token(
    token: str, *, grant_id: str, client: Client, user_id: str, scope: str, expires_at: datetime
) -> RefreshToken:
    now = clock.now()
    record = RefreshToken(
        token_hash=security.hash_secret(token),
        grant_id=grant_id,
        client_id=client.id,
        user_id=user_id,
        scope=scope,
        created_at=now,
        expires_at=expires_at,
    )
    db.session.add(record)
    return record


def active_grant(grant_id: str) -> Grant | None:
    grant = db.session.get(Grant, grant_id)
    return grant if grant is not None and grant.revoked_at is None else None


def find_refresh_token(value: str) -> RefreshToken | None:
    """The stored record of a refresh token, whatever its state (rotated, revoked, expired)."""
    if not value or len(value) > 256:
        return None
    record: RefreshToken | None = db.session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == security.hash_secret(value))
    )
    return record


def refresh_token_usable(record: RefreshToken) -> bool:
    """Not expired, not revoked, not rotated, and its grant and user still stand."""
    now = clock.now()
    if record.revoked_at is not None or record.rotated_at is not None or record.expires_at <= now:
        return False
    if record.grant.revoked_at is not None:
        return False
    user = db.session.get(User, record.user_id)
    return user is not None and user.can_sign_in


def rotate_refresh_token(
    record: RefreshToken, successor_value: str, *, scope: str, expires_at: datetime
) -> RefreshToken | None:
    """Replace `record` with a new token, atomically: of two concurrent rotations only one
    wins; the loser gets None. The successor's value is kept encrypted on the old row for the
    reuse grace window."""
    now = clock.now()
    successor_id = new_id()
    claimed = db.session.execute(  # type: ignore[attr-defined]
        update(RefreshToken)
        .where(RefreshToken.id == record.id, RefreshToken.rotated_at.is_(None))
        .values(
            rotated_at=now,
            successor_id=successor_id,
            successor_encrypted=security.encrypt(successor_value.encode(), record.id.encode()),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        db.session.refresh(record)  # see the concurrent rotation, and its successor
        return None
    successor = RefreshToken(
        id=successor_id,
        token_hash=security.hash_secret(successor_value),
        grant_id=record.grant_id,
        client_id=record.client_id,
        user_id=record.user_id,
        scope=scope,
        created_at=now,
        expires_at=expires_at,
    )
    db.session.add(successor)
    db.session.flush()
    db.session.refresh(record)
    return successor


def successor_within_grace(record: RefreshToken, grace: timedelta) -> str | None:
    """The value of the token that replaced `record`, if it was rotated less than `grace`
    ago and its successor is still unused: a lost response or a second tab, not an attack."""
    if record.rotated_at is None or record.successor_encrypted is None or not record.successor_id:
        return None
    if clock.now() - record.rotated_at > grace:
        return None
    successor = db.session.get(RefreshToken, record.successor_id)
    if successor is None or not refresh_token_usable(successor):
        return None
    return security.decrypt(record.successor_encrypted, record.id.encode()).decode()


def revoke_refresh_token(record: RefreshToken, *, actor: audit.Actor) -> None:
    """RFC 7009 §2.1: revoking a refresh token also ends the access tokens of its grant."""
    revoke_grant(record.grant, reason="refresh_token_revoked", actor=actor)


def for_user(user: User, *, include_revoked: bool = False) -> list[tuple[Grant, str]]:
    """The user's grants with the public OAuth client_id of each."""
    query = (
        select(Grant, Client.client_id)
        .join(Client, Client.id == Grant.client_id)
        .where(Grant.tenant_id == user.tenant_id, Grant.user_id == user.id)
    )
    if not include_revoked:
        query = query.where(Grant.revoked_at.is_(None))
    rows = db.session.execute(query.order_by(Grant.created_at.desc(), Grant.id.desc()))
    return [(grant, client_id) for grant, client_id in rows]


def revoke_all(user: User, *, actor: audit.Actor, reason: str = "admin") -> int:
    """Revoke every active grant: their access and refresh tokens die at once."""
    active = [grant for grant, _ in for_user(user)]
    for grant in active:
        revoke_grant(grant, reason=reason, actor=actor)
    db.session.flush()
    return len(active)
