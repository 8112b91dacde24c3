"""Plans of an application (a client) and users' subscriptions to them (DESIGN §4)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from idp import clock
from idp import errors
from idp.extensions import db
from idp.models import Client
from idp.models import Plan
from idp.models import Subscription
from idp.models import User
from idp.services import audit

ACTIVE = "active"
CANCELLED = "cancelled"
EXPIRED = "expired"
STATUSES = (ACTIVE, CANCELLED, EXPIRED)
PLAN_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class CurrentSubscription:
    """A subscription as it stands now: an active one past its period end has expired, even
    before anything has written that down."""

    subscription: Subscription
    plan: Plan
    status: str


def create_plan(
    client: Client,
    key: str,
    name: str,
    *,
    features: list[str] | None = None,
    actor: audit.Actor = audit.SYSTEM,
) -> Plan:
    if not PLAN_KEY_RE.match(key):
        raise errors.InvalidInput("invalid plan key", {"key": ["lowercase letters, digits, - _"]})
    plan = Plan(
        tenant_id=client.tenant_id,
        client_id=client.id,
        key=key,
        name=name,
        features=list(features or []),
    )
    try:
        with db.session.begin_nested():
            db.session.add(plan)
    except IntegrityError:
        raise errors.Conflict("this application already has a plan with this key") from None
    audit.record(
        "plan.created",
        actor=actor,
        tenant_id=client.tenant_id,
        client_id=client.client_id,
        target_type="plan",
        target_id=plan.id,
    )
    return plan


def subscribe(
    user: User,
    plan: Plan,
    *,
    current_period_end: datetime | None = None,
    actor: audit.Actor = audit.SYSTEM,
) -> Subscription:
    """Put the user on `plan`, replacing their plan of the same application if any."""
    if plan.tenant_id != user.tenant_id:
        raise errors.NotFound("plan not found")
    found = db.session.scalar(
        select(Subscription).where(
            Subscription.user_id == user.id, Subscription.client_id == plan.client_id
        )
    )
    if found is None:
        found = Subscription(tenant_id=user.tenant_id, user_id=user.id, client_id=plan.client_id)
        db.session.add(found)
    found.plan_id = plan.id
    found.status = ACTIVE
    found.current_period_end = current_period_end
    found.cancelled_at = None
    db.session.flush()
    audit.record(
        "subscription.changed",
        actor=actor,
        tenant_id=user.tenant_id,
        user_id=user.id,
        target_type="subscription",
        target_id=found.id,
        plan=plan.key,
    )
    return found


def current(user: User, client: Client) -> CurrentSubscription | None:
    """The user's subscription to this application, with its status as of now."""
    row = db.session.execute(
        select(Subscription, Plan)
        .join(Plan, Plan.id == Subscription.plan_id)
        .where(Subscription.user_id == user.id, Subscription.client_id == client.id)
    ).first()
    if row is None:
        return None
    subscription, plan = row
    status = subscription.status
    end = subscription.current_period_end
    if status == ACTIVE and end is not None and end <= clock.now():
        status = EXPIRED
    return CurrentSubscription(subscription, plan, status)
