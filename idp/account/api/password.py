"""/account/v1 password: change it, or set one when the account has none."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE
from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from idp import mail
from idp import runtime
from idp.account import PREFIX
from idp.account.auth import AccountCaller
from idp.account.auth import current
from idp.account.auth import require_recent_authentication
from idp.extensions import db
from idp.extensions import limiter
from idp.services import lockout
from idp.services import passwords

blp = Blueprint("account_password", __name__, url_prefix=PREFIX, description="Password")

CHANGE_LIMIT = "10/minute"  # per client IP: guesses at the current password


class PasswordChangeSchema(Schema):
    class Meta:
        unknown = RAISE

    current_password = fields.String(
        validate=validate.Length(max=passwords.MAX_LENGTH),
        metadata={"description": "Required when the account has a password"},
    )
    new_password = fields.String(
        required=True,
        validate=validate.Length(max=passwords.MAX_LENGTH),
        metadata={
            "description": "At least 8 characters; common and guessable passwords (zxcvbn "
            "score below 3, or built from the user's e-mail or name) are refused"
        },
    )


def change_password(caller: AccountCaller, current_password: str | None, new: str) -> int:
    """Change (or set), tell the user by mail, commit. Every other browser session ends;
    the calling one stays (with an access token: the session its grant came from, so the
    calling application keeps its tokens). Setting a first password needs a recent sign-in
    (there is no current password to prove who is asking)."""
    if caller.user.password_hash is None:
        require_recent_authentication()
    try:
        ended = passwords.change(
            caller.user,
            current_password,
            new,
            keep_session_id=caller.session_id,
            policy=passwords.PasswordPolicy.from_settings(runtime.settings()),
            lockout_policy=lockout.LockoutPolicy.from_settings(runtime.settings()),
            actor=caller.actor,
        )
    except (passwords.WrongCurrentPassword, lockout.AccountLocked):
        db.session.commit()  # keep the failure count toward the lockout and its audit events
        raise
    mail.send_password_changed(caller.user, reset=False)
    db.session.commit()
    return ended


@blp.route("/password")
class Password(MethodView):
    decorators = [limiter.limit(CHANGE_LIMIT)]

    @blp.arguments(PasswordChangeSchema)
    @blp.response(204)
    @blp.alt_response(422, description="Wrong current password, or a weak new one (`errors`)")
    @blp.alt_response(429, description="Too many wrong current passwords: the account is locked")
    def post(self, body: dict[str, Any]) -> None:
        """Change or set your password

        `{current_password, new_password}` changes it; `{new_password}` alone sets one for
        an account that has none (signed up through Google, say). Every other browser
        session of the user ends; the one making the call stays. 204 on success. Setting a
        first password needs a recent sign-in (401 `insufficient_user_authentication`).
        Wrong current passwords count toward the sign-in lockout: while the account is
        locked, 429 with Retry-After.
        """
        change_password(current(), body.get("current_password"), body["new_password"])
