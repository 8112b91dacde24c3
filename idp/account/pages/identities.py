"""Hosted account page /account/linked: upstream accounts linked to the user; unlink one
(never the last way to sign in). A plain CSRF-protected form post."""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import flash
from flask import redirect
from flask import render_template
from flask import url_for

from idp import errors
from idp.account.auth import current
from idp.account.auth import signed_in_page
from idp.extensions import db
from idp.services import identities

bp = Blueprint("identity_pages", __name__, url_prefix="/account/linked")


@bp.get("", endpoint="linked")
@signed_in_page
def linked() -> str:
    user = current().user
    return render_template(
        "account/linked.html",
        identities=identities.for_user(user),
        has_password=user.password_hash is not None,
    )


@bp.post("/<identity_id>/unlink", endpoint="unlink")
@signed_in_page
def unlink(identity_id: str) -> Response:
    caller = current()
    try:
        identity = identities.get(caller.user, identity_id)
        identities.unlink(caller.user, identity, actor=caller.actor)
    except errors.NotFound:
        flash("That account is no longer linked.", "error")
    except errors.Conflict:
        db.session.rollback()
        flash(
            "You can't unlink your only way to sign in. Set a password or add a passkey first.",
            "error",
        )
    else:
        db.session.commit()
        flash(f"Unlinked your {identity.provider.title()} account.")
    return redirect(url_for("identity_pages.linked"), code=303)
