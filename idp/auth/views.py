"""Hosted sign-in, consent and sign-out pages (plain form POSTs, CSRF-protected)."""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from idp import errors
from idp import runtime
from idp import web
from idp.auth import signin
from idp.auth.mfa import lockout_message
from idp.extensions import db
from idp.extensions import limiter
from idp.models import Client
from idp.oauth import claims
from idp.oauth import interaction
from idp.services import clients
from idp.services import consent
from idp.services import lockout
from idp.services import tenants
from idp.services import users

bp = Blueprint("auth", __name__)

MAX_FIELD = 1024


def _client_of(pending: interaction.Interaction | None) -> Client | None:
    return clients.get_by_client_id(pending.params.get("client_id", "")) if pending else None


def _login_rate_limit() -> str:
    return runtime.settings().login_rate_limit


def _account_rate_limit() -> str:
    return runtime.settings().login_account_rate_limit


def _account_key() -> str:
    """Guesses against one account from many addresses share one budget."""
    return "login-account:" + users.normalize_email(request.form.get("email", "")[:MAX_FIELD])


@bp.get("/")
def home() -> str:
    return render_template("home.html", user=web.current_user())


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_rate_limit, methods=["POST"])
@limiter.limit(_account_rate_limit, key_func=_account_key, methods=["POST"])
def login() -> Response | str | tuple[str, int]:
    pending = interaction.load(request.args.get("interaction_id"))
    client = _client_of(pending)
    next_url = signin.safe_next(request.args.get("next"))
    action = url_for("auth.login", interaction_id=pending.id if pending else None, next=next_url)
    context = {"action": action, "client_name": client.name if client else None}
    signed_in = web.current_user()
    context["reauthenticating"] = signed_in is not None
    if request.method == "GET":
        hint = pending.params.get("login_hint") if pending else None
        if signed_in is not None:  # confirming who they are (prompt=login, max_age, account)
            hint = signed_in.email
        return render_template("login.html", email=hint, error=None, **context)

    email = request.form.get("email", "")[:MAX_FIELD]
    password = request.form.get("password", "")[:MAX_FIELD]
    tenant_id = client.tenant_id if client else tenants.ensure_default().id
    try:
        user = users.authenticate(
            tenant_id,
            email,
            password,
            actor=web.actor(),
            lockout_policy=lockout.LockoutPolicy.from_settings(runtime.settings()),
        )
    except lockout.AccountLocked as locked:
        db.session.commit()  # keep the audit events and the failure count
        page = render_template("login.html", email=email, error=lockout_message(locked), **context)
        return page, 429, {"Retry-After": str(locked.retry_after)}  # RFC 6585 §4
    except errors.AuthenticationFailed:
        db.session.commit()  # keep the failed-attempt audit event
        return render_template(
            "login.html", email=email, error="Incorrect e-mail address or password.", **context
        ), 200

    return signin.begin(
        user,
        ["pwd"],
        interaction_id=pending.id if pending else None,
        next_url=request.args.get("next"),
    )


@bp.route("/consent", endpoint="consent", methods=["GET", "POST"])
def consent_page() -> Response | str | tuple[str, int]:
    pending = interaction.load(request.args.get("interaction_id"))
    client = _client_of(pending)
    if pending is None or client is None:
        return web.error_page("invalid_request", "This request has expired. Start again.")
    user = web.current_user()
    if user is None or user.tenant_id != client.tenant_id:
        return redirect(url_for("auth.login", interaction_id=pending.id), code=303)
    scope = client.get_allowed_scope(pending.params.get("scope", ""))

    if request.method == "GET":
        return render_template(
            "consent.html",
            action=url_for("auth.consent", interaction_id=pending.id),
            client_name=client.name,
            user_email=user.email,
            scopes=claims.describe(scope),
        )
    decision = request.form.get("decision")
    if decision not in ("allow", "deny"):
        return web.error_page("invalid_request", "Choose Allow or Deny.")
    if decision == "allow":
        consent.remember(user, client, scope.split(), actor=web.actor("user", user.id))
        db.session.commit()
    pending.consent = decision
    pending.user_id = user.id
    interaction.save(pending)
    return redirect(pending.resume_url, code=303)
