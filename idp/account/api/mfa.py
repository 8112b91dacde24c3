"""/account/v1: MFA status, TOTP setup/verify/disable, backup codes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE
from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate
from marshmallow import validates_schema
from sqlalchemy import func
from sqlalchemy import select

from idp import errors
from idp import runtime
from idp.account import PREFIX
from idp.account.auth import current
from idp.extensions import db
from idp.models import User
from idp.models import WebAuthnCredential
from idp.models.tenant import DEFAULT_TENANT_SLUG
from idp.services import backup_codes
from idp.services import lockout
from idp.services import mfa
from idp.services import tenants
from idp.services import totp

blp = Blueprint(
    "account_mfa",
    __name__,
    url_prefix=PREFIX,
    description="MFA status, TOTP setup/verify/disable, backup codes",
)

NO_STORE = {"Cache-Control": "no-store"}  # secrets and backup codes must not be cached


def issuer_name(user: User) -> str:
    """The name an authenticator app shows for the account: the tenant's name, or the
    issuer's host name for the default tenant (whose name is just "Default")."""
    tenant = tenants.get(user.tenant_id)
    if tenant.slug != DEFAULT_TENANT_SLUG:
        return tenant.name
    return urlsplit(runtime.settings().issuer).hostname or tenant.name


def lockout_policy() -> lockout.LockoutPolicy:
    return lockout.LockoutPolicy.from_settings(runtime.settings())


@contextmanager
def keeping_failures() -> Iterator[None]:
    """A refused re-authentication still counts toward the lockout: commit that count (and
    its audit events) before the error handler rolls the request back."""
    try:
        yield
    except (errors.InvalidInput, lockout.AccountLocked):
        db.session.commit()
        raise


def passkey_count(user: User) -> int:
    query = select(func.count()).where(WebAuthnCredential.user_id == user.id)
    return int(db.session.scalar(query) or 0)


# --- schemas ---------------------------------------------------------------------------------


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class TotpStatusSchema(Schema):
    enabled = fields.Boolean(required=True, metadata={"description": "Confirmed and in use"})
    confirmed_at = fields.DateTime(allow_none=True, required=True)


class WebAuthnStatusSchema(Schema):
    count = fields.Integer(required=True, metadata={"description": "Registered passkeys"})


class BackupCodesStatusSchema(Schema):
    remaining = fields.Integer(required=True, metadata={"description": "Unused backup codes"})


class MfaStatusSchema(Schema):
    totp = fields.Nested(TotpStatusSchema, required=True)
    webauthn = fields.Nested(WebAuthnStatusSchema, required=True)
    backup_codes = fields.Nested(BackupCodesStatusSchema, required=True)


class TotpSetupSchema(Schema):
    secret = fields.String(
        required=True, metadata={"description": "Base32 seed, for entering by hand"}
    )
    qr_code_uri = fields.String(
        required=True, metadata={"description": "otpauth://totp/... provisioning URI"}
    )
    qr_code_svg = fields.String(
        required=True,
        metadata={"description": "SVG markup of the QR code of qr_code_uri (no XML declaration)"},
    )


class EmptySchema(StrictSchema):
    pass


class CodeSchema(StrictSchema):
    code = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "The current 6-digit code of the authenticator app"},
    )


class ProofSchema(StrictSchema):
    """Re-authentication: one of `code` and `password` (not both). Required for an enabled
    authenticator app; dropping a setup never confirmed needs neither."""

    code = fields.String(
        validate=validate.Length(min=1, max=64),
        metadata={"description": "A current authenticator code, or an unused backup code"},
    )
    password = fields.String(
        validate=validate.Length(min=1, max=1024),
        metadata={"description": "The account password"},
    )

    @validates_schema
    def not_both(self, data: dict[str, Any], **_: Any) -> None:
        if "code" in data and "password" in data:
            message = "send either code or password, not both"
            raise ValidationError({"code": [message], "password": [message]})


class BackupCodesSchema(Schema):
    backup_codes = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "Ten single-use codes (xxxxx-xxxxx), shown only this once"},
    )


# --- endpoints -------------------------------------------------------------------------------


@blp.route("/mfa")
class MfaStatus(MethodView):
    @blp.response(200, MfaStatusSchema)
    def get(self) -> dict[str, Any]:
        """The user's second factors"""
        user = current().user
        found = totp.credential(user)
        confirmed_at = found.confirmed_at if found is not None else None
        return {
            "totp": {"enabled": confirmed_at is not None, "confirmed_at": confirmed_at},
            "webauthn": {"count": passkey_count(user)},
            "backup_codes": {"remaining": backup_codes.remaining(user)},
        }


@blp.route("/mfa/totp")
class Totp(MethodView):
    @blp.arguments(EmptySchema, required=False)
    @blp.response(200, TotpSetupSchema)
    @blp.alt_response(409, description="An authenticator app is already enabled")
    def post(self, _: dict[str, Any]) -> tuple[totp.TotpSetup, dict[str, str]]:
        """Start setting up an authenticator app

        Returns a new secret with its otpauth:// URI and QR code. It is not in use until
        confirmed with `POST /mfa/totp/verify`; starting again replaces an unconfirmed secret.
        """
        caller = current()
        setup = totp.begin_setup(
            caller.user, issuer_name=issuer_name(caller.user), actor=caller.actor
        )
        db.session.commit()
        return setup, NO_STORE

    @blp.arguments(ProofSchema, required=False)
    @blp.response(204)
    @blp.alt_response(404, description="No authenticator app is set up")
    @blp.alt_response(422, description="Wrong code or password")
    @blp.alt_response(429, description="Too many failed attempts: the account is locked")
    def delete(self, proof: dict[str, Any]) -> None:
        """Disable the authenticator app

        Needs a current code (or an unused backup code, which is spent) or the password. A
        wrong one counts toward the sign-in lockout. When no passkey remains either, the
        backup codes are deleted too. A setup never confirmed is dropped without proof.
        """
        caller = current()
        with keeping_failures():
            totp.disable(caller.user, actor=caller.actor, policy=lockout_policy(), **proof)
        db.session.commit()


@blp.route("/mfa/totp/verify")
class TotpVerify(MethodView):
    @blp.arguments(CodeSchema)
    @blp.response(200, BackupCodesSchema)
    @blp.alt_response(409, description="No setup in progress, or already enabled")
    @blp.alt_response(422, description="Wrong code")
    def post(self, body: dict[str, Any]) -> tuple[dict[str, list[str]], dict[str, str]]:
        """Enable the authenticator app with its current code

        Returns ten new backup codes, replacing any earlier ones; they are shown only once.
        """
        caller = current()
        codes = totp.confirm(caller.user, body["code"], actor=caller.actor)
        db.session.commit()
        return {"backup_codes": codes}, NO_STORE


@blp.route("/mfa/backup-codes")
class BackupCodes(MethodView):
    @blp.arguments(ProofSchema)
    @blp.response(200, BackupCodesSchema)
    @blp.alt_response(409, description="No authenticator app or passkey to back up")
    @blp.alt_response(422, description="Wrong code or password")
    @blp.alt_response(429, description="Too many failed attempts: the account is locked")
    def post(self, proof: dict[str, Any]) -> tuple[dict[str, list[str]], dict[str, str]]:
        """Replace the backup codes

        Needs a current code (or an unused backup code) or the password, like disabling.
        The old codes stop working; the ten new ones are shown only once.
        """
        caller = current()
        user = caller.user
        if not mfa.has_second_factor(user):  # before a backup code is spent as proof
            raise errors.Conflict("Set up an authenticator app or a passkey first")
        with keeping_failures():
            totp.verify_proof(user, actor=caller.actor, policy=lockout_policy(), **proof)
        codes = backup_codes.regenerate(user, actor=caller.actor)
        db.session.commit()
        return {"backup_codes": codes}, NO_STORE
