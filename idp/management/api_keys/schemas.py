from __future__ import annotations

from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from idp.management.fields import PageSchema
from idp.services.api_keys import SCOPES


class ApiKeySchema(Schema):
    id = fields.String(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    prefix = fields.String(dump_only=True)
    scopes = fields.List(
        fields.String(validate=validate.OneOf(SCOPES)),
        required=True,
        validate=validate.Length(min=1, max=len(SCOPES)),
    )
    tenant_id = fields.String(dump_only=True, allow_none=True)
    application = fields.String(
        allow_none=True,
        load_default=None,
        validate=validate.Length(min=1, max=64),
        metadata={
            "description": "The client_id of the one application (client of this tenant) the "
            "key is restricted to, or null for an unrestricted key."
        },
    )
    expires_at = fields.AwareDateTime(allow_none=True, load_default=None)
    last_used_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    created_at = fields.AwareDateTime(dump_only=True)
    revoked_at = fields.AwareDateTime(dump_only=True, allow_none=True)


class CreatedApiKeySchema(ApiKeySchema):
    key = fields.String(dump_only=True, metadata={"description": "Shown once; store it now."})


class ApiKeyPageSchema(PageSchema):
    items = fields.List(fields.Nested(ApiKeySchema), required=True)
