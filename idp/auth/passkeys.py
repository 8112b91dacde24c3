"""Passkey sign-in: passwordless (a discoverable credential, user verification required) and
as the second factor after the password.

The page's script (static/webauthn.js) fetches the options from a JSON endpoint (POST, with
the page's CSRF token in X-CSRFToken), runs the browser ceremony, and posts the credential's
`toJSON()` in a plain form field; the answer is a normal 303 to wherever sign-in goes next.
The id of the challenge handed out is kept in this browser's signed flow cookie, so an
assertion made for one browser's request is refused in another (on top of each challenge
being single-use, services/passkeys.py).

amr (RFC 8176 §2): a passwordless sign-in reports `hwk`, `pop`, `user` and `mfa` (possession
of the authenticator's key plus the PIN or biometric it verified); as a second factor the
passkey adds `hwk` and `pop` to `pwd` (and signin adds `mfa`).
"""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import jsonify
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for

from idp import errors
from idp import runtime
from idp import web
from idp.auth import mfa as mfa_views
from idp.auth import signin
from idp.extensions import db
from idp.extensions import limiter
from idp.oauth import interaction
from idp.services import clients
from idp.services import lockout
from idp.services import passkey_signin
from idp.services import tenants
from idp.services import webauthn_ceremonies as ceremonies

bp = Blueprint("passkeys", __name__)

PASSWORDLESS_CHALLENGE = "passkey_challenge"
SECOND_FACTOR_CHALLENGE = "passkey_mfa_challenge"
MALFORMED = "Your browser sent an unusable passkey response. Try again."


def relying_party() -> ceremonies.RelyingParty:
    """The relying party of this deployment: the issuer's host and origin."""
    return ceremonies.RelyingParty.from_settings(runtime.settings())


def _rate_limit() -> str:
    return runtime.settings().login_rate_limit


def _sign_in_target() -> tuple[interaction.Interaction | None, str]:
    """The authorization request being signed in for (if any) and the tenant it decides."""
    pending = interaction.load(request.args.get("interaction_id"))
    client = clients.get_by_client_id(pending.params.get("client_id", "")) if pending else None
    tenant_id = client.tenant_id if client is not None else tenants.ensure_default().id
    return pending, tenant_id


def _login_page(
    pending: interaction.Interaction | None, error: str, status: int
) -> tuple[str, int]:
    client = clients.get_by_client_id(pending.params.get("client_id", "")) if pending else None
    action = url_for(
        "auth.login",
        interaction_id=pending.id if pending else None,
        next=signin.safe_next(request.args.get("next")),
    )
    page = render_template(
        "login.html",
        action=action,
        client_name=client.name if client else None,
        email=None,
        error=error,
    )
    return page, status


def _json_error(status: int, message: str) -> tuple[Response, int]:
    return jsonify(error=message), status


@bp.post("/login/passkey/options", endpoint="login_options")
@limiter.limit(_rate_limit)
def login_options() -> Response:
    """Request options for a passwordless sign-in: any discoverable credential may answer."""
    _, tenant_id = _sign_in_target()
    challenge_id, options = passkey_signin.authentication_options(
        relying_party(), tenant_id=tenant_id, user=None
    )
    db.session.commit()
    session[PASSWORDLESS_CHALLENGE] = challenge_id
    return jsonify(options)


@bp.post("/login/passkey", endpoint="login")
@limiter.limit(_rate_limit)
def login() -> Response | tuple[str, int]:
    """The assertion for a passwordless sign-in; finishes it without a password."""
    pending, tenant_id = _sign_in_target()
    challenge_id = session.pop(PASSWORDLESS_CHALLENGE, "")
    try:
        verified = passkey_signin.authenticate(
            request.form.get("credential", ""),
            relying_party(),
            tenant_id=tenant_id,
            user=None,
            challenge_id=challenge_id if isinstance(challenge_id, str) else "",
            actor=web.actor(),
        )
    except errors.InvalidInput:
        return _login_page(pending, MALFORMED, 400)
    except ceremonies.PasskeyFailed as failed:
        db.session.commit()  # the used challenge is gone; the failure is audited
        return _login_page(pending, failed.detail, 200)
    db.session.commit()
    return signin.finish(
        verified.user,
        verified.amr,
        interaction_id=pending.id if pending else None,
        next_url=request.args.get("next"),
    )


@bp.post("/login/mfa/passkey/options", endpoint="mfa_options")
@limiter.limit(_rate_limit)
def mfa_options() -> Response | tuple[Response, int]:
    """Request options for the parked sign-in's second factor: that user's credentials."""
    user = signin.pending_user()
    if user is None:
        return _json_error(401, "Your sign-in has expired. Start again.")
    try:
        challenge_id, options = passkey_signin.authentication_options(
            relying_party(), tenant_id=user.tenant_id, user=user
        )
    except errors.NotFound as missing:
        return _json_error(404, missing.detail)
    db.session.commit()
    session[SECOND_FACTOR_CHALLENGE] = challenge_id
    return jsonify(options)


@bp.post("/login/mfa/passkey", endpoint="mfa")
@limiter.limit(_rate_limit)
def mfa() -> Response | tuple[str, int] | tuple[str, int, dict[str, str]]:
    """The assertion for the second factor; a failure counts toward the lockout."""
    user = signin.pending_user()
    if user is None:
        login_url = mfa_views.login_url_of_pending()
        signin.abandon()
        return redirect(login_url, code=303)
    challenge_id = session.pop(SECOND_FACTOR_CHALLENGE, "")
    trust_device = request.form.get("trust_device") in ("1", "on", "true")
    try:
        verified = passkey_signin.authenticate(
            request.form.get("credential", ""),
            relying_party(),
            tenant_id=user.tenant_id,
            user=user,
            challenge_id=challenge_id if isinstance(challenge_id, str) else "",
            actor=web.actor("user", user.id),
            policy=mfa_views.lockout_policy(),
        )
    except errors.InvalidInput:
        return mfa_views.render_challenge(user, status=400, error=MALFORMED, method="webauthn")
    except lockout.AccountLocked as locked:
        db.session.commit()  # the failure count and the audit events
        login_url = mfa_views.login_url_of_pending()
        signin.abandon()
        page = render_template(
            "login_mfa.html",
            locked=True,
            error=mfa_views.lockout_message(locked),
            login_url=login_url,
        )
        return page, 429, {"Retry-After": str(locked.retry_after)}
    except ceremonies.PasskeyFailed as failed:
        db.session.commit()
        return mfa_views.render_challenge(user, error=failed.detail, method="webauthn")
    return signin.complete_second_factor(user, verified.amr, trust_device=trust_device)
