"""Counts for a tenant's dashboard: users, and sign-ins over the last 1, 7 and 30 days."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import distinct
from sqlalchemy import exists
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select

from idp import clock
from idp.extensions import db
from idp.models import AuditEvent
from idp.models import TotpCredential
from idp.models import User
from idp.models import WebAuthnCredential

WINDOWS = {"1d": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30)}
# A sign-in is a started session: every way in (password today; upstream or MFA later) ends
# there exactly once. login.password alone would miss those, and counting both would count
# each password sign-in twice. Both count towards the users who signed in.
SIGN_IN_EVENT = "session.started"
SIGN_IN_EVENTS = ("login.password", SIGN_IN_EVENT)


def _count(query: Any) -> int:
    return int(db.session.scalar(query) or 0)


def tenant_stats(tenant_id: str) -> dict[str, dict[str, int]]:
    in_tenant = User.tenant_id == tenant_id
    users = {
        "total": _count(select(func.count(User.id)).where(in_tenant)),
        "active": _count(
            select(func.count(User.id)).where(
                in_tenant, User.is_active.is_(True), User.blocked_reason.is_(None)
            )
        ),
        "verified": _count(
            select(func.count(User.id)).where(in_tenant, User.email_verified.is_(True))
        ),
        # A second factor that sign-in asks for: a confirmed authenticator app or a passkey
        # (backup codes alone enrol nothing, mfa.has_second_factor).
        "mfa_enabled": _count(
            select(func.count(User.id)).where(
                in_tenant,
                or_(
                    exists().where(
                        TotpCredential.user_id == User.id, TotpCredential.confirmed_at.is_not(None)
                    ),
                    exists().where(WebAuthnCredential.user_id == User.id),
                ),
            )
        ),
    }
    now = clock.now()
    successes = (
        AuditEvent.tenant_id == tenant_id,
        AuditEvent.status == "success",
    )
    sign_ins: dict[str, int] = {}
    unique_users: dict[str, int] = {}
    for label, window in WINDOWS.items():
        recent = AuditEvent.occurred_at >= now - window
        sign_ins[label] = _count(
            select(func.count(AuditEvent.id)).where(
                *successes, recent, AuditEvent.event_type == SIGN_IN_EVENT
            )
        )
        unique_users[label] = _count(
            select(func.count(distinct(AuditEvent.user_id))).where(
                *successes,
                recent,
                AuditEvent.event_type.in_(SIGN_IN_EVENTS),
                AuditEvent.user_id.is_not(None),
            )
        )
    return {"users": users, "sign_ins": sign_ins, "unique_users": unique_users}
