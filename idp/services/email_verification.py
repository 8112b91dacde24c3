"""Proof of control of an e-mail address: a link (long random token) and a 6-digit code.

Purposes (ActionToken.purpose):
- ``verify_email``: the user's current address; verifying sets ``email_verified``.
- ``change_email``: a new address (``ActionToken.email``); the user's address changes only
  when the new one is verified, and its uniqueness is checked again then.

The link token is single use and lives ``link_lifetime``; the code lives ``code_lifetime``
and allows ``max_attempts`` tries, after which only the link (or a new request) works. Both
are stored as HMACs and compared in constant time. A new request supersedes older unused
tokens of the same purpose, so only the latest mail works.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from idp import clock
from idp import errors
from idp import security
from idp.config import Settings
from idp.extensions import db
from idp.models import ActionToken
from idp.models import User
from idp.services import audit
from idp.services import users

VERIFY = "verify_email"
CHANGE = "change_email"
PURPOSES = (VERIFY, CHANGE)
RESET_PASSWORD = "reset_password"  # services/password_reset.py; its links die with the address
MAX_TOKEN_LENGTH = 128


@dataclass(frozen=True)
class Lifetimes:
    link_seconds: int = Settings.email_link_lifetime
    code_seconds: int = Settings.email_code_lifetime
    max_attempts: int = Settings.email_code_max_attempts

    @classmethod
    def from_settings(cls, settings: Settings) -> Lifetimes:
        return cls(
            link_seconds=settings.email_link_lifetime,
            code_seconds=settings.email_code_lifetime,
            max_attempts=settings.email_code_max_attempts,
        )


DEFAULT_LIFETIMES = Lifetimes()


@dataclass
class Issued:
    """What goes into the mail; the database keeps only hashes."""

    token: ActionToken
    link_token: str
    code: str | None


class TokenRejected(errors.InvalidInput):
    """A link or code that does not (or no longer) work. `reason`: unknown, used, expired,
    too_many_attempts, wrong_code, address_changed."""

    def __init__(self, reason: str, detail: str, field: str = "code") -> None:
        super().__init__(detail, {field: [detail]})
        self.reason = reason


MESSAGES = {
    "unknown": "This link is not valid. Ask for a new one.",
    "used": "This link has already been used, or a newer one replaced it.",
    "expired": "This link has expired. Ask for a new one.",
    "wrong_code": "That code is not right. Check the latest e-mail and try again.",
    "code_expired": "This code has expired. Ask for a new one.",
    "too_many_attempts": "Too many wrong codes. Ask for a new one.",
    "no_code": "There is no code to check. Ask for a new one.",
    "address_changed": "This address is no longer the one on the account.",
}


def reject(reason: str, field: str = "code") -> TokenRejected:
    return TokenRejected(reason, MESSAGES[reason], field)


def new_code() -> str:
    return security.random_string("0123456789", 6)


def issue(
    user: User,
    purpose: str,
    email: str,
    *,
    link_seconds: int,
    code_seconds: int | None,
    actor: audit.Actor,
) -> Issued:
    """A fresh token (link, and a code unless code_seconds is None) for `purpose`; the
    user's older unused tokens of that purpose stop working."""
    now = clock.now()
    supersede(user, purpose, now)
    link_token = security.random_token(32)
    code = new_code() if code_seconds is not None else None
    token = ActionToken(
        tenant_id=user.tenant_id,
        user_id=user.id,
        purpose=purpose,
        email=email,
        token_hash=security.hash_secret(link_token),
        code_hash=security.hash_secret(code) if code else None,
        code_expires_at=now + timedelta(seconds=code_seconds) if code_seconds else None,
        attempts=0,
        expires_at=now + timedelta(seconds=link_seconds),
        created_at=now,
    )
    db.session.add(token)
    db.session.flush()
    audit.record_for_user(
        f"{purpose}.requested",
        user,
        actor=actor,
        email=email,
    )
    return Issued(token, link_token, code)


def start(user: User, *, lifetimes: Lifetimes = DEFAULT_LIFETIMES, actor: audit.Actor) -> Issued:
    """Verify the user's current address."""
    return issue(
        user,
        VERIFY,
        user.email,
        link_seconds=lifetimes.link_seconds,
        code_seconds=lifetimes.code_seconds,
        actor=actor,
    )


def start_change(
    user: User, new_email: str, *, lifetimes: Lifetimes = DEFAULT_LIFETIMES, actor: audit.Actor
) -> Issued:
    """Begin changing the user's address: nothing changes until the new one is verified."""
    new_email = users.check_email(new_email)
    if users.normalize_email(new_email) == user.email_normalized:
        raise errors.InvalidInput(
            "same address", {"email": ["This is already your e-mail address."]}
        )
    _ensure_free(user, new_email)
    return issue(
        user,
        CHANGE,
        new_email,
        link_seconds=lifetimes.link_seconds,
        code_seconds=lifetimes.code_seconds,
        actor=actor,
    )


def _ensure_free(user: User, email: str) -> None:
    other = users.find_by_email(user.tenant_id, email)
    if other is not None and other.id != user.id:
        raise errors.Conflict("Another account uses this e-mail address.")


def latest(user: User, purpose: str) -> ActionToken | None:
    """The user's live (unused, unexpired) token of this purpose."""
    return db.session.scalar(
        select(ActionToken)
        .where(
            ActionToken.tenant_id == user.tenant_id,
            ActionToken.user_id == user.id,
            ActionToken.purpose == purpose,
            ActionToken.used_at.is_(None),
            ActionToken.expires_at > clock.now(),
        )
        .order_by(ActionToken.created_at.desc())
        .limit(1)
    )


def pending_email(user: User) -> str | None:
    """The new address of an e-mail change waiting for verification."""
    token = latest(user, CHANGE)
    return token.email if token is not None else None


def find_by_link(link_token: str, purposes: tuple[str, ...]) -> ActionToken:
    """The token behind a mailed link, if it still works (TokenRejected otherwise)."""
    if not link_token or len(link_token) > MAX_TOKEN_LENGTH:
        raise reject("unknown", "token")
    token: ActionToken | None = db.session.scalar(
        select(ActionToken).where(ActionToken.token_hash == security.hash_secret(link_token))
    )
    if token is None or token.purpose not in purposes:
        raise reject("unknown", "token")
    if token.used_at is not None:
        raise reject("used", "token")
    if token.expires_at <= clock.now():
        raise reject("expired", "token")
    return token


def consume(token: ActionToken, field: str = "token") -> None:
    """Mark the token used, once: of two concurrent requests, one wins."""
    result = db.session.execute(
        update(ActionToken)
        .where(ActionToken.id == token.id, ActionToken.used_at.is_(None))
        .values(used_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise reject("used", field)
    db.session.refresh(token)


@dataclass
class Verified:
    user: User
    purpose: str
    email: str
    previous_email: str | None  # set for an e-mail change: the address to notify


def verify_link(link_token: str, *, actor: audit.Actor) -> Verified:
    """RFC-less but classic: the link proves control of the address it was sent to."""
    token = find_by_link(link_token, PURPOSES)
    user = db.session.get(User, token.user_id)
    if user is None:
        raise reject("unknown", "token")
    return _apply(user, token, method="link", actor=actor)


def verify_code(
    user: User,
    code: str,
    purpose: str,
    *,
    max_attempts: int = DEFAULT_LIFETIMES.max_attempts,
    actor: audit.Actor,
) -> Verified:
    """Check a 6-digit code for the user's latest token of `purpose`. Every try counts,
    atomically, so parallel guesses share the same budget; the caller commits even when
    this raises, to keep the count."""
    code = (code or "").strip().replace(" ", "")
    token = latest(user, purpose)
    if token is None or token.code_hash is None:
        raise reject("no_code")
    now = clock.now()
    if token.code_expires_at is None or token.code_expires_at <= now:
        raise reject("code_expired")
    counted = db.session.execute(
        update(ActionToken)
        .where(ActionToken.id == token.id, ActionToken.attempts < max_attempts)
        .values(attempts=ActionToken.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    if counted.rowcount != 1:  # type: ignore[attr-defined]
        raise reject("too_many_attempts")
    if len(code) != 6 or not code.isdigit() or not security.verify_secret(code, token.code_hash):
        audit.record_for_user(
            f"{purpose}.code_failed",
            user,
            status="failure",
            actor=actor,
        )
        db.session.refresh(token)
        if token.attempts >= max_attempts:
            raise reject("too_many_attempts")
        raise reject("wrong_code")
    return _apply(user, token, method="code", actor=actor, field="code")


def _apply(
    user: User, token: ActionToken, *, method: str, actor: audit.Actor, field: str = "token"
) -> Verified:
    if user.tenant_id != token.tenant_id:
        raise reject("unknown", field)
    previous: str | None = None
    if token.purpose == VERIFY:
        if users.normalize_email(token.email) != user.email_normalized:
            raise reject("address_changed", field)
        consume(token, field)
        user.email_verified = True
    else:
        _ensure_free(user, token.email)
        consume(token, field)
        previous = user.email
        user.email = token.email
        user.email_normalized = users.normalize_email(token.email)
        user.email_verified = True
        # Other live verification and password-reset links were for the old address.
        supersede(user, VERIFY, clock.now())
        supersede(user, RESET_PASSWORD, clock.now())
    audit.record_for_user(
        "user.email_verified" if token.purpose == VERIFY else "user.email_changed",
        user,
        actor=actor,
        method=method,
        email=user.email,
        **({"previous_email": previous} if previous else {}),
    )
    _flush_unique()
    return Verified(user, token.purpose, user.email, previous)


def cancel(user: User, purpose: str, *, actor: audit.Actor) -> None:
    """Withdraw a pending request (e.g. an e-mail change): its code and link stop working."""
    supersede(user, purpose, clock.now())
    audit.record_for_user(
        f"{purpose}.cancelled",
        user,
        actor=actor,
    )


def _flush_unique() -> None:
    """A lost race for the new address (unique per tenant) is a Conflict, not a 500."""
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise errors.Conflict("Another account uses this e-mail address.") from None


def supersede(user: User, purpose: str, now: datetime) -> None:
    db.session.execute(
        update(ActionToken)
        .where(
            ActionToken.user_id == user.id,
            ActionToken.purpose == purpose,
            ActionToken.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
