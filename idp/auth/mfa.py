"""The second step of sign-in: an authenticator-app code, a backup code or a passkey.

`signin.begin` parks the sign-in after the password and sends the browser here; a correct
code finishes it through `signin.complete_second_factor`. Every wrong code counts toward the
progressive lockout (services/lockout.py); once the account locks, the parked sign-in is
dropped and the user has to start again after the wait.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import Response
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for

from idp import errors
from idp import runtime
from idp import web
from idp.auth import signin
from idp.extensions import db
from idp.extensions import limiter
from idp.models import User
from idp.services import backup_codes
from idp.services import lockout
from idp.services import mfa
from idp.services import totp

bp = Blueprint("mfa", __name__)

TOTP = "totp"
BACKUP_CODE = "backup_code"
# RFC 8176 §2: both an authenticator-app code and a backup code are one-time passwords.
FACTOR_AMR = {TOTP: ["otp"], BACKUP_CODE: ["otp"]}
ERRORS = {
    TOTP: "That code didn't work. Enter the current code from your authenticator app.",
    BACKUP_CODE: "That backup code didn't work. Each code can be used only once.",
}
MAX_CODE = 64


def lockout_policy() -> lockout.LockoutPolicy:
    """The configured lockout policy, for the services' `policy=` argument."""
    return lockout.LockoutPolicy.from_settings(runtime.settings())


def lockout_message(locked: lockout.AccountLocked) -> str:
    return f"Too many failed attempts. Sign-in is paused: try again in {locked.wait_text}."


def _rate_limit() -> str:
    return runtime.settings().login_rate_limit


def login_url_of_pending() -> str:
    """Back to the password page, keeping the authorization request the sign-in was for
    (read from the parked sign-in even when it has just expired)."""
    parked = session.get(signin.PENDING_KEY)
    parked = parked if isinstance(parked, dict) else {}
    return url_for(
        "auth.login",
        interaction_id=parked.get("interaction_id"),
        next=signin.safe_next(parked.get("next_url")),
    )


def render_challenge(user: User, *, status: int = 200, **context: Any) -> tuple[str, int]:
    """The second-factor page for `user` (also redrawn by the passkey views)."""
    methods = mfa.methods(user)
    return render_template(
        "login_mfa.html",
        user_email=user.email,
        methods=methods,
        has_totp=mfa.TOTP in methods,
        has_webauthn=mfa.WEBAUTHN in methods,
        has_backup_codes=mfa.BACKUP_CODES in methods,
        method=context.pop("method", TOTP if mfa.TOTP in methods else BACKUP_CODE),
        error=context.pop("error", None),
        **context,
    ), status


@bp.route("/login/mfa", methods=["GET", "POST"], endpoint="challenge")
@limiter.limit(_rate_limit, methods=["POST"])
def challenge() -> Response | tuple[str, int]:
    login_url = login_url_of_pending()  # before an expired sign-in is forgotten
    user = signin.pending_user()
    if user is None or not mfa.methods(user):  # expired, or the factors were reset meanwhile
        signin.abandon()
        return redirect(login_url, code=303)
    if request.method == "GET":
        return render_challenge(user)

    method = request.form.get("method", TOTP)
    code = request.form.get("code", "")[:MAX_CODE]
    trust_device = request.form.get("trust_device") in ("1", "on", "true")
    check = {TOTP: totp.authenticate, BACKUP_CODE: backup_codes.authenticate}.get(method)
    if check is None:
        return render_challenge(user, status=400, error="Choose a way to confirm it's you.")
    try:
        check(user, code, actor=web.actor("user", user.id), policy=lockout_policy())
    except lockout.AccountLocked as locked:
        db.session.commit()  # the failure count and the audit events
        signin.abandon()
        page = render_template(
            "login_mfa.html", locked=True, error=lockout_message(locked), login_url=login_url
        )
        return page, 429, {"Retry-After": str(locked.retry_after)}  # RFC 6585 §4
    except errors.AuthenticationFailed:
        db.session.commit()
        return render_challenge(user, error=ERRORS[method], method=method)
    return signin.complete_second_factor(user, FACTOR_AMR[method], trust_device=trust_device)


@bp.post("/login/mfa/cancel", endpoint="cancel")
def cancel() -> Response:
    """Sign in as someone else: forget the parked sign-in, back to the password page."""
    login_url = login_url_of_pending()
    signin.abandon()
    return redirect(login_url, code=303)
