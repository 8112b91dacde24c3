"""What second factors a user has. The factor services (totp, backup_codes, passkeys) own
enrolment and checks; this module answers "does sign-in need a second step?"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy import exists
from sqlalchemy import or_
from sqlalchemy import select

from idp import errors
from idp.extensions import db
from idp.models import BackupCode
from idp.models import TotpCredential
from idp.models import User
from idp.models import WebAuthnCredential
from idp.services import audit
from idp.services import sessions

TOTP = "totp"
WEBAUTHN = "webauthn"
BACKUP_CODES = "backup_codes"
ALL_METHODS = (TOTP, WEBAUTHN, BACKUP_CODES)
TOTP_STEP_SECONDS = 30


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


UNVERIFIED = "Verify your e-mail address before adding a way to sign in"


def ensure_may_enrol(user: User) -> None:
    """A second factor or a passkey binds a way in to the account, so the account's address
    must be proven first: otherwise someone who registered a victim's address could plant
    their own passkey before the owner ever claims it (account pre-hijacking)."""
    if not user.email_verified:
        raise errors.Conflict(UNVERIFIED)


def has_second_factor(user: User) -> bool:
    """A confirmed authenticator app or a passkey means the password alone is not enough.
    Backup codes only stand in for those; on their own they enrol nothing. One query: it is
    asked on every password sign-in."""
    totp = exists().where(
        TotpCredential.user_id == user.id, TotpCredential.confirmed_at.is_not(None)
    )
    passkey = exists().where(WebAuthnCredential.user_id == user.id)
    return bool(db.session.scalar(select(or_(totp, passkey))))


# --- enrolments, for administrators ----------------------------------------------------------


@dataclass(frozen=True)
class Enrolment:
    """One enrolment as an administrator sees it. Backup codes are one enrolment (the set),
    with `remaining` unused codes; `id` is None for it."""

    method: str
    id: str | None
    name: str
    confirmed: bool
    created_at: datetime
    last_used_at: datetime | None = None
    remaining: int | None = None


def enrolments(user: User) -> list[Enrolment]:
    """Every enrolment of the user, unconfirmed authenticator-app setups included."""
    found = []
    totp = db.session.scalar(select(TotpCredential).where(TotpCredential.user_id == user.id))
    if totp is not None:
        step = totp.last_used_step
        found.append(
            Enrolment(
                TOTP,
                totp.id,
                "Authenticator app",
                totp.confirmed,
                totp.created_at,
                datetime.fromtimestamp(step * TOTP_STEP_SECONDS, UTC) if step else None,
            )
        )
    for credential in db.session.scalars(
        select(WebAuthnCredential)
        .where(WebAuthnCredential.user_id == user.id)
        .order_by(WebAuthnCredential.created_at, WebAuthnCredential.id)
    ):
        found.append(
            Enrolment(
                WEBAUTHN,
                credential.id,
                credential.name,
                True,
                credential.created_at,
                credential.last_used_at,
            )
        )
    codes = list(db.session.scalars(select(BackupCode).where(BackupCode.user_id == user.id)))
    if codes:
        used = [code.used_at for code in codes if code.used_at is not None]
        found.append(
            Enrolment(
                BACKUP_CODES,
                None,
                "Backup codes",
                True,
                min(code.created_at for code in codes),
                max(used) if used else None,
                remaining=len(codes) - len(used),
            )
        )
    return found


def reset(user: User, method: str | None, *, actor: audit.Actor) -> int:
    """Remove the user's enrolments of `method` (None: every method), e.g. for a user who
    lost their phone. Returns how many enrolments went (the backup-code set counts as one);
    an unknown method is NotFound."""
    if method is not None and method not in ALL_METHODS:
        raise errors.NotFound(f"no MFA method {method[:40]!r}: use one of {', '.join(ALL_METHODS)}")
    chosen = ALL_METHODS if method is None else (method,)
    removed = sum(1 for enrolment in enrolments(user) if enrolment.method in chosen)
    if TOTP in chosen:
        db.session.execute(delete(TotpCredential).where(TotpCredential.user_id == user.id))
    if WEBAUTHN in chosen:
        db.session.execute(delete(WebAuthnCredential).where(WebAuthnCredential.user_id == user.id))
    if BACKUP_CODES in chosen:
        db.session.execute(delete(BackupCode).where(BackupCode.user_id == user.id))
    db.session.flush()
    audit.record_for_user(
        "mfa.reset",
        user,
        actor=actor,
        methods=list(chosen),
        removed=removed,
    )
    # A device trusted under the old factors must not skip the new ones.
    sessions.forget_trusted_devices(user, actor=actor, reason="mfa_reset")
    return removed
