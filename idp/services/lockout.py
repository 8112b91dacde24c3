"""Progressive lockout (issue #4): consecutive failed sign-in steps lock the account for a while.

Every failed step counts, the password and the second factor alike (a thief who knows the
password must not get unlimited guesses at the code). At `threshold` consecutive failures the
account is locked for `base_seconds`; each further failure doubles that, up to `max_seconds`.
A completed sign-in resets the count. While locked, sign-in is refused before any password or
code is checked, so guessing during a lock learns nothing; attempts refused that way do not
count (an attacker could otherwise keep an account locked forever for free).

The state lives on the user row (`failed_login_count`, `locked_until`), so every worker and
every host sees the same lock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from idp import clock
from idp import errors
from idp.config import Settings
from idp.extensions import db
from idp.models import User
from idp.services import audit


@dataclass(frozen=True)
class LockoutPolicy:
    threshold: int = Settings.lockout_threshold
    base_seconds: int = Settings.lockout_base_seconds
    max_seconds: int = Settings.lockout_max_seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> LockoutPolicy:
        return cls(
            threshold=settings.lockout_threshold,
            base_seconds=settings.lockout_base_seconds,
            max_seconds=settings.lockout_max_seconds,
        )

    def duration(self, failures: int) -> int:
        """Seconds of lock after `failures` consecutive failures (0: not locked)."""
        if failures < self.threshold:
            return 0
        doublings = min(failures - self.threshold, 32)  # 2**32 * base is past any cap
        return int(min(self.base_seconds * 2**doublings, self.max_seconds))


DEFAULT_POLICY = LockoutPolicy()


class AccountLocked(errors.RateLimited):
    """Sign-in is refused until `locked_until`; `retry_after` is in seconds."""

    type = "account-locked"
    title = "Account temporarily locked"

    def __init__(self, locked_until: datetime) -> None:
        seconds = max(1, math.ceil((locked_until - clock.now()).total_seconds()))
        super().__init__(seconds, "Too many failed sign-in attempts. Try again later.")
        self.locked_until = locked_until

    @property
    def wait_text(self) -> str:
        """A human "try again in ..." duration."""
        if self.retry_after < 60:
            return f"{self.retry_after} seconds"
        minutes = math.ceil(self.retry_after / 60)
        return "1 minute" if minutes == 1 else f"{minutes} minutes"


def locked_until(user: User) -> datetime | None:
    """When the current lock ends, or None when the user may try now."""
    if user.locked_until is None:
        return None
    until = clock.as_utc(user.locked_until)
    return until if until > clock.now() else None


def hold(user: User) -> None:
    """Lock the user's row until the caller commits and re-read the lockout state, so that
    concurrent attempts against one account take turns: each sees the failures of those
    before it, instead of all passing the check at once when a lock ends. (PostgreSQL row
    lock; SQLite ignores FOR UPDATE but lets one writer at a time commit anyway.)"""
    db.session.refresh(
        user, attribute_names=["failed_login_count", "locked_until"], with_for_update=True
    )


def ensure_not_locked(user: User) -> None:
    """Raise AccountLocked while the user is locked out; call before checking any factor.
    Holds the user's row until the caller commits (see `hold`)."""
    hold(user)
    until = locked_until(user)
    if until is not None:
        raise AccountLocked(until)


def record_failure(
    user: User, *, actor: audit.Actor, step: str, policy: LockoutPolicy | None = None
) -> datetime | None:
    """Count one failed sign-in step (`step`: "password", "totp", "backup_code",
    "webauthn", "reauth"...). Returns the end of the lock this failure started, if any
    (and audits `user.locked` then). Pass the configured policy (`LockoutPolicy.from_settings`);
    without one the built-in defaults apply."""
    policy = policy or DEFAULT_POLICY
    # Incremented in SQL, so failures in concurrent workers add up instead of overwriting
    # each other; the attribute is expired by the flush and read back.
    user.failed_login_count = User.failed_login_count + 1
    db.session.flush()
    seconds = policy.duration(user.failed_login_count)
    if not seconds:
        return None
    until = clock.now() + timedelta(seconds=seconds)
    user.locked_until = until
    audit.record_for_user(
        "user.locked",
        user,
        status="failure",
        actor=actor,
        step=step,
        failures=user.failed_login_count,
        seconds=seconds,
    )
    db.session.flush()
    return until


def record_success(user: User) -> None:
    """A completed sign-in: forget the failures (and any expired lock)."""
    if user.failed_login_count or user.locked_until is not None:
        user.failed_login_count = 0
        user.locked_until = None
        db.session.flush()
