"""The only writer of AuditEvent. Never put a secret in `details`."""

from __future__ import annotations

from dataclasses import dataclass

from idp.extensions import db
from idp.models import AuditEvent


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
