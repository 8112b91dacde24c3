"""Hosted account page /account/passkeys: passkeys and security keys.

Adding one needs JavaScript (the WebAuthn ceremony): static/webauthn.js fetches the creation
options from /account/v1/passkeys/registration-options (the session cookie plus the page's
CSRF token) and posts the new credential here in a plain form. Renaming and removing are
plain form posts that work without JavaScript.
"""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from idp import errors
from idp import runtime
from idp.account.api.passkeys import relying_party
from idp.account.auth import current
from idp.account.auth import reauthentication_url
from idp.account.auth import recently_authenticated
from idp.account.auth import require_recent_authentication
from idp.account.auth import signed_in_page
from idp.extensions import db
from idp.extensions import limiter
from idp.services import passkeys

bp = Blueprint("passkey_pages", __name__, url_prefix="/account/passkeys")

MAX_FIELD = 1024


def _rate_limit() -> str:
    return runtime.settings().login_rate_limit


def _back() -> Response:
    return redirect(url_for("passkey_pages.passkeys"), code=303)


@bp.get("", endpoint="passkeys")
@signed_in_page
def passkeys_page() -> str:
    return render_template(
        "account/passkeys.html",
        passkeys=passkeys.credentials(current().user),
        name_max=passkeys.NAME_MAX,
        can_add=recently_authenticated(),
        reauthentication_url=reauthentication_url(),
    )


@bp.post("", endpoint="add")
@limiter.limit(_rate_limit)
@signed_in_page
def add() -> Response:
    require_recent_authentication()
    caller = current()
    name = request.form.get("name", "")[:MAX_FIELD].strip() or None
    try:
        created = passkeys.register(
            caller.user,
            request.form.get("credential", ""),
            relying_party(),
            name=name,
            actor=caller.actor,
        )
    except (errors.InvalidInput, errors.Conflict) as exc:
        db.session.commit()  # the challenge is used up either way; keep the audit event
        flash(exc.detail, "error")
        return _back()
    db.session.commit()
    flash(f"Passkey “{created.name}” added.", "notice")
    return _back()


@bp.post("/<string:passkey_id>/rename", endpoint="rename")
@signed_in_page
def rename(passkey_id: str) -> Response:
    caller = current()
    try:
        passkeys.rename(
            caller.user, passkey_id, request.form.get("name", "")[:MAX_FIELD], actor=caller.actor
        )
    except (errors.InvalidInput, errors.NotFound) as exc:
        flash(exc.detail, "error")
        return _back()
    db.session.commit()
    flash("Passkey renamed.", "notice")
    return _back()


@bp.post("/<string:passkey_id>/delete", endpoint="delete")
@signed_in_page
def delete(passkey_id: str) -> Response:
    require_recent_authentication()  # removing one can turn two-step sign-in off
    caller = current()
    try:
        passkeys.delete_credential(caller.user, passkey_id, actor=caller.actor)
    except (errors.NotFound, errors.Conflict) as exc:
        flash(exc.detail, "error")
        return _back()
    db.session.commit()
    flash("Passkey removed.", "notice")
    return _back()
