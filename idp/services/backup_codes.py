"""Backup codes: ten single-use codes that stand in for the authenticator app or passkey.

Each code is 10 characters from an alphabet without look-alikes (no 0/o, 1/i/l), shown as
`xxxxx-xxxxx`: 31**10, about 49.5 bits, so they are not guessable online and cheap to type.
They are shown once and stored as Argon2id hashes (DESIGN §3: what people type); a used code
keeps its row with `used_at` set and never works again.
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from idp import clock
from idp import errors
from idp import security
from idp.extensions import db
from idp.models import BackupCode
from idp.models import User
from idp.services import audit
from idp.services import lockout
from idp.services import mfa

COUNT = 10
ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
GROUP = 5
LENGTH = 2 * GROUP
_IGNORED = str.maketrans("", "", " -\t")


def normalize(code: str) -> str:
    """What the user typed, without case, dashes or spaces."""
    return code[:64].translate(_IGNORED).lower()


def _new_code() -> str:
    raw = security.random_string(ALPHABET, LENGTH)
    return f"{raw[:GROUP]}-{raw[GROUP:]}"


def _lookup(normalized: str) -> str:
    """The code's one-byte keyed tag (see BackupCode.lookup)."""
    return security.hash_secret("backup-code:" + normalized)[:2]


def generate(user: User, actor: audit.Actor) -> list[str]:
    """Replace the user's backup codes with ten new ones; returns them in clear, once."""
    db.session.execute(delete(BackupCode).where(BackupCode.user_id == user.id))
    codes = [_new_code() for _ in range(COUNT)]
    for code in codes:
        db.session.add(
            BackupCode(
                tenant_id=user.tenant_id,
                user_id=user.id,
                code_hash=security.hash_password(normalize(code)),
                lookup=_lookup(normalize(code)),
            )
        )
    audit.record_for_user(
        "mfa.backup_codes.generated",
        user,
        actor=actor,
        count=COUNT,
    )
    db.session.flush()
    return codes


def regenerate(user: User, *, actor: audit.Actor) -> list[str]:
    """New codes for a user who has a second factor (the caller has checked who is asking:
    `totp.verify_proof`). On their own, backup codes protect nothing, so they are refused to
    a user with neither an authenticator app nor a passkey."""
    if not mfa.has_second_factor(user):
        raise errors.Conflict("Set up an authenticator app or a passkey first")
    return generate(user, actor)


def remaining(user: User) -> int:
    """How many unused codes the user has left."""
    return int(
        db.session.scalar(
            select(func.count())
            .select_from(BackupCode)
            .where(BackupCode.user_id == user.id, BackupCode.used_at.is_(None))
        )
        or 0
    )


def use(user: User, code: str) -> bool:
    """Spend one of the user's unused codes. True when `code` was one of them; it is then
    marked used (in one conditional UPDATE, so two concurrent requests cannot both spend
    it)."""
    typed = normalize(code)
    if len(typed) != LENGTH or any(ch not in ALPHABET for ch in typed):
        return False
    candidates = db.session.scalars(
        select(BackupCode).where(
            BackupCode.user_id == user.id,
            BackupCode.used_at.is_(None),
            BackupCode.lookup == _lookup(typed),
        )
    ).all()
    for row in candidates:
        if security.verify_password(typed, row.code_hash):
            spent = db.session.execute(
                update(BackupCode)
                .where(BackupCode.id == row.id, BackupCode.used_at.is_(None))
                .values(used_at=clock.now())
                .execution_options(synchronize_session="fetch")
            )
            return bool(getattr(spent, "rowcount", 0) == 1)
    return False


def authenticate(
    user: User,
    code: str,
    *,
    actor: audit.Actor,
    policy: lockout.LockoutPolicy | None = None,
) -> None:
    """The second sign-in step with a backup code. Raises AccountLocked while locked (or when
    this failure starts a lock) and AuthenticationFailed for a wrong or used code; a
    failure counts toward the lockout."""
    lockout.ensure_not_locked(user)
    if use(user, code):
        lockout.record_success(user)
        audit.record(
            "login.backup_code",
            actor=actor,
            tenant_id=user.tenant_id,
            user_id=user.id,
            remaining=remaining(user),
        )
        return
    audit.record(
        "login.backup_code",
        status="failure",
        actor=actor,
        tenant_id=user.tenant_id,
        user_id=user.id,
    )
    locked = lockout.record_failure(user, actor=actor, step="backup_code", policy=policy)
    if locked is not None:
        raise lockout.AccountLocked(locked)
    raise errors.AuthenticationFailed("That backup code is not valid")


def delete_all(user: User, *, actor: audit.Actor) -> int:
    """Remove every backup code of the user (no second factor is left to back up)."""
    removed = db.session.execute(delete(BackupCode).where(BackupCode.user_id == user.id))
    count = int(getattr(removed, "rowcount", 0) or 0)
    if count:
        audit.record_for_user(
            "mfa.backup_codes.deleted",
            user,
            actor=actor,
            count=count,
        )
    db.session.flush()
    return count
