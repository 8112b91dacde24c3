"""Hosted account page /account/two-step: authenticator app and backup codes.

Plain form posts (CSRF-protected), no JavaScript. New backup codes are rendered straight into
the response to the form that made them (never stored in the session or a flash message) with
Cache-Control: no-store, so they are shown exactly once.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import Response
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from idp import errors
from idp import runtime
from idp.account.api.mfa import issuer_name
from idp.account.api.mfa import keeping_failures
from idp.account.api.mfa import lockout_policy
from idp.account.api.mfa import passkey_count
from idp.account.auth import current
from idp.account.auth import signed_in_page
from idp.extensions import db
from idp.extensions import limiter
from idp.services import backup_codes
from idp.services import lockout
from idp.services import mfa
from idp.services import totp

bp = Blueprint("mfa_pages", __name__, url_prefix="/account/two-step")

MAX_FIELD = 1024


def _rate_limit() -> str:
    return runtime.settings().login_rate_limit


def _page(*, new_codes: list[str] | None = None, status: int = 200) -> Response:
    user = current().user
    found = totp.credential(user)
    response = Response(
        render_template(
            "account/two_step.html",
            user=user,
            totp_enabled=found is not None and found.confirmed,
            totp_confirmed_at=found.confirmed_at if found is not None else None,
            setup=totp.pending_setup(user, issuer_name=issuer_name(user)),
            has_second_factor=mfa.has_second_factor(user),
            has_password=user.password_hash is not None,
            passkeys=passkey_count(user),
            remaining=backup_codes.remaining(user),
            new_codes=new_codes,
        ),
        status=status,
    )
    response.headers["Cache-Control"] = "no-store"  # a setup secret or backup codes
    return response


def _back() -> Response:
    return redirect(url_for("mfa_pages.two_step"), code=303)


def _proof() -> dict[str, Any]:
    """The re-authentication a form carries: the code if one was typed, else the password."""
    code = request.form.get("code", "").strip()[:64]
    if code:
        return {"code": code}
    password = request.form.get("password", "")[:MAX_FIELD]
    return {"password": password} if password else {}


def _failed(exc: errors.IdPError) -> Response:
    if isinstance(exc, lockout.AccountLocked):
        flash(f"Too many failed attempts. Try again in {exc.wait_text}.", "error")
    elif isinstance(exc, errors.InvalidInput) and exc.field_errors:
        field = "code" if "code" in exc.field_errors else next(iter(exc.field_errors))
        flash(
            {
                "code": "That code is not correct. Enter the current code from your app.",
                "password": "That password is not correct.",
            }.get(field, exc.detail),
            "error",
        )
    else:
        flash(exc.detail, "error")
    return _back()


@bp.get("", endpoint="two_step")
@signed_in_page
def two_step() -> Response:
    return _page()


@bp.post("/totp/setup", endpoint="setup")
@signed_in_page
def setup() -> Response:
    caller = current()
    try:
        totp.begin_setup(caller.user, issuer_name=issuer_name(caller.user), actor=caller.actor)
    except errors.Conflict as exc:
        return _failed(exc)
    db.session.commit()
    return _back()


@bp.post("/totp/confirm", endpoint="confirm")
@limiter.limit(_rate_limit)
@signed_in_page
def confirm() -> Response:
    caller = current()
    try:
        codes = totp.confirm(caller.user, request.form.get("code", "")[:64], actor=caller.actor)
    except (errors.InvalidInput, errors.Conflict) as exc:
        return _failed(exc)
    db.session.commit()
    flash("Your authenticator app is on. Save your backup codes now.", "notice")
    return _page(new_codes=codes)


@bp.post("/totp/cancel", endpoint="cancel")
@signed_in_page
def cancel() -> Response:
    """Drop a setup that was never confirmed (an enabled app needs `disable`)."""
    caller = current()
    if not totp.is_enabled(caller.user) and totp.credential(caller.user) is not None:
        totp.disable(caller.user, actor=caller.actor)
        db.session.commit()
    return _back()


@bp.post("/totp/disable", endpoint="disable")
@limiter.limit(_rate_limit)
@signed_in_page
def disable() -> Response:
    caller = current()
    proof = _proof()
    if not proof:
        flash("Enter a code from your app, a backup code or your password.", "error")
        return _back()
    try:
        with keeping_failures():
            totp.disable(caller.user, actor=caller.actor, policy=lockout_policy(), **proof)
    except (errors.InvalidInput, errors.NotFound, lockout.AccountLocked) as exc:
        return _failed(exc)
    db.session.commit()
    flash("Your authenticator app is off.", "notice")
    return _back()


@bp.post("/backup-codes", endpoint="regenerate")
@limiter.limit(_rate_limit)
@signed_in_page
def regenerate() -> Response:
    caller = current()
    proof = _proof()
    if not mfa.has_second_factor(caller.user):
        flash("Set up an authenticator app or a passkey first.", "error")
        return _back()
    if not proof:
        flash("Enter a code from your app, a backup code or your password.", "error")
        return _back()
    try:
        with keeping_failures():
            totp.verify_proof(caller.user, actor=caller.actor, policy=lockout_policy(), **proof)
    except (errors.InvalidInput, lockout.AccountLocked) as exc:
        return _failed(exc)
    codes = backup_codes.regenerate(caller.user, actor=caller.actor)
    db.session.commit()
    flash("New backup codes: the old ones no longer work.", "notice")
    return _page(new_codes=codes)
