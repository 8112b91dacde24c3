"""/account/v1 profile: read and change, e-mail change with re-verification.

Contract of an e-mail change: `PATCH /profile` with `email` answers **202 Accepted** and the
profile, where `email` is still the old address and `pending_email` the new one; a 6-digit
code and a link go to the new address. The change happens when the code is posted to
`POST /profile/email/verify` (or the link is opened): then the address is checked to be still
free (409 otherwise), becomes verified, and the old address gets a notice. A newer request
replaces a pending one. Without `email` (or with the current address), PATCH answers 200.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE
from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from idp import errors
from idp import mail
from idp import runtime
from idp.account import PREFIX
from idp.account.auth import current
from idp.account.auth import require_recent_authentication
from idp.extensions import db
from idp.extensions import limiter
from idp.models import User
from idp.services import email_verification
from idp.services import profiles

blp = Blueprint("account_profile", __name__, url_prefix=PREFIX, description="Profile")

VERIFY_LIMIT = "10/minute"  # per client IP; each code also allows only a few attempts


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


def _url(max_length: int = 2048) -> fields.Url:
    return fields.Url(
        allow_none=True, schemes={"https", "http"}, validate=validate.Length(max=max_length)
    )


def _text(max_length: int) -> fields.String:
    return fields.String(allow_none=True, validate=validate.Length(max=max_length))


class ProfileSchema(Schema):
    id = fields.String(required=True, metadata={"description": "The user's `sub`"})
    email = fields.String(required=True, metadata={"description": "The current address"})
    email_verified = fields.Boolean(required=True)
    pending_email = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "A new address waiting for its code or link, else null"},
    )
    name = fields.String(allow_none=True, required=True)
    given_name = fields.String(allow_none=True, required=True)
    family_name = fields.String(allow_none=True, required=True)
    middle_name = fields.String(allow_none=True, required=True)
    nickname = fields.String(allow_none=True, required=True)
    preferred_username = fields.String(allow_none=True, required=True)
    picture = fields.String(allow_none=True, required=True)
    website = fields.String(allow_none=True, required=True)
    locale = fields.String(allow_none=True, required=True)
    zoneinfo = fields.String(allow_none=True, required=True)
    has_password = fields.Boolean(
        required=True, metadata={"description": "False for a user who signs in only upstream"}
    )
    password_changed_at = fields.AwareDateTime(allow_none=True, required=True)
    created_at = fields.AwareDateTime(required=True)
    updated_at = fields.AwareDateTime(required=True)


class ProfilePatchSchema(StrictSchema):
    """Only the fields present change; null clears a field. Unknown fields are refused."""

    email = fields.Email(
        validate=validate.Length(max=320),
        metadata={"description": "Starts an e-mail change (202): see the tag description"},
    )
    name = _text(200)
    given_name = _text(100)
    family_name = _text(100)
    middle_name = _text(100)
    nickname = _text(100)
    preferred_username = _text(100)
    picture = _url()
    website = _url()
    locale = fields.String(
        allow_none=True,
        validate=validate.Regexp(
            profiles.LOCALE_RE.pattern, error="Use a BCP 47 language tag such as en or fr-CA"
        ),
        metadata={"description": "BCP 47 language tag, e.g. `en` or `fr-CA`"},
    )
    zoneinfo = fields.String(
        allow_none=True,
        validate=validate.Length(max=64),
        metadata={"description": "IANA time zone, e.g. `Europe/Paris`"},
    )


class EmailCodeSchema(StrictSchema):
    code = fields.String(
        required=True,
        validate=validate.Regexp(r"^\d{6}$", error="Enter the 6-digit code"),
        metadata={"description": "The 6-digit code mailed to the new address"},
    )


def profile_of(user: User) -> dict[str, Any]:
    data = {name: getattr(user, name) for name in ProfileSchema().fields if hasattr(user, name)}
    data["has_password"] = user.password_hash is not None
    data["pending_email"] = email_verification.pending_email(user)
    return data


def start_email_change(user: User, new_email: str) -> None:
    """Issue the code and link for a new address, queue the mail, commit. Needs a recent
    sign-in: a new address can reset the password, so it is a way into the account."""
    require_recent_authentication()
    issued = email_verification.start_change(
        user,
        new_email,
        lifetimes=email_verification.Lifetimes.from_settings(runtime.settings()),
        actor=current().actor,
    )
    mail.send_verification(user, issued)
    db.session.commit()


def confirm_email_change(user: User, code: str) -> None:
    """Check the code (each try counts, committed even when wrong), notify the old address,
    commit."""
    if email_verification.pending_email(user) is None:
        raise errors.Conflict("No e-mail change is pending.")
    try:
        verified = email_verification.verify_code(
            user,
            code,
            email_verification.CHANGE,
            max_attempts=runtime.settings().email_code_max_attempts,
            actor=current().actor,
        )
    except email_verification.TokenRejected:
        db.session.commit()
        raise
    if verified.previous_email:
        mail.send_email_changed(user, verified.previous_email)
    db.session.commit()


@blp.route("/profile")
class Profile(MethodView):
    @blp.response(200, ProfileSchema)
    def get(self) -> dict[str, Any]:
        """Your profile

        The standard claims the user may edit, the address and whether it is verified, a
        pending new address, and whether the account has a password.
        """
        return profile_of(current().user)

    @blp.arguments(ProfilePatchSchema)
    @blp.response(200, ProfileSchema)
    @blp.alt_response(202, schema=ProfileSchema, description="E-mail change started")
    @blp.alt_response(409, description="Another account uses the new e-mail address")
    def patch(self, changes: dict[str, Any]) -> Any:
        """Change your profile

        Fields present change, `null` clears one. A new `email` is not applied at once: the
        answer is 202 with `pending_email` set, and a 6-digit code (valid 5 minutes) and a
        link go to the new address; confirm with `POST /profile/email/verify`. Changing the
        address needs a recent sign-in (401 `insufficient_user_authentication`, RFC 9470).
        """
        user = current().user
        new_email = changes.pop("email", None)
        if changes:
            profiles.update(user, changes, actor=current().actor)
        changing = new_email is not None and (new_email.strip().lower() != user.email_normalized)
        if changing:
            start_email_change(user, new_email)
        else:
            db.session.commit()
        return (profile_of(user), 202) if changing else profile_of(user)


@blp.route("/profile/email/verify")
class EmailVerification(MethodView):
    decorators = [limiter.limit(VERIFY_LIMIT)]

    @blp.arguments(EmailCodeSchema)
    @blp.response(200, ProfileSchema)
    @blp.alt_response(409, description="No change pending, or the address was taken meanwhile")
    @blp.alt_response(422, description="Wrong, expired or exhausted code (`errors.code`)")
    def post(self, body: dict[str, str]) -> dict[str, Any]:
        """Confirm a pending e-mail change

        With the code mailed to the new address. Five wrong codes kill it (ask again with
        PATCH); the code lives 5 minutes. On success the address changes, is verified, and
        the old address is told.
        """
        user = current().user
        confirm_email_change(user, body["code"])
        return profile_of(user)
