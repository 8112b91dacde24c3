"""Browser sessions (SSO): start, look up by cookie token, end."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update

from idp import clock
from idp import errors
from idp import security
from idp.extensions import db
from idp.models import BrowserSession
from idp.models import Grant
from idp.models import User
from idp.services import audit
from idp.services import grants

# Authentication context class (levels as in Keycloak's LoA): 1 = one factor, 2 = two.
ACR_SINGLE_FACTOR = "1"
ACR_MULTI_FACTOR = "2"
SECOND_FACTORS = {"otp", "hwk", "swk", "mfa"}

# last_seen_at is written at most this often, so a page view is not a database write.
TOUCH_INTERVAL = timedelta(minutes=5)


@dataclass
class StartedSession:
    session: BrowserSession
    cookie_token: str  # the only copy of the secret; the database keeps its HMAC


def start(
    user: User,
    *,
    amr: list[str],
    lifetime: timedelta,
    actor: audit.Actor,
    acr: str | None = None,
) -> StartedSession:
    now = clock.now()
    if acr is None:
        acr = ACR_MULTI_FACTOR if SECOND_FACTORS & set(amr) else ACR_SINGLE_FACTOR
    token = security.random_token(32)
    session = BrowserSession(
        token_hash=security.hash_secret(token),
        tenant_id=user.tenant_id,
        user_id=user.id,
        user_agent=(actor.user_agent or "")[:512] or None,
        ip=actor.ip,
        auth_time=now,
        amr=amr,
        acr=acr,
        created_at=now,
        last_seen_at=now,
        expires_at=now + lifetime,
    )
    db.session.add(session)
    db.session.flush()
    audit.record(
        "session.started",
        actor=actor,
        tenant_id=user.tenant_id,
        user_id=user.id,
        target_type="session",
        target_id=session.id,
        amr=amr,
    )
    return StartedSession(session, token)


def reauthenticate(session: BrowserSession, *, amr: list[str], actor: audit.Actor) -> None:
    """The user proved who they are again: a new auth_time (OIDC Core max_age, prompt=login)."""
    now = clock.now()
    session.auth_time = now
    session.last_seen_at = now
    session.amr = amr
    session.acr = ACR_MULTI_FACTOR if SECOND_FACTORS & set(amr) else ACR_SINGLE_FACTOR
    audit.record(
        "session.reauthenticated",
        actor=actor,
        tenant_id=session.tenant_id,
        user_id=session.user_id,
        target_type="session",
        target_id=session.id,
        amr=amr,
    )


def find_active(cookie_token: str | None) -> BrowserSession | None:
    """The live session behind a cookie, or None (unknown, expired, revoked, user blocked)."""
    if not cookie_token or len(cookie_token) > 128:
        return None
    token_hash = security.hash_secret(cookie_token)
    session: BrowserSession | None = db.session.scalar(
        select(BrowserSession).where(BrowserSession.token_hash == token_hash)
    )
    now = clock.now()
    if session is None or not session.is_valid(now):
        return None
    user = db.session.get(User, session.user_id)
    if user is None or not user.can_sign_in:
        return None
    if now - session.last_seen_at > TOUCH_INTERVAL:
        session.last_seen_at = now
    return session


def end(session: BrowserSession, *, actor: audit.Actor, reason: str = "logout") -> list[Grant]:
    """Revoke the session and the grants made through it, except offline_access ones
    (OIDC Core §11: those outlive the session). Returns the grants revoked."""
    now = clock.now()
    session.revoked_at = now
    revoked = []
    for grant in db.session.scalars(
        select(Grant).where(Grant.session_id == session.id, Grant.revoked_at.is_(None))
    ):
        if "offline_access" in grant.scope.split():
            continue
        revoked.append(grant)
        grants.revoke_grant(grant, reason=reason, actor=actor)
    audit.record(
        "session.ended",
        actor=actor,
        tenant_id=session.tenant_id,
        user_id=session.user_id,
        target_type="session",
        target_id=session.id,
        reason=reason,
    )
    return revoked


def for_user(user: User, *, include_revoked: bool = False) -> list[BrowserSession]:
    query = select(BrowserSession).where(
        BrowserSession.tenant_id == user.tenant_id, BrowserSession.user_id == user.id
    )
    if not include_revoked:
        query = query.where(
            BrowserSession.revoked_at.is_(None), BrowserSession.expires_at > clock.now()
        )
    order = (BrowserSession.created_at.desc(), BrowserSession.id.desc())
    return list(db.session.scalars(query.order_by(*order)))


def get_for_user(user: User, session_id: str) -> BrowserSession:
    found = db.session.get(BrowserSession, session_id) if len(session_id) <= 36 else None
    if found is None or found.user_id != user.id or found.tenant_id != user.tenant_id:
        raise errors.NotFound("session not found")
    return found


def end_if_live(session: BrowserSession, *, actor: audit.Actor, reason: str = "admin") -> bool:
    """End one session if it is still live; False if it already was over."""
    if not session.is_valid(clock.now()):
        return False
    end(session, actor=actor, reason=reason)
    return True


def end_all(user: User, *, actor: audit.Actor, reason: str = "admin") -> int:
    """Sign the user out everywhere (admin, block, password reset). Trusted devices are
    forgotten too: "everywhere" must not leave a browser that skips the second factor."""
    ended = [end_if_live(s, actor=actor, reason=reason) for s in for_user(user)]
    forget_trusted_devices(user, actor=actor, reason=reason)
    db.session.flush()
    return sum(ended)


def forget_trusted_devices(user: User, *, actor: audit.Actor, reason: str) -> int:
    """Every browser of the user asks for the second factor again at its next sign-in."""
    result = db.session.execute(
        update(BrowserSession)
        .where(
            BrowserSession.user_id == user.id,
            or_(BrowserSession.trusted.is_(True), BrowserSession.device_token_hash.is_not(None)),
        )
        .values(trusted=False, trusted_until=None, device_token_hash=None)
        .execution_options(synchronize_session="fetch")
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    if count:
        audit.record_for_user(
            "device.trust_cleared",
            user,
            actor=actor,
            reason=reason,
            devices=count,
        )
    return count
