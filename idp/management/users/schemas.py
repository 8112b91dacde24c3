from __future__ import annotations

from datetime import UTC

from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from idp.management.fields import AuditEventSchema
from idp.management.fields import PageQuerySchema
from idp.management.fields import PageSchema

STRICT_BOOL = {"truthy": {True}, "falsy": {False}}


def _roles() -> fields.List:
    role = fields.String(
        validate=[validate.Length(min=1, max=64), validate.Regexp(r"^[A-Za-z0-9_.:-]+$")]
    )
    return fields.List(role, validate=validate.Length(max=50))


def _metadata() -> fields.Dict:
    return fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=100)))


class UserSchema(Schema):
    id = fields.String(dump_only=True)
    email = fields.String(dump_only=True)
    email_verified = fields.Boolean(dump_only=True)
    name = fields.String(dump_only=True, allow_none=True)
    given_name = fields.String(dump_only=True, allow_none=True)
    family_name = fields.String(dump_only=True, allow_none=True)
    picture = fields.String(dump_only=True, allow_none=True)
    locale = fields.String(dump_only=True, allow_none=True)
    roles = fields.List(fields.String(), dump_only=True)
    metadata = fields.Dict(attribute="user_metadata", dump_only=True)
    is_active = fields.Boolean(dump_only=True)
    blocked = fields.Function(lambda user: user.blocked_reason is not None, dump_only=True)
    blocked_reason = fields.String(dump_only=True, allow_none=True)
    has_password = fields.Function(lambda user: user.password_hash is not None, dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)
    last_login_at = fields.AwareDateTime(dump_only=True, allow_none=True)


class UserCreateSchema(Schema):
    id = fields.UUID()
    email = fields.String(required=True, validate=validate.Length(min=3, max=320))
    password = fields.String(load_only=True, validate=validate.Length(max=1024))
    name = fields.String(allow_none=True, validate=validate.Length(max=200))
    given_name = fields.String(allow_none=True, validate=validate.Length(max=100))
    family_name = fields.String(allow_none=True, validate=validate.Length(max=100))
    roles = _roles()
    email_verified = fields.Boolean(**STRICT_BOOL)
    metadata = _metadata()


class UserPatchSchema(Schema):
    email = fields.String(validate=validate.Length(min=3, max=320))
    name = fields.String(allow_none=True, validate=validate.Length(max=200))
    given_name = fields.String(allow_none=True, validate=validate.Length(max=100))
    family_name = fields.String(allow_none=True, validate=validate.Length(max=100))
    roles = _roles()
    email_verified = fields.Boolean(**STRICT_BOOL)
    is_active = fields.Boolean(**STRICT_BOOL)
    metadata = _metadata()


class UserQuerySchema(PageQuerySchema):
    search = fields.String(validate=validate.Length(min=1, max=320))
    email = fields.String(validate=validate.Length(min=1, max=320))
    role = fields.String(validate=validate.Length(min=1, max=64))
    is_active = fields.Boolean()
    email_verified = fields.Boolean()
    created_from = fields.AwareDateTime(default_timezone=UTC)
    created_to = fields.AwareDateTime(default_timezone=UTC)
    provider = fields.String(
        validate=validate.Length(min=1, max=64),
        metadata={"description": "Only users with a linked identity of this provider"},
    )


class UserPageSchema(PageSchema):
    items = fields.List(fields.Nested(UserSchema), required=True)


class PasswordSchema(Schema):
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=1024))


class BlockSchema(Schema):
    reason = fields.String(
        load_default="blocked by an administrator", validate=validate.Length(min=1, max=500)
    )


class IncludeRevokedSchema(Schema):
    include_revoked = fields.Boolean(load_default=False)


class SessionSchema(Schema):
    id = fields.String()
    user_agent = fields.String(allow_none=True)
    ip = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    last_seen_at = fields.AwareDateTime()
    auth_time = fields.AwareDateTime()
    amr = fields.List(fields.String())
    revoked_at = fields.AwareDateTime(allow_none=True)


class SessionListSchema(Schema):
    items = fields.List(fields.Nested(SessionSchema), required=True)
    total = fields.Integer(required=True)


class GrantSchema(Schema):
    id = fields.String()
    client_id = fields.String(metadata={"description": "The public OAuth client_id"})
    scope = fields.String()
    created_at = fields.AwareDateTime()
    auth_time = fields.AwareDateTime()
    revoked_at = fields.AwareDateTime(allow_none=True)


class GrantListSchema(Schema):
    items = fields.List(fields.Nested(GrantSchema), required=True)
    total = fields.Integer(required=True)


class RevokedSchema(Schema):
    revoked = fields.Integer(required=True)


class UserAuditPageSchema(PageSchema):
    items = fields.List(fields.Nested(AuditEventSchema), required=True)


class MfaEnrolmentSchema(Schema):
    method = fields.String(
        required=True, validate=validate.OneOf(["totp", "webauthn", "backup_codes"])
    )
    id = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The credential id; null for the backup-code set"},
    )
    name = fields.String(required=True)
    confirmed = fields.Boolean(
        required=True,
        metadata={"description": "false for an authenticator-app setup awaiting its first code"},
    )
    created_at = fields.AwareDateTime(required=True)
    last_used_at = fields.AwareDateTime(required=True, allow_none=True)
    remaining = fields.Integer(
        required=True,
        allow_none=True,
        metadata={"description": "Unused backup codes (backup_codes only; null otherwise)"},
    )


class MfaEnrolmentListSchema(Schema):
    items = fields.List(fields.Nested(MfaEnrolmentSchema), required=True)
    total = fields.Integer(required=True)


class RemovedSchema(Schema):
    removed = fields.Integer(required=True)


class IdentitySchema(Schema):
    id = fields.String(required=True)
    provider = fields.String(required=True)
    subject = fields.String(required=True, metadata={"description": "The upstream `sub`"})
    email = fields.String(required=True, allow_none=True)
    claims = fields.Dict(required=True, metadata={"description": "The upstream claims as received"})
    created_at = fields.AwareDateTime(required=True)
    last_login_at = fields.AwareDateTime(required=True, allow_none=True)


class IdentityListSchema(Schema):
    items = fields.List(fields.Nested(IdentitySchema), required=True)
    total = fields.Integer(required=True)


class UnlinkQuerySchema(Schema):
    force = fields.Boolean(
        load_default=False,
        metadata={"description": "Unlink even the user's last way to sign in"},
    )
