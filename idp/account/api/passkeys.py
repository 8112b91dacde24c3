"""/account/v1: Passkeys and security keys: register, list, rename, delete.

Registering is two calls: POST /passkeys/registration-options returns the WebAuthn creation
options (give them to `PublicKeyCredential.parseCreationOptionsFromJSON` and
`navigator.credentials.create`), then POST /passkeys sends the new credential's `toJSON()`.
The options' challenge is single-use and bound to the caller; it expires after
`webauthn_challenge_lifetime` seconds.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from idp import errors
from idp.account import PREFIX
from idp.account.auth import current
from idp.account.auth import require_recent_authentication
from idp.auth.passkeys import relying_party
from idp.extensions import db
from idp.models import WebAuthnCredential
from idp.services import passkeys

blp = Blueprint(
    "account_passkeys", __name__, url_prefix=PREFIX, description="Passkeys and security keys"
)

NAME = validate.Length(min=1, max=passkeys.NAME_MAX)


class PasskeySchema(Schema):
    id = fields.String(required=True, metadata={"description": "Use in PATCH and DELETE"})
    name = fields.String(required=True)
    credential_id = fields.String(
        required=True, metadata={"description": "The WebAuthn credential id (base64url)"}
    )
    transports = fields.List(fields.String(), required=True)
    aaguid = fields.String(
        allow_none=True, metadata={"description": "Authenticator model (all zeros: unknown)"}
    )
    discoverable = fields.Boolean(
        required=True, metadata={"description": "Usable to sign in without typing an e-mail"}
    )
    backed_up = fields.Boolean(
        required=True, metadata={"description": "Synced to the user's other devices"}
    )
    created_at = fields.DateTime(required=True)
    last_used_at = fields.DateTime(allow_none=True)


class PasskeyListSchema(Schema):
    items = fields.List(fields.Nested(PasskeySchema), required=True)


class CreationOptionsSchema(Schema):
    """WebAuthn PublicKeyCredentialCreationOptionsJSON (WebAuthn Level 3 §5.4)."""

    rp = fields.Dict(required=True, metadata={"description": "{id, name}"})
    user = fields.Dict(
        required=True, metadata={"description": "{id (base64url handle), name, displayName}"}
    )
    challenge = fields.String(required=True, metadata={"description": "base64url"})
    pubKeyCredParams = fields.List(fields.Dict(), required=True)  # noqa: N815
    timeout = fields.Integer(required=True, metadata={"description": "milliseconds"})
    excludeCredentials = fields.List(  # noqa: N815
        fields.Dict(), required=True, metadata={"description": "The passkeys already registered"}
    )
    authenticatorSelection = fields.Dict(required=True)  # noqa: N815
    attestation = fields.String(required=True)
    extensions = fields.Dict(required=True)


class RegisterSchema(Schema):
    credential = fields.Dict(
        required=True,
        metadata={"description": "The new credential's `PublicKeyCredential.toJSON()`"},
    )
    name = fields.String(
        validate=NAME,
        metadata={"description": "Defaults to the browser and platform it was made on"},
    )


class RenameSchema(Schema):
    name = fields.String(required=True, validate=NAME)


class RegistrationOptionsRequestSchema(Schema):
    """No fields: the options depend only on the caller."""


@blp.route("/passkeys/registration-options")
class RegistrationOptions(MethodView):
    @blp.arguments(RegistrationOptionsRequestSchema, required=False)
    @blp.response(200, CreationOptionsSchema)
    @blp.alt_response(409, description="The user has as many passkeys as allowed")
    def post(self, _: dict[str, Any]) -> dict[str, Any]:
        """Start registering a passkey

        Returns the creation options for `navigator.credentials.create`; the user's existing
        passkeys are excluded, a discoverable credential and user verification are preferred.
        A passkey is a way into the account, so this needs a recent sign-in (401
        `insufficient_user_authentication` with `max_age`, RFC 9470, otherwise).
        """
        require_recent_authentication()
        options = passkeys.registration_options(current().user, relying_party())
        db.session.commit()
        return options


@blp.route("/passkeys")
class Passkeys(MethodView):
    @blp.response(200, PasskeyListSchema)
    def get(self) -> dict[str, list[WebAuthnCredential]]:
        """The user's passkeys and security keys, oldest first"""
        return {"items": passkeys.credentials(current().user)}

    @blp.arguments(RegisterSchema)
    @blp.response(201, PasskeySchema)
    @blp.alt_response(409, description="Already registered, or too many passkeys")
    @blp.alt_response(
        422, description="Not a registration response, it does not verify, or a bad name"
    )
    def post(self, body: dict[str, Any]) -> WebAuthnCredential:
        """Finish registering a passkey

        `credential` must answer the latest options from POST
        /passkeys/registration-options (each can be answered once).
        """
        require_recent_authentication()
        caller = current()
        try:
            created = passkeys.register(
                caller.user,
                body["credential"],
                relying_party(),
                name=body.get("name"),
                actor=caller.actor,
            )
        except (errors.InvalidInput, errors.Conflict):
            db.session.commit()  # the challenge is used up either way; keep the audit event
            raise
        db.session.commit()
        return created


@blp.route("/passkeys/<string:passkey_id>")
class PasskeyItem(MethodView):
    @blp.response(200, PasskeySchema)
    @blp.alt_response(404, description="No such passkey")
    def get(self, passkey_id: str) -> WebAuthnCredential:
        """One passkey"""
        return passkeys.get(current().user, passkey_id)

    @blp.arguments(RenameSchema)
    @blp.response(200, PasskeySchema)
    @blp.alt_response(404, description="No such passkey")
    @blp.alt_response(422, description="Bad name")
    def patch(self, body: dict[str, Any], passkey_id: str) -> WebAuthnCredential:
        """Rename a passkey"""
        caller = current()
        renamed = passkeys.rename(caller.user, passkey_id, body["name"], actor=caller.actor)
        db.session.commit()
        return renamed

    @blp.response(204)
    @blp.alt_response(404, description="No such passkey")
    @blp.alt_response(409, description="It is the user's last way to sign in")
    def delete(self, passkey_id: str) -> None:
        """Remove a passkey

        Refused while it is the only way the user can sign in (no password, no linked
        account, no other passkey). Removing one can turn two-step sign-in off, so it needs a
        recent sign-in (401 `insufficient_user_authentication`, RFC 9470).
        """
        require_recent_authentication()
        caller = current()
        passkeys.delete_credential(caller.user, passkey_id, actor=caller.actor)
        db.session.commit()
