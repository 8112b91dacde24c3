from __future__ import annotations

from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate

from idp.management.fields import PageSchema
from idp.services.clients import validate_redirect_uri


def _web_url(value: str) -> None:
    issue = validate_redirect_uri(value, service_type="web")
    if issue:
        raise ValidationError(issue)


class BrandingSchema(Schema):
    """What the hosted pages may show for the tenant; replaced as a whole on PATCH."""

    display_name = fields.String(validate=validate.Length(min=1, max=100))
    logo_url = fields.String(validate=[validate.Length(max=2048), _web_url])
    support_url = fields.String(validate=[validate.Length(max=2048), _web_url])
    primary_color = fields.String(validate=validate.Regexp(r"^#[0-9a-fA-F]{6}$"))


class TenantSchema(Schema):
    id = fields.String(dump_only=True)
    slug = fields.String(
        required=True,
        validate=validate.Length(min=1, max=63),
        metadata={"description": "Lowercase letters, digits and hyphens; fixed once created."},
    )
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    registration_enabled = fields.Boolean(dump_only=True)
    branding = fields.Dict(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


class TenantPatchSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    registration_enabled = fields.Boolean(truthy={True}, falsy={False})
    branding = fields.Nested(BrandingSchema)


class TenantPageSchema(PageSchema):
    items = fields.List(fields.Nested(TenantSchema), required=True)
