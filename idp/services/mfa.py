"""What second factors a user has. The factor services (totp, backup_codes, passkeys) own
enrolment and checks; this module answers "does sign-in need a second step?"."""

from __future__ import annotations

from sqlalchemy import exists
from sqlalchemy import select

from idp.extensions import db
from idp.models import BackupCode
from idp.models import TotpCredential
from idp.models import User
from idp.models import WebAuthnCredential

TOTP = "totp"
WEBAUTHN = "webauthn"
BACKUP_CODES = "backup_codes"


def methods(user: User) -> list[str]:
    """The user's usable second-factor methods, in the order the sign-in page offers them."""
    found = []
    if db.session.scalar(
        select(
            exists().where(
                TotpCredential.user_id == user.id, TotpCredential.confirmed_at.is_not(None)
            )
        )
    ):
        found.append(TOTP)
    if db.session.scalar(select(exists().where(WebAuthnCredential.user_id == user.id))):
        found.append(WEBAUTHN)
    if db.session.scalar(
        select(exists().where(BackupCode.user_id == user.id, BackupCode.used_at.is_(None)))
    ):
        found.append(BACKUP_CODES)
    return found


def has_second_factor(user: User) -> bool:
    """A confirmed authenticator app or a passkey means the password alone is not enough.
    Backup codes only stand in for those; on their own they enrol nothing."""
    enrolled = methods(user)
    return TOTP in enrolled or WEBAUTHN in enrolled
