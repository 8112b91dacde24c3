"""Finishing a sign-in, whichever way it started (password, passkey, e-mail link).

After the first factor, `begin` either finishes at once or, when the user has a second factor
and this browser is not a trusted device, parks a *pending sign-in* in the signed flow cookie
and sends the browser to the second-factor page. `complete_second_factor` finishes it. Either
way `finish` starts (or refreshes) the SSO session and resumes the authorization request or
goes to the page the user asked for.

Trusted devices (services/devices.py): when the user ticks "don't ask again on this device",
`finish` trusts the new session and gives the browser a long-lived `idp_device` cookie with
the device token. At the next sign-in of the *same user* on that browser, `begin` skips the
second factor (the password step and its lockout still apply) and `finish` moves the device's
trust onto the new session.
"""

from __future__ import annotations

from dataclasses import asdict
from dataclasses import dataclass
from datetime import timedelta

from flask import Response
from flask import redirect
from flask import request
from flask import session
from flask import url_for

from idp import clock
from idp import runtime
from idp import web
from idp.extensions import db
from idp.models import BrowserSession
from idp.models import User
from idp.oauth import interaction
from idp.oauth.logout import end_and_notify
from idp.services import audit
from idp.services import devices
from idp.services import lockout
from idp.services import mfa
from idp.services import sessions

PENDING_KEY = "pending_sign_in"
SECOND_FACTOR_AMR = "mfa"
DEVICE_COOKIE = "idp_device"


@dataclass
class PendingSignIn:
    """A user who passed the first factor and still owes the second."""

    user_id: str
    amr: list[str]
    interaction_id: str | None
    next_url: str | None
    started: int


def safe_next(url: str | None) -> str | None:
    """A local path to go to after sign-in; anything else (another host, a scheme, a
    protocol-relative or backslash trick) is dropped, so sign-in is never an open redirect."""
    if not url or len(url) > 512 or not url.startswith("/") or url.startswith("//"):
        return None
    if "\\" in url or any(ord(ch) < 0x20 for ch in url):
        return None
    return url


def begin(
    user: User,
    amr: list[str],
    *,
    interaction_id: str | None,
    next_url: str | None = None,
    trusted_device: bool = False,
) -> Response:
    """The first factor is done: ask for the second one if the user has one, unless this
    browser is a device the user trusted."""
    if not trusted_device and mfa.has_second_factor(user):
        device = trusted_device_of(user)
        if device is None:
            session[PENDING_KEY] = asdict(
                PendingSignIn(user.id, amr, interaction_id, safe_next(next_url), clock.epoch())
            )
            db.session.commit()  # the first factor's audit event, even if the second never comes
            return redirect(url_for("mfa.challenge"), code=303)
        # Complete without the second step: leave a trace of the waiver.
        audit.record(
            "mfa.skipped",
            actor=web.actor("user", user.id),
            tenant_id=user.tenant_id,
            user_id=user.id,
            target_type="session",
            target_id=device.id,
            reason="trusted_device",
        )
    lockout.record_success(user)  # the sign-in is complete: forget earlier failures
    return finish(user, amr, interaction_id=interaction_id, next_url=next_url)


def trusted_device_of(user: User) -> BrowserSession | None:
    """The device row this browser's `idp_device` cookie proves trusted for `user`."""
    return devices.find_trusted(user, request.cookies.get(DEVICE_COOKIE))


def set_device_cookie(response: Response, token: str) -> None:
    settings = runtime.settings()
    response.set_cookie(
        DEVICE_COOKIE,
        token,
        max_age=settings.trusted_device_days * 24 * 3600,
        httponly=True,
        secure=settings.https,
        samesite="Lax",
        path="/",
    )


def clear_device_cookie(response: Response) -> None:
    settings = runtime.settings()
    response.delete_cookie(
        DEVICE_COOKIE, path="/", secure=settings.https, httponly=True, samesite="Lax"
    )


def pending() -> PendingSignIn | None:
    """The parked sign-in of this browser, unless it has expired."""
    data = session.get(PENDING_KEY)
    if not isinstance(data, dict):
        return None
    parked = PendingSignIn(**data)
    if clock.epoch() - parked.started > runtime.settings().mfa_challenge_lifetime:
        session.pop(PENDING_KEY, None)
        return None
    return parked


def pending_user() -> User | None:
    parked = pending()
    if parked is None:
        return None
    user = db.session.get(User, parked.user_id)
    return user if user is not None and user.can_sign_in else None


def abandon() -> None:
    session.pop(PENDING_KEY, None)


def complete_second_factor(
    user: User, factor_amr: list[str], *, trust_device: bool = False
) -> Response:
    """The second factor checked out for the parked sign-in's user: finish it. With
    `trust_device`, this browser skips the second factor for a while (the user ticked
    "don't ask again on this device")."""
    parked = pending()
    assert parked is not None and parked.user_id == user.id
    session.pop(PENDING_KEY, None)
    amr = list(dict.fromkeys([*parked.amr, *factor_amr, SECOND_FACTOR_AMR]))
    return finish(
        user,
        amr,
        interaction_id=parked.interaction_id,
        next_url=parked.next_url,
        trust_device=trust_device,
    )


def finish(
    user: User,
    amr: list[str],
    *,
    interaction_id: str | None,
    next_url: str | None = None,
    trust_device: bool = False,
) -> Response:
    """Start or refresh the SSO session, commit, then resume where the user was going.
    With `trust_device`, the session becomes a trusted device (and the browser gets the
    device cookie); on a device already trusted, the session inherits that trust."""
    previous = web.current_session()
    device = trusted_device_of(user)
    cookie_token = device_token = None
    actor = web.actor("user", user.id)
    user.last_login_at = clock.now()
    if previous is not None and previous.user_id == user.id:
        # Re-authentication (prompt=login, max_age): same session, fresh auth_time, so the
        # relying parties already signed in through it keep their tokens.
        sessions.reauthenticate(previous, amr=amr, actor=actor)
        current = previous
    else:
        if previous is not None:  # another user takes over this browser
            end_and_notify(previous, reason="new_login")
        started = sessions.start(user, amr=amr, lifetime=_session_lifetime(), actor=actor)
        cookie_token = started.cookie_token
        current = started.session
    if device is not None:
        devices.carry_trust(device, current, actor=actor)
    if trust_device:
        days = runtime.settings().trusted_device_days
        device_token = devices.trust(current, days=days, actor=actor)
    db.session.commit()
    pending_request = interaction.load(interaction_id)
    if pending_request is not None:
        pending_request.login_at = clock.epoch()
        pending_request.user_id = user.id
        pending_request.consent = None
        interaction.save(pending_request)
        response = redirect(pending_request.resume_url, code=303)
    else:
        response = redirect(safe_next(next_url) or url_for("auth.home"), code=303)
    if cookie_token is not None:
        web.set_session_cookie(response, cookie_token)
    if device_token is not None:
        set_device_cookie(response, device_token)
    return response


def _session_lifetime() -> timedelta:
    return timedelta(seconds=runtime.settings().session_lifetime)
