from __future__ import annotations

from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from idp.management.fields import PageQuerySchema
from idp.management.fields import PageSchema
from idp.models.client import AUTH_METHODS
from idp.models.client import SERVICE_TYPES
from idp.services.clients import GRANT_TYPES
from idp.services.clients import LIFETIME_RANGES
from idp.services.clients import SIGNING_ALGS
from idp.services.clients import SUBJECT_TYPES

URI = validate.Length(min=1, max=2048)
MAX_URIS = validate.Length(max=50)
SCOPE_TOKEN = r"^[\x21\x23-\x5b\x5d-\x7e]+$"  # RFC 6749 §3.3 scope-token


def _uris() -> fields.List:
    # Shape only: services.clients.validate_redirect_uri decides what is allowed, because
    # fields.Url rejects hosts without a TLD and knows nothing of loopback or native schemes.
    return fields.List(fields.String(validate=URI), validate=MAX_URIS)


def _flag() -> fields.Boolean:
    return fields.Boolean(truthy={True}, falsy={False})


def _lifetime(name: str) -> fields.Integer:
    low, high = LIFETIME_RANGES[name]
    return fields.Integer(
        allow_none=True,
        strict=True,
        validate=validate.Range(min=low, max=high),
        metadata={"description": f"Seconds ({low}-{high}); null for the server default."},
    )


class ClientSchema(Schema):
    """A client as shown to administrators: never its secret or the secret's hash."""

    id = fields.String()
    tenant_id = fields.String()
    client_id = fields.String()
    name = fields.String()
    public = fields.Boolean(attribute="is_public")
    token_endpoint_auth_method = fields.String()
    service_type = fields.String()
    redirect_uris = fields.List(fields.String())
    post_logout_redirect_uris = fields.List(fields.String())
    grant_types = fields.List(fields.String())
    response_types = fields.List(fields.String())
    scopes = fields.List(fields.String())
    skip_consent = fields.Boolean()
    require_pkce = fields.Boolean()
    id_token_signed_response_alg = fields.String()
    backchannel_logout_uri = fields.String(allow_none=True)
    jwks = fields.Dict(allow_none=True)
    jwks_uri = fields.String(allow_none=True)
    require_pushed_authorization_requests = fields.Boolean()
    subject_type = fields.String()
    allowed_resources = fields.List(fields.String())
    code_lifetime = fields.Integer(allow_none=True)
    access_token_lifetime = fields.Integer(allow_none=True)
    id_token_lifetime = fields.Integer(allow_none=True)
    refresh_token_lifetime = fields.Integer(allow_none=True)
    refresh_token_absolute_lifetime = fields.Integer(allow_none=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class ClientWithSecretSchema(ClientSchema):
    client_secret = fields.String(
        metadata={"description": "Shown once, for clients that authenticate with a secret."},
    )


class ClientPatchSchema(Schema):
    """Every field optional; the service checks the result as create does."""

    name = fields.String(validate=validate.Length(min=1, max=200))
    redirect_uris = _uris()
    post_logout_redirect_uris = _uris()
    public = _flag()
    grant_types = fields.List(
        fields.String(validate=validate.OneOf(GRANT_TYPES)), validate=validate.Length(min=1, max=3)
    )
    scopes = fields.List(
        fields.String(validate=[validate.Length(min=1, max=100), validate.Regexp(SCOPE_TOKEN)]),
        validate=validate.Length(min=1, max=100),
    )
    auth_method = fields.String(
        data_key="token_endpoint_auth_method", validate=validate.OneOf(AUTH_METHODS)
    )
    skip_consent = _flag()
    service_type = fields.String(validate=validate.OneOf(SERVICE_TYPES))
    require_pkce = _flag()
    id_token_signed_response_alg = fields.String(validate=validate.OneOf(SIGNING_ALGS))
    backchannel_logout_uri = fields.String(allow_none=True, validate=URI)
    jwks = fields.Dict(allow_none=True)
    jwks_uri = fields.String(allow_none=True, validate=URI)
    require_pushed_authorization_requests = _flag()
    subject_type = fields.String(validate=validate.OneOf(SUBJECT_TYPES))
    allowed_resources = _uris()
    code_lifetime = _lifetime("code_lifetime")
    access_token_lifetime = _lifetime("access_token_lifetime")
    id_token_lifetime = _lifetime("id_token_lifetime")
    refresh_token_lifetime = _lifetime("refresh_token_lifetime")
    refresh_token_absolute_lifetime = _lifetime("refresh_token_absolute_lifetime")


class ClientCreateSchema(ClientPatchSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))


class ClientQuerySchema(PageQuerySchema):
    search = fields.String(
        validate=validate.Length(min=1, max=200), metadata={"description": "Name prefix"}
    )


class ClientPageSchema(PageSchema):
    items = fields.List(fields.Nested(ClientSchema), required=True)


class ClientSecretSchema(Schema):
    client_id = fields.String()
    client_secret = fields.String()
