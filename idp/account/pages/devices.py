"""Hosted account page /account/devices: signed-in browsers. Rename, trust (this browser
only), untrust, sign out one, sign out all others; plain CSRF-protected form posts.
Signing out this browser ends the page's own session and goes to the sign-in page."""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from idp import errors
from idp.account.api.devices import forget_own_device
from idp.account.api.devices import serialize
from idp.account.api.devices import trust_own_device
from idp.account.auth import current
from idp.account.auth import signed_in_page
from idp.extensions import db
from idp.oauth.logout import SessionEnder
from idp.services import devices
from idp.services import sessions

bp = Blueprint("device_pages", __name__, url_prefix="/account/devices")


def _back() -> Response:
    return redirect(url_for("device_pages.devices"), code=303)


@bp.get("", endpoint="devices")
@signed_in_page
def devices_page() -> str:
    caller = current()
    current_id = current().session_id
    found = [serialize(device, current_id) for device in devices.for_user(caller.user)]
    found.sort(key=lambda device: not device["current"])  # this browser first
    return render_template(
        "account/devices.html",
        devices=found,
        max_name=devices.MAX_NAME,
        # Only a session signed in with two factors may waive the second factor later.
        can_trust=caller.session is not None and caller.session.acr == sessions.ACR_MULTI_FACTOR,
    )


@bp.post("/<device_id>/rename", endpoint="rename")
@signed_in_page
def rename(device_id: str) -> Response:
    caller = current()
    try:
        device = devices.get(caller.user, device_id)
        devices.rename(device, request.form.get("name", "")[:1000], actor=caller.actor)
    except errors.IdPError as exc:
        db.session.rollback()
        flash(_message(exc), "error")
        return _back()
    db.session.commit()
    flash(f"Renamed to “{devices.display_name(device)}”.")
    return _back()


@bp.post("/<device_id>/trust", endpoint="trust")
@signed_in_page
def trust(device_id: str) -> Response:
    caller = current()
    try:
        device = devices.get(caller.user, device_id)
        trust_own_device(caller, device)
    except errors.IdPError as exc:
        db.session.rollback()
        flash(_message(exc), "error")
        return _back()
    db.session.commit()
    flash("This device won't ask for your second step when you sign in.")
    return _back()


@bp.post("/<device_id>/untrust", endpoint="untrust")
@signed_in_page
def untrust(device_id: str) -> Response:
    caller = current()
    try:
        device = devices.get(caller.user, device_id)
    except errors.NotFound as exc:
        flash(_message(exc), "error")
        return _back()
    devices.untrust(device, actor=caller.actor)
    forget_own_device(caller, device, signed_out=False)
    db.session.commit()
    flash(f"“{devices.display_name(device)}” will ask for your second step again.")
    return _back()


@bp.post("/<device_id>/revoke", endpoint="revoke")
@signed_in_page
def revoke(device_id: str) -> Response:
    caller = current()
    try:
        device = devices.get(caller.user, device_id)
    except errors.NotFound as exc:
        flash(_message(exc), "error")
        return _back()
    ender = SessionEnder(caller.actor)
    devices.revoke(device, actor=caller.actor, end_session=ender)
    db.session.commit()
    ender.deliver()
    if device.id == current().session_id:
        forget_own_device(caller, device, signed_out=True)
        return redirect(url_for("auth.login"), code=303)
    flash(f"Signed out “{devices.display_name(device)}”.")
    return _back()


@bp.post("/revoke-others", endpoint="revoke_others")
@signed_in_page
def revoke_others() -> Response:
    caller = current()
    ender = SessionEnder(caller.actor)
    count = devices.revoke_others(
        caller.user, caller.session, actor=caller.actor, end_session=ender
    )
    db.session.commit()
    ender.deliver()
    flash(f"Signed out {count} other device{'s' if count != 1 else ''}.")
    return _back()


def _message(exc: errors.IdPError) -> str:
    if isinstance(exc, errors.NotFound):
        return "That device is no longer signed in."
    if isinstance(exc, errors.InvalidInput):
        return f"Use at most {devices.MAX_NAME} characters, without control characters."
    return exc.detail
