"""/management/v1/audit-events: the tenant's audit trail, newest first, filterable."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from idp.management import PREFIX
from idp.management.audit.schemas import AuditEventPageSchema
from idp.management.audit.schemas import AuditQuerySchema
from idp.management.auth import require_scope
from idp.management.auth import tenant_id
from idp.models import AuditEvent
from idp.services import audit
from idp.services.keyset import Page

blp = Blueprint(
    "audit_events",
    __name__,
    url_prefix=f"{PREFIX}/audit-events",
    description="The audit trail: sign-ins, MFA changes, revocations, management writes",
)


@blp.route("")
class AuditEvents(MethodView):
    @require_scope("audit:read")
    @blp.arguments(AuditQuerySchema, location="query")
    @blp.response(200, AuditEventPageSchema)
    def get(self, query: dict[str, Any]) -> Page[AuditEvent]:
        """List audit events

        Needs `audit:read`. The tenant's events, newest first, paged by `limit` plus `cursor` (the
        previous page's `next_cursor`) or `offset`, not both. Filters: `event_type`, `status`,
        `user_id`, `client_id`, `from` (inclusive) and `to` (exclusive); `from` after `to` is 422.
        """
        return audit.list_events(tenant_id(), **query)
