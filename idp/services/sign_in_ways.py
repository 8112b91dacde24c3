"""The ways a user can sign in, so that removing one (a passkey, a linked account) never
locks them out of their own account."""

from __future__ import annotations

from sqlalchemy import exists
from sqlalchemy import select

from idp.extensions import db
from idp.models import Identity
from idp.models import User
from idp.models import WebAuthnCredential

PASSWORD = "password"
PASSKEY = "passkey"
IDENTITY = "identity"


def remaining(
    user: User, *, without_passkey: str | None = None, without_identity: str | None = None
) -> list[str]:
    """What the user could still sign in with, leaving out one passkey or linked identity."""
    ways = []
    if user.password_hash is not None:
        ways.append(PASSWORD)
    passkeys = exists().where(WebAuthnCredential.user_id == user.id)
    if without_passkey is not None:
        passkeys = passkeys.where(WebAuthnCredential.id != without_passkey)
    if db.session.scalar(select(passkeys)):
        ways.append(PASSKEY)
    identities = exists().where(Identity.user_id == user.id)
    if without_identity is not None:
        identities = identities.where(Identity.id != without_identity)
    if db.session.scalar(select(identities)):
        ways.append(IDENTITY)
    return ways
