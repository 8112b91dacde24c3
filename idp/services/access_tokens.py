"""Revoked access tokens (RFC 7009 §2): a JWT cannot be recalled, so its `jti` is listed
until the token would have expired anyway. Verification costs one primary-key lookup."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from idp import clock
from idp.extensions import db
from idp.models import Client
from idp.models import Grant
from idp.models import RevokedAccessToken
from idp.services import audit

MAX_JTI_LENGTH = 64


def is_revoked(jti: str) -> bool:
    return db.session.get(RevokedAccessToken, jti) is not None


def revoke(*, jti: str, exp: int, client: Client, grant_id: str | None, actor: audit.Actor) -> bool:
    """List the token's `jti` until `exp`. False when there was nothing to do (no usable
    jti, already expired, or already revoked)."""
    if not jti or len(jti) > MAX_JTI_LENGTH:
        return False
    expires_at = datetime.fromtimestamp(exp, UTC)
    if expires_at <= clock.now() or is_revoked(jti):
        return False
    try:
        with db.session.begin_nested():  # two concurrent revocations: one insert wins
            db.session.add(RevokedAccessToken(jti=jti, expires_at=expires_at))
    except IntegrityError:
        return False
    grant = db.session.get(Grant, grant_id) if grant_id else None
    audit.record(
        "access_token.revoked",
        actor=actor,
        tenant_id=client.tenant_id,
        user_id=grant.user_id if grant is not None else None,
        client_id=client.client_id,
        target_type="access_token",
        target_id=jti,
        grant_id=grant_id,
    )
    return True


def purge_expired() -> int:
    """Drop entries for tokens that have expired: verification refuses those on `exp`."""
    result = db.session.execute(
        delete(RevokedAccessToken)
        .where(RevokedAccessToken.expires_at <= clock.now())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
