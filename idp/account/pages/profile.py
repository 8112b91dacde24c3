"""Hosted account page /account: the profile, the e-mail address and its verification.

One page, several small forms (plain POSTs with CSRF), told apart by their `action`:
`profile` (names, picture, locale, time zone), `change_email` (mails a code and a link to
the new address), `confirm_email` (that code), `cancel_email`, and `send_verification`
(a code for the current address while it is unverified).
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
from idp import mail
from idp import runtime
from idp.account.api.profile import confirm_email_change
from idp.account.api.profile import start_email_change
from idp.account.auth import current
from idp.account.auth import signed_in_page
from idp.extensions import db
from idp.extensions import limiter
from idp.services import email_verification
from idp.services import profiles

bp = Blueprint("profile_pages", __name__)

MAX_FIELD = 4096
PAGE_LIMIT = "20/minute"  # per client IP, posts only
PROFILE_FIELDS = ("name", "given_name", "family_name", "nickname", "picture", "locale", "zoneinfo")


def _page_limit() -> str:
    return PAGE_LIMIT


def _page(errors_: dict[str, list[str]] | None = None, status: int = 200, **extra: Any) -> Any:
    user = current().user
    return render_template(
        "account/profile.html",
        user=user,
        fields=PROFILE_FIELDS,
        pending_email=email_verification.pending_email(user),
        verifying=email_verification.latest(user, email_verification.VERIFY) is not None,
        errors=errors_ or {},
        **extra,
    ), status


def _done(message: str) -> Response:
    flash(message, "notice")
    return redirect(url_for("profile_pages.profile"), code=303)


@bp.route("/account", methods=["GET", "POST"])
@limiter.limit(_page_limit, methods=["POST"])
@signed_in_page
def profile() -> Any:
    if request.method == "GET":
        return _page()
    user = current().user
    action = request.form.get("action")
    form = {name: request.form.get(name, "")[:MAX_FIELD] for name in request.form}
    try:
        if action == "profile":
            changes = {name: form.get(name, "") for name in PROFILE_FIELDS}
            profiles.update(user, changes, actor=current().actor)
            db.session.commit()
            return _done("Your profile is saved.")
        if action == "change_email":
            new_email = form.get("email", "").strip()
            if new_email.lower() == user.email_normalized:
                raise errors.InvalidInput(
                    "same address", {"email": ["This is already your e-mail address."]}
                )
            start_email_change(user, new_email)
            return _done(f"We sent a code and a link to {new_email}.")
        if action == "confirm_email":
            confirm_email_change(user, form.get("code", ""))
            return _done(f"Your e-mail address is now {user.email}.")
        if action == "cancel_email":
            email_verification.cancel(user, email_verification.CHANGE, actor=current().actor)
            db.session.commit()
            return _done("The e-mail change is cancelled.")
        if action == "send_verification" and not user.email_verified:
            issued = email_verification.start(
                user,
                lifetimes=email_verification.Lifetimes.from_settings(runtime.settings()),
                actor=current().actor,
            )
            mail.send_verification(user, issued)
            db.session.commit()
            return _done(f"We sent a code and a link to {user.email}.")
        if action == "confirm_verification":
            _confirm_current(form.get("code", ""))
            return _done("Your e-mail address is verified.")
    except errors.InvalidInput as exc:
        db.session.rollback()
        return _page(exc.field_errors or {"form": [exc.detail]}, 422, form=form)
    except errors.Conflict as exc:
        db.session.rollback()
        return _page({"email": [exc.detail]}, 409, form=form)
    return _page({"form": ["Choose an action."]}, 400, form=form)


def _confirm_current(code: str) -> None:
    caller = current()
    try:
        email_verification.verify_code(
            caller.user,
            code,
            email_verification.VERIFY,
            max_attempts=runtime.settings().email_code_max_attempts,
            actor=caller.actor,
        )
    except email_verification.TokenRejected as exc:
        db.session.commit()  # the attempt counts
        raise errors.InvalidInput(exc.detail, {"verify_code": [exc.detail]}) from None
    db.session.commit()
