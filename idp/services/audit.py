"""The only writer of AuditEvent. Never put a secret in `details`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent
from idp.models import User
from idp.services import keyset


@dataclass(frozen=True)
class Actor:
    """Who did it: a user, a client, an API key or the system (CLI, startup)."""

    type: str
    id: str | None = None
    ip: str | None = None
    user_agent: str | None = None


SYSTEM = Actor("system")


def record(
    event_type: str,
    *,
    status: str = "success",
    actor: Actor = SYSTEM,
    tenant_id: str | None = None,
    user_id: str | None = None,
    client_id: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    **details: object,
) -> AuditEvent:
    event = AuditEvent(
        event_type=event_type,
        status=status,
        actor_type=actor.type,
        actor_id=actor.id,
        ip=actor.ip,
        user_agent=(actor.user_agent or "")[:512] or None,
        tenant_id=tenant_id,
        user_id=user_id,
        client_id=client_id,
        target_type=target_type,
        target_id=target_id,
        details=details,
    )
    db.session.add(event)
    return event


def record_for_user(
    event_type: str,
    user: User,
    *,
    status: str = "success",
    actor: Actor = SYSTEM,
    **details: object,
) -> AuditEvent:
    """An event about a user's own account (their tenant, them as user and as target)."""
    event = record(
        event_type,
        status=status,
        actor=actor,
        tenant_id=user.tenant_id,
        user_id=user.id,
        target_type="user",
        target_id=user.id,
    )
    event.details = details
    return event


def list_events(
    tenant_id: str,
    *,
    event_type: str | None = None,
    status: str | None = None,
    user_id: str | None = None,
    client_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
    offset: int | None = None,
) -> keyset.Page[AuditEvent]:
    """The tenant's events, newest first; `since` is inclusive, `until` exclusive."""
    query = select(AuditEvent).where(AuditEvent.tenant_id == tenant_id)
    for column, value in (
        (AuditEvent.event_type, event_type),
        (AuditEvent.status, status),
        (AuditEvent.user_id, user_id),
        (AuditEvent.client_id, client_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(AuditEvent.occurred_at >= since)
    if until is not None:
        query = query.where(AuditEvent.occurred_at < until)
    return keyset.paginate(
        query,
        at=AuditEvent.occurred_at,
        key=AuditEvent.id,
        limit=limit,
        cursor=cursor,
        offset=offset,
    )
