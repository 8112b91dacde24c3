"""Hosted account page /account/password: change the password (the current one required),
or set one when the account has none (signed up through an upstream provider)."""

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
from idp.account.api.password import change_password
from idp.account.auth import current
from idp.account.auth import signed_in_page
from idp.extensions import limiter
from idp.services import lockout

bp = Blueprint("password_pages", __name__)

MAX_FIELD = 4096  # past the policy's maximum, so the policy says "too long"
PAGE_LIMIT = "10/minute"  # per client IP: guesses at the current password


def _page_limit() -> str:
    return PAGE_LIMIT


@bp.route("/account/password", methods=["GET", "POST"])
@limiter.limit(_page_limit, methods=["POST"])
@signed_in_page
def password() -> Any:
    user = current().user
    has_password = user.password_hash is not None
    if request.method == "GET":
        return render_template(
            "account/password.html", has_password=has_password, email=user.email, errors={}
        )
    current_password = request.form.get("current_password", "")[:MAX_FIELD] or None
    new_password = request.form.get("new_password", "")[:MAX_FIELD]
    try:
        ended = change_password(current(), current_password, new_password)
    except lockout.AccountLocked as locked:
        message = f"Too many failed attempts. Try again in {locked.wait_text}."
        page = render_template(
            "account/password.html",
            has_password=has_password,
            email=user.email,
            errors={"current_password": [message]},
        )
        return page, 429, {"Retry-After": str(locked.retry_after)}  # RFC 6585 §4
    except errors.InvalidInput as exc:
        return render_template(
            "account/password.html",
            has_password=has_password,
            email=user.email,
            errors=exc.field_errors,
        ), 422
    done = "Your password is changed." if has_password else "Your password is set."
    if ended:
        done += f" {ended} other session{'s' if ended > 1 else ''} signed out."
    flash(done, "notice")
    response: Response = redirect(url_for("password_pages.password"), code=303)
    return response
