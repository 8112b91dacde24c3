"""Devices (DESIGN §4 Session): the signed-in browsers of a user, as the user sees them.

A device is a BrowserSession row. The list holds every live session, and also a signed-out
session whose *trust* still stands: a trusted device skips the second factor at its next
sign-in, so the user must be able to see it and take the trust back.

Trust: `trust` gives a session a fresh random device token (the browser keeps it in a
long-lived cookie; the row keeps only its HMAC) and a `trusted_until`. At the next sign-in on
that browser `find_trusted` recognizes the token for the same user, the second factor is
skipped, and `carry_trust` moves the trust, token and name onto the new session, so there is
one trusted row per device. A plain sign-out leaves the trust alone; revoking the device
(`revoke`, `revoke_others`) or `untrust` clears it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy import and_
from sqlalchemy import or_
from sqlalchemy import select

from idp import clock
from idp import errors
from idp import security
from idp.extensions import db
from idp.models import BrowserSession
from idp.models import User
from idp.services import audit
from idp.services import sessions

MAX_NAME = 100
MAX_DEVICE_TOKEN = 128
REVOKED_REASON = "device_revoked"
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")

# How a revoked device's session is ended: (session, reason). The default is
# sessions.end; the web layer passes one that also sends back-channel logouts.
EndSession = Callable[[BrowserSession, str], object]

# (marker in the user agent, name), first match wins: Edge and Opera also say "Chrome",
# Chrome also says "Safari".
BROWSERS = (
    ("Edg", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
SYSTEMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("CrOS", "ChromeOS"),
    ("Macintosh", "macOS"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)


def default_name(user_agent: str | None) -> str:
    """A friendly name from the user agent, e.g. "Chrome on Linux" (shown, never stored)."""
    agent = user_agent or ""
    browser = next((name for marker, name in BROWSERS if marker in agent), None)
    system = next((name for marker, name in SYSTEMS if marker in agent), None)
    if browser and system:
        return f"{browser} on {system}"
    if browser:
        return browser
    return f"{system} device" if system else "Unknown device"


def display_name(device: BrowserSession) -> str:
    return device.name or default_name(device.user_agent)


def is_signed_in(device: BrowserSession) -> bool:
    return device.is_valid(clock.now())


def is_trusted(device: BrowserSession) -> bool:
    """Trusted right now: trust given, not expired, and a device token to prove it."""
    return (
        device.trusted
        and device.device_token_hash is not None
        and device.trusted_until is not None
        and device.trusted_until > clock.now()
    )


def _listed() -> ColumnElement[bool]:
    now = clock.now()
    live = and_(BrowserSession.revoked_at.is_(None), BrowserSession.expires_at > now)
    trusted = and_(
        BrowserSession.trusted.is_(True),
        BrowserSession.trusted_until > now,
        BrowserSession.device_token_hash.is_not(None),
    )
    return or_(live, trusted)


def for_user(user: User) -> list[BrowserSession]:
    """The user's devices, most recently seen first."""
    query = select(BrowserSession).where(
        BrowserSession.tenant_id == user.tenant_id, BrowserSession.user_id == user.id, _listed()
    )
    order = (BrowserSession.last_seen_at.desc(), BrowserSession.id.desc())
    return list(db.session.scalars(query.order_by(*order)))


def get(user: User, device_id: str) -> BrowserSession:
    """One of the user's devices; another user's, an unknown or a finished one is NotFound."""
    found = db.session.get(BrowserSession, device_id) if len(device_id) <= 36 else None
    if (
        found is None
        or found.user_id != user.id
        or found.tenant_id != user.tenant_id
        or not (is_signed_in(found) or is_trusted(found))
    ):
        raise errors.NotFound("device not found")
    return found


def _audit(event_type: str, device: BrowserSession, actor: audit.Actor, **details: Any) -> None:
    audit.record(
        event_type,
        actor=actor,
        tenant_id=device.tenant_id,
        user_id=device.user_id,
        target_type="session",
        target_id=device.id,
        **details,
    )


def rename(device: BrowserSession, name: str | None, *, actor: audit.Actor) -> BrowserSession:
    """Name the device; an empty name (or None) goes back to the one from the user agent."""
    cleaned = (name or "").strip()
    if len(cleaned) > MAX_NAME:
        raise errors.InvalidInput("name too long", {"name": [f"at most {MAX_NAME} characters"]})
    if CONTROL_CHARS.search(cleaned):
        raise errors.InvalidInput("invalid name", {"name": ["no control characters"]})
    device.name = cleaned or None
    db.session.flush()
    _audit("device.renamed", device, actor, name=device.name)
    return device


def trust(device: BrowserSession, *, days: int, actor: audit.Actor) -> str:
    """Trust the device for `days`: returns its new device token (for the browser's cookie;
    only its HMAC is kept). Any earlier token of this row stops working."""
    token = security.random_token(32)
    device.trusted = True
    device.trusted_until = clock.now() + timedelta(days=days)
    device.device_token_hash = security.hash_secret(token)
    db.session.flush()
    _audit("device.trusted", device, actor, trusted_until=device.trusted_until.isoformat())
    return token


def _clear_trust(device: BrowserSession) -> None:
    device.trusted = False
    device.trusted_until = None
    device.device_token_hash = None


def untrust(device: BrowserSession, *, actor: audit.Actor) -> BrowserSession:
    """The device asks for the second factor again at its next sign-in."""
    _clear_trust(device)
    db.session.flush()
    _audit("device.untrusted", device, actor)
    return device


def revoke(
    device: BrowserSession, *, actor: audit.Actor, end_session: EndSession | None = None
) -> None:
    """Sign the device out (if it still is signed in) and take its trust back."""
    _clear_trust(device)
    if is_signed_in(device):
        if end_session is None:
            sessions.end(device, actor=actor, reason=REVOKED_REASON)
        else:
            end_session(device, REVOKED_REASON)
    db.session.flush()
    _audit("device.revoked", device, actor)


def revoke_others(
    user: User,
    keep: BrowserSession | None,
    *,
    actor: audit.Actor,
    end_session: EndSession | None = None,
) -> int:
    """Revoke every device of the user but `keep` (the caller's own); returns how many."""
    others = [d for d in for_user(user) if keep is None or d.id != keep.id]
    for device in others:
        revoke(device, actor=actor, end_session=end_session)
    return len(others)


def find_trusted(user: User, device_token: str | None) -> BrowserSession | None:
    """The device row this browser's device token proves, when it is trusted *for this
    user* right now; None otherwise (no token, unknown, another user's, expired, revoked)."""
    if not device_token or len(device_token) > MAX_DEVICE_TOKEN:
        return None
    found: BrowserSession | None = db.session.scalar(
        select(BrowserSession).where(
            BrowserSession.device_token_hash == security.hash_secret(device_token)
        )
    )
    if found is None or found.user_id != user.id or found.tenant_id != user.tenant_id:
        return None
    return found if is_trusted(found) else None


def carry_trust(source: BrowserSession, target: BrowserSession, *, actor: audit.Actor) -> None:
    """A trusted device signed in again: the new session takes over the device's trust,
    token and name (until the same `trusted_until`), and the old row lets go of them."""
    if source.id == target.id:
        return
    target.trusted = source.trusted
    target.trusted_until = source.trusted_until
    target.device_token_hash = source.device_token_hash
    target.name = target.name or source.name
    _clear_trust(source)
    db.session.flush()
    _audit("device.recognized", target, actor, previous_session=source.id)
