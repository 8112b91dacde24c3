"""/account/v1/devices: the signed-in user's devices (browser sessions), with rename, trust,
revoke one and revoke all others (services/devices.py).

"Current" is the browser the caller uses: the session cookie's session or, with an access
token, the session the token was issued through (its `sid` claim), while it lasts.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import after_this_request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from idp import errors
from idp import runtime
from idp import web
from idp.account import PREFIX
from idp.account.auth import AccountCaller
from idp.account.auth import current
from idp.auth import signin
from idp.extensions import db
from idp.models import BrowserSession
from idp.oauth.logout import SessionEnder
from idp.services import devices
from idp.services import sessions

blp = Blueprint(
    "account_devices", __name__, url_prefix=PREFIX, description="Devices (browser sessions)"
)

STRICT_BOOL = {"truthy": {True}, "falsy": {False}}


class DeviceSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(
        required=True,
        metadata={"description": "The name given, or one made from the user agent"},
    )
    user_agent = fields.String(required=True, allow_none=True)
    ip = fields.String(required=True, allow_none=True)
    created_at = fields.AwareDateTime(required=True)
    last_seen_at = fields.AwareDateTime(required=True)
    signed_in = fields.Boolean(
        required=True,
        metadata={"description": "false for a signed-out device that is still trusted"},
    )
    trusted = fields.Boolean(
        required=True, metadata={"description": "Skips the second factor until trusted_until"}
    )
    trusted_until = fields.AwareDateTime(required=True, allow_none=True)
    current = fields.Boolean(required=True, metadata={"description": "The caller's own browser"})


class DeviceListSchema(Schema):
    items = fields.List(fields.Nested(DeviceSchema), required=True)
    total = fields.Integer(required=True)


class DevicePatchSchema(Schema):
    name = fields.String(
        allow_none=True,
        validate=validate.Length(max=devices.MAX_NAME),
        metadata={"description": "Empty or null: back to the name from the user agent"},
    )
    trusted = fields.Boolean(
        **STRICT_BOOL,
        metadata={
            "description": "true: trust the caller's own browser (session cookie only, signed "
            "in with two factors); false: stop trusting any device"
        },
    )


class RevokedSchema(Schema):
    revoked = fields.Integer(required=True)


# --- shared with the hosted devices page -------------------------------------------------------


def serialize(device: BrowserSession, current_id: str | None) -> dict[str, Any]:
    trusted = devices.is_trusted(device)
    return {
        "id": device.id,
        "name": devices.display_name(device),
        "user_agent": device.user_agent,
        "ip": device.ip,
        "created_at": device.created_at,
        "last_seen_at": device.last_seen_at,
        "signed_in": devices.is_signed_in(device),
        "trusted": trusted,
        "trusted_until": device.trusted_until if trusted else None,
        "current": device.id == current_id,
    }


def trust_own_device(caller: AccountCaller, device: BrowserSession) -> None:
    """Trust the caller's own browser: only it can receive the device cookie, and only a
    session signed in with two factors may waive the second factor for later sign-ins."""
    if caller.session is None or caller.session.id != device.id:
        raise errors.Conflict(
            "Only the device itself can be trusted: sign in on it and choose to trust it"
        )
    if device.acr != sessions.ACR_MULTI_FACTOR:
        raise errors.Forbidden("Sign in with your second factor on this device to trust it")
    token = devices.trust(device, days=runtime.settings().trusted_device_days, actor=caller.actor)

    @after_this_request
    def set_cookie(response: Response) -> Response:
        signin.set_device_cookie(response, token)
        return response


def forget_own_device(caller: AccountCaller, device: BrowserSession, *, signed_out: bool) -> None:
    """After the caller's own browser lost its trust (or was revoked), drop its cookies."""
    if caller.session is None or caller.session.id != device.id:
        return

    @after_this_request
    def clear_cookies(response: Response) -> Response:
        signin.clear_device_cookie(response)
        if signed_out:
            web.clear_session_cookie(response)
        return response


# --- endpoints ---------------------------------------------------------------------------------


@blp.route("/devices")
class Devices(MethodView):
    @blp.response(200, DeviceListSchema)
    def get(self) -> dict[str, Any]:
        """List your devices

        Every signed-in browser, and signed-out ones that are still trusted, most recently
        seen first. `current` marks the caller's own browser.
        """
        caller = current()
        current_id = caller.session_id
        found = devices.for_user(caller.user)
        return {"items": [serialize(d, current_id) for d in found], "total": len(found)}


@blp.route("/devices/revoke-others")
class RevokeOtherDevices(MethodView):
    @blp.response(200, RevokedSchema)
    def post(self) -> dict[str, int]:
        """Sign out all other devices

        Signs out and untrusts every device but the caller's own browser; returns how many.
        With the session cookie, the browser calling is kept. With an access token, the
        session the token was issued through (`sid`) is kept while it lasts; a token without
        a live session keeps none (the token itself keeps working: it is not a device).
        """
        caller = current()
        current_id = caller.session_id
        keep = next((d for d in devices.for_user(caller.user) if d.id == current_id), None)
        ender = SessionEnder(caller.actor)
        revoked = devices.revoke_others(caller.user, keep, actor=caller.actor, end_session=ender)
        db.session.commit()
        ender.deliver()
        return {"revoked": revoked}


@blp.route("/devices/<device_id>")
class DeviceItem(MethodView):
    @blp.response(200, DeviceSchema)
    def get(self, device_id: str) -> dict[str, Any]:
        """Get one of your devices

        404 for a device that is not yours, or no longer signed in nor trusted.
        """
        caller = current()
        device = devices.get(caller.user, device_id)
        return serialize(device, caller.session_id)

    @blp.arguments(DevicePatchSchema)
    @blp.response(200, DeviceSchema)
    def patch(self, changes: dict[str, Any], device_id: str) -> dict[str, Any]:
        """Rename or (un)trust one of your devices

        `name` (at most 100 characters; empty or null restores the name made from the user
        agent). `trusted: false` stops trusting any device. `trusted: true` trusts only the
        caller's own browser, with the session cookie (it receives the device cookie), signed
        in with two factors: 409 for another device or an access-token caller, 403 for a
        session signed in with one factor.
        """
        caller = current()
        device = devices.get(caller.user, device_id)
        if "name" in changes:
            devices.rename(device, changes["name"], actor=caller.actor)
        if changes.get("trusted") is True:
            trust_own_device(caller, device)
        elif changes.get("trusted") is False:
            devices.untrust(device, actor=caller.actor)
            forget_own_device(caller, device, signed_out=False)
        db.session.commit()
        return serialize(device, caller.session_id)

    @blp.response(204)
    def delete(self, device_id: str) -> None:
        """Sign out one of your devices

        Ends its session (its relying parties get a back-channel logout) and takes its trust
        back. Revoking the caller's own browser signs it out.
        """
        caller = current()
        device = devices.get(caller.user, device_id)
        ender = SessionEnder(caller.actor)
        devices.revoke(device, actor=caller.actor, end_session=ender)
        db.session.commit()
        ender.deliver()
        forget_own_device(caller, device, signed_out=True)
