"""Schema pieces shared by several management resources."""

from __future__ import annotations

from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

MAX_PAGE = 200


class PageQuerySchema(Schema):
    """`limit` plus `cursor` (keyset) or `offset` (DESIGN §5)."""

    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PAGE))
    cursor = fields.String(validate=validate.Length(max=200))
    offset = fields.Integer(validate=validate.Range(min=0, max=1_000_000))


class PageSchema(Schema):
    total = fields.Integer(required=True)
    next_cursor = fields.String(allow_none=True)


class AuditEventSchema(Schema):
    """One audit event (shared by /audit-events and /users/{id}/audit-events)."""

    id = fields.Integer()
    occurred_at = fields.AwareDateTime()
    event_type = fields.String()
    status = fields.String()
    actor_type = fields.String()
    actor_id = fields.String(allow_none=True)
    user_id = fields.String(allow_none=True)
    client_id = fields.String(allow_none=True)
    ip = fields.String(allow_none=True)
    user_agent = fields.String(allow_none=True)
    target_type = fields.String(allow_none=True)
    target_id = fields.String(allow_none=True)
    details = fields.Dict()
