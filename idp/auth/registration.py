"""Hosted pages around the account's e-mail address: self-registration, e-mail verification
(link or code) and password reset.

Registration started in this browser is remembered in the signed flow cookie (``registration``:
whose code to check, and the authorization request to resume). Entering the right code here
finishes the sign-in (the password was typed a minute ago, the code proves the address) and
resumes that request; the mailed link only verifies the address and invites to sign in, since
it may be opened anywhere.

Mailed links open a page with a button (GET never consumes a token: mail scanners prefetch
links). Every POST here is rate-limited per client IP; the forms that send mail (register,
"send a new code", forgot password) also per address, so nobody can flood a mailbox or renew
the code-guessing budget indefinitely by rotating IPs.
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

from idp import clock
from idp import errors
from idp import mail
from idp import runtime
from idp import web
from idp.auth import signin
from idp.extensions import db
from idp.extensions import limiter
from idp.models import Tenant
from idp.models import User
from idp.oauth import interaction
from idp.services import clients
from idp.services import email_verification
from idp.services import password_reset
from idp.services import passwords
from idp.services import registration
from idp.services import tenants
from idp.services import users
from idp.services.email_verification import TokenRejected

bp = Blueprint("registration", __name__)

STATE_KEY = "registration"
RESET_STATE_KEY = "reset_interaction"
MAX_FIELD = 2048  # longer than any valid value: the services say what is wrong with it
# Entering the code may finish the sign-in only this soon after the password was typed.
SIGN_IN_WINDOW = 30 * 60
PAGE_LIMIT = "10/minute;60/hour"  # per client IP, each form
ADDRESS_LIMIT = "5/hour"  # mails per address, for each form that sends one
Page = str | tuple[str, int] | Response


def _page_limit() -> str:
    return PAGE_LIMIT


def _address_key() -> str:
    return "reset-address:" + users.normalize_email(request.form.get("email", "")[:MAX_FIELD])


def _register_address_key() -> str:
    return "register-address:" + users.normalize_email(request.form.get("email", "")[:MAX_FIELD])


def _sent_mail(response: Response) -> bool:
    """A registration that went through (a code or a notice was mailed); a form sent back
    with mistakes mails nothing and costs the address nothing."""
    return response.status_code == 303


def _resend_address_key() -> str:
    state = _state()
    return "resend-address:" + users.normalize_email(str(state["email"]) if state else "")


def _not_resend() -> bool:
    return request.form.get("action") != "resend"


def _field(name: str) -> str:
    return request.form.get(name, "")[:MAX_FIELD]


def _pending() -> interaction.Interaction | None:
    return interaction.load(request.args.get("interaction_id"))


def _tenant(pending: interaction.Interaction | None) -> Tenant:
    """The tenant of the application the user came from, else the default one."""
    client = clients.get_by_client_id(pending.params.get("client_id", "")) if pending else None
    return tenants.get(client.tenant_id) if client else tenants.ensure_default()


@bp.app_context_processor
def _account_links() -> dict[str, Any]:
    def account_links() -> dict[str, str | None]:
        """Links under the sign-in form: registration only where the tenant allows it."""
        pending = _pending()
        interaction_id = pending.id if pending else None
        register = None
        if _tenant(pending).registration_enabled:
            register = url_for("registration.register", interaction_id=interaction_id)
        return {
            "register": register,
            "forgot": url_for("registration.forgot_password", interaction_id=interaction_id),
        }

    return {"account_links": account_links}


def _settings_policy() -> passwords.PasswordPolicy:
    return passwords.PasswordPolicy.from_settings(runtime.settings())


def _lifetimes() -> email_verification.Lifetimes:
    return email_verification.Lifetimes.from_settings(runtime.settings())


def _login_url(interaction_id: str | None = None) -> str:
    return url_for("auth.login", interaction_id=interaction_id)


# --- registration ----------------------------------------------------------------------------


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(_page_limit, methods=["POST"])
@limiter.limit(
    ADDRESS_LIMIT, key_func=_register_address_key, methods=["POST"], deduct_when=_sent_mail
)
def register() -> Page:
    pending = _pending()
    tenant = _tenant(pending)
    if not tenant.registration_enabled:
        return web.error_page("not_found", "Registration is not available here.", 404)
    interaction_id = pending.id if pending else None
    context = {
        "action": url_for("registration.register", interaction_id=interaction_id),
        "login_url": _login_url(interaction_id),
    }
    if request.method == "GET":
        return render_template("register.html", form={}, errors={}, **context)

    form = {"email": _field("email"), "name": _field("name")}
    try:
        result = registration.register(
            tenant,
            form["email"],
            _field("password"),
            form["name"],
            policy=_settings_policy(),
            lifetimes=_lifetimes(),
            actor=web.actor(),
        )
    except errors.InvalidInput as exc:
        return render_template("register.html", form=form, errors=exc.field_errors, **context), 422
    if result.user is not None and result.issued is not None:
        mail.send_verification(result.user, result.issued)
    elif result.existing is not None:
        mail.send_registration_existing(result.existing)
    db.session.commit()
    session[STATE_KEY] = {
        "user_id": result.user.id if result.user else None,
        "email": result.email,
        "interaction_id": interaction_id,
        "started": clock.epoch(),
        "attempts": 0,  # only counted here for an existing address (see _simulated)
    }
    return redirect(url_for("registration.verify_code"), code=303)


def _state() -> dict[str, Any] | None:
    state = session.get(STATE_KEY)
    if not isinstance(state, dict) or clock.epoch() - int(state.get("started", 0)) > 86400:
        return None
    return state


@bp.route("/register/verify", methods=["GET", "POST"])
@limiter.limit(_page_limit, methods=["POST"])
@limiter.limit(
    ADDRESS_LIMIT, key_func=_resend_address_key, methods=["POST"], exempt_when=_not_resend
)
def verify_code() -> Page:
    """The code form of a registration started in this browser."""
    state = _state()
    if state is None:
        return redirect(_login_url(), code=303)
    context: dict[str, Any] = {
        "mode": "code",
        "email": state["email"],
        "error": None,
        "notice": None,
        "action": url_for("registration.verify_code"),
    }
    if request.method == "GET":
        return render_template("verify_email.html", **context)

    user = db.session.get(User, state["user_id"]) if state["user_id"] else None
    if request.form.get("action") == "resend":
        if user is not None and not user.email_verified:
            issued = email_verification.start(user, lifetimes=_lifetimes(), actor=web.actor())
            mail.send_verification(user, issued)
            db.session.commit()
        session[STATE_KEY] = {**state, "started": clock.epoch(), "attempts": 0}
        context["notice"] = f"We sent a new code to {state['email']}."
        return render_template("verify_email.html", **context)

    if user is not None and user.email_verified:
        session.pop(STATE_KEY, None)  # verified by the link meanwhile
        return render_template(
            "verify_email.html", mode="verified", email=user.email, login_url=_login_url()
        )
    if user is None:
        context["error"] = _simulated(state)
        return render_template("verify_email.html", **context), 422
    try:
        email_verification.verify_code(
            user,
            _field("code"),
            email_verification.VERIFY,
            max_attempts=runtime.settings().email_code_max_attempts,
            actor=web.actor("user", user.id),
        )
    except TokenRejected as exc:
        db.session.commit()  # the attempt counts
        context["error"] = exc.detail
        return render_template("verify_email.html", **context), 422
    session.pop(STATE_KEY, None)
    interaction_id = state.get("interaction_id")
    if clock.epoch() - int(state["started"]) <= SIGN_IN_WINDOW and user.can_sign_in:
        return signin.finish(user, ["pwd"], interaction_id=interaction_id)
    db.session.commit()
    return render_template(
        "verify_email.html",
        mode="verified",
        email=user.email,
        login_url=_login_url(interaction_id),
    )


def _simulated(state: dict[str, Any]) -> str:
    """For an address that already had an account (no code was sent), answer as the real
    check would: wrong, then too many attempts, or expired."""
    settings = runtime.settings()
    if clock.epoch() - int(state["started"]) > settings.email_code_lifetime:
        return email_verification.MESSAGES["code_expired"]
    attempts = min(int(state.get("attempts", 0)) + 1, settings.email_code_max_attempts)
    session[STATE_KEY] = {**state, "attempts": attempts}
    if attempts >= settings.email_code_max_attempts:
        return email_verification.MESSAGES["too_many_attempts"]
    return email_verification.MESSAGES["wrong_code"]


# --- the mailed verification link --------------------------------------------------------------


def _rejected_page(exc: TokenRejected, template: str) -> tuple[str, int]:
    """A clear page for a dead link: 404 if we never issued it, 410 if used or expired."""
    status = 404 if exc.reason == "unknown" else 410
    return render_template(template, mode="invalid", message=exc.detail, reason=exc.reason), (
        status
    )


@bp.route("/verify-email", methods=["GET", "POST"])
@limiter.limit(_page_limit, methods=["POST"])
def verify_email() -> Page:
    token = request.args.get("token", "")
    try:
        found = email_verification.find_by_link(token, email_verification.PURPOSES)
    except TokenRejected as exc:
        return _rejected_page(exc, "verify_email.html")
    if request.method == "GET":
        return render_template(
            "verify_email.html",
            mode="link",
            email=found.email,
            change=found.purpose == email_verification.CHANGE,
            action=url_for("registration.verify_email", token=token),
        )
    try:
        verified = email_verification.verify_link(token, actor=web.actor())
    except TokenRejected as exc:
        return _rejected_page(exc, "verify_email.html")
    if verified.previous_email:
        mail.send_email_changed(verified.user, verified.previous_email)
    db.session.commit()
    state = _state()
    if state is not None and state.get("user_id") == verified.user.id:
        session.pop(STATE_KEY, None)
    signed_in = web.current_user()
    return render_template(
        "verify_email.html",
        mode="verified",
        email=verified.email,
        login_url=None if signed_in is not None else _login_url(),
    )


# --- password reset --------------------------------------------------------------------------


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(_page_limit, methods=["POST"])
@limiter.limit(ADDRESS_LIMIT, key_func=_address_key, methods=["POST"])
def forgot_password() -> Page:
    pending = _pending()
    interaction_id = pending.id if pending else None
    context = {
        "action": url_for("registration.forgot_password", interaction_id=interaction_id),
        "login_url": _login_url(interaction_id),
        "sent_to": None,
        "error": None,
    }
    if request.method == "GET":
        return render_template("forgot_password.html", email="", **context)
    email = _field("email").strip()
    if not email or len(email) > 320 or "@" not in email:
        context["error"] = "Enter the e-mail address of your account."
        return render_template("forgot_password.html", email=email[:320], **context), 422
    found = password_reset.request(
        _tenant(pending).id,
        email,
        lifetime=runtime.settings().password_reset_lifetime,
        actor=web.actor(),
    )
    if found is not None:
        mail.send_password_reset(*found)
    db.session.commit()
    if interaction_id:
        session[RESET_STATE_KEY] = interaction_id
    context["sent_to"] = email
    return render_template("forgot_password.html", email=email, **context)


@bp.route("/password/reset", methods=["GET", "POST"])
@limiter.limit(_page_limit, methods=["POST"])
def reset_password() -> Page:
    token = request.args.get("token", "")
    try:
        link = password_reset.check_link(token)
    except TokenRejected as exc:
        return _rejected_page(exc, "reset_password.html")
    context = {
        "mode": "form",
        "action": url_for("registration.reset_password", token=token),
        "email": link.user.email,
        "error": None,
    }
    if request.method == "GET":
        return render_template("reset_password.html", **context)
    try:
        user = password_reset.complete(
            token, _field("password"), policy=_settings_policy(), actor=web.actor()
        )
    except TokenRejected as exc:
        return _rejected_page(exc, "reset_password.html")
    except errors.InvalidInput as exc:
        context["error"] = " ".join(exc.field_errors.get("password", [exc.detail]))
        return render_template("reset_password.html", **context), 422
    mail.send_password_changed(user, reset=True)
    db.session.commit()
    interaction_id = session.pop(RESET_STATE_KEY, None)
    response = Response(
        render_template("reset_password.html", mode="done", login_url=_login_url(interaction_id))
    )
    current = web.current_session()
    if current is None or current.revoked_at is not None:
        web.clear_session_cookie(response)  # this browser's session ended too
    return response
