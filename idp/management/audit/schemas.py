from __future__ import annotations

from datetime import UTC
from typing import Any

from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate
from marshmallow import validates_schema

from idp.management.fields import AuditEventSchema
from idp.management.fields import PageQuerySchema
from idp.management.fields import PageSchema


class AuditQuerySchema(PageQuerySchema):
    event_type = fields.String(validate=validate.Length(min=1, max=64))
    status = fields.String(validate=validate.Length(min=1, max=16))
    user_id = fields.String(validate=validate.Length(min=1, max=36))
    client_id = fields.String(validate=validate.Length(min=1, max=64))
    since = fields.AwareDateTime(
        data_key="from",
        default_timezone=UTC,
        metadata={"description": "ISO 8601; events at or after this time"},
    )
    until = fields.AwareDateTime(
        data_key="to",
        default_timezone=UTC,
        metadata={"description": "ISO 8601; events before this time"},
    )

    @validates_schema
    def _ordered(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "since" in data and "until" in data and data["since"] > data["until"]:
            raise ValidationError("must not be after to", field_name="from")


class AuditEventPageSchema(PageSchema):
    items = fields.List(fields.Nested(AuditEventSchema), required=True)
