"""The password policy, and a user changing or setting their own password.

Policy (NIST SP 800-63B §5.1.1.2): a minimum length, a generous maximum, and a strength
estimate by zxcvbn (bundled dictionaries of common passwords, names, words, keyboard patterns;
the user's own e-mail address and name count as guessable too). No composition rules: "must
contain a digit" makes passwords harder to remember, not to guess.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from zxcvbn import zxcvbn

from idp import clock
from idp import errors
from idp import security
from idp.config import Settings
from idp.extensions import db
from idp.models import User
from idp.services import audit
from idp.services import lockout
from idp.services import sessions

MAX_LENGTH = 1024
# zxcvbn's cost grows with the length; past this many characters, the rest adds strength only.
ESTIMATE_PREFIX = 100


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int = Settings.password_min_length
    min_score: int = Settings.password_min_score  # zxcvbn 0..4

    @classmethod
    def from_settings(cls, settings: Settings) -> PasswordPolicy:
        return cls(min_length=settings.password_min_length, min_score=settings.password_min_score)


DEFAULT_POLICY = PasswordPolicy()


def guessable_inputs(email: str | None = None, *names: str | None) -> list[str]:
    """What zxcvbn should treat as known to an attacker: the address, its parts, the names."""
    inputs: list[str] = []
    if email:
        local, _, domain = email.lower().partition("@")
        inputs += [email.lower(), local, *re.split(r"[._+\-]", local), domain.split(".")[0]]
    for name in names:
        if name:
            inputs += [name.lower(), *name.lower().split()]
    return [value for value in dict.fromkeys(inputs) if len(value) >= 3]


def check(
    password: str,
    *,
    user_inputs: Iterable[str] = (),
    policy: PasswordPolicy = DEFAULT_POLICY,
    field: str = "password",
) -> None:
    """InvalidInput with a message for `field` that says why, or nothing if it is good."""
    if not isinstance(password, str) or len(password) < policy.min_length:
        raise errors.InvalidInput(
            "password too short", {field: [f"Use at least {policy.min_length} characters."]}
        )
    if len(password) > MAX_LENGTH:
        raise errors.InvalidInput(
            "password too long", {field: [f"Use at most {MAX_LENGTH} characters."]}
        )
    result = zxcvbn(password[:ESTIMATE_PREFIX], user_inputs=list(user_inputs))
    if result["score"] >= policy.min_score:
        return
    feedback = result.get("feedback") or {}
    warning = str(feedback.get("warning") or "").strip()
    lowered = password.lower()
    if not warning and any(len(x) >= 4 and x in lowered for x in user_inputs):
        warning = "Do not use your e-mail address or name in your password."
    reason = warning or "This password is too easy to guess."
    suggestions = [str(s) for s in feedback.get("suggestions") or []]
    hint = suggestions[0] if suggestions else "Add another word or two. Uncommon words are better."
    raise errors.InvalidInput("password too weak", {field: [f"{reason} {hint}".strip()]})


def check_for(
    user: User, password: str, *, policy: PasswordPolicy = DEFAULT_POLICY, field: str = "password"
) -> None:
    check(
        password,
        user_inputs=guessable_inputs(user.email, user.name, user.given_name, user.family_name),
        policy=policy,
        field=field,
    )


def replace(user: User, password: str) -> None:
    """Store a new hash (the policy is the caller's business) and note when."""
    user.password_hash = security.hash_password(password)
    user.password_changed_at = clock.now()


def change(
    user: User,
    current_password: str | None,
    new_password: str,
    *,
    keep_session_id: str | None,
    policy: PasswordPolicy = DEFAULT_POLICY,
    lockout_policy: lockout.LockoutPolicy | None = None,
    actor: audit.Actor,
) -> int:
    """The user changes their password (the current one is required) or sets one when they
    have none (a federated user). Every other browser session of the user ends, so a thief
    signed in elsewhere is out; `keep_session_id`, the browser doing this, stays signed in.
    Returns how many sessions ended.

    A stolen session or access token must not become a password oracle: a wrong current
    password counts toward the sign-in lockout (`lockout_policy`, the configured one), and
    while locked none is checked (AccountLocked). The caller commits the count even when
    this raises WrongCurrentPassword or AccountLocked."""
    had_password = user.password_hash is not None
    if had_password:
        if not current_password:
            raise errors.InvalidInput(
                "current password required", {"current_password": ["Enter your current password."]}
            )
        lockout.ensure_not_locked(user)
        if security.verify_password(current_password[:MAX_LENGTH], user.password_hash):
            lockout.record_success(user)
        else:
            audit.record_for_user(
                "user.password_changed",
                user,
                status="failure",
                actor=actor,
                reason="wrong_current_password",
            )
            locked = lockout.record_failure(user, actor=actor, step="reauth", policy=lockout_policy)
            if locked is not None:
                raise lockout.AccountLocked(locked)
            raise WrongCurrentPassword(
                "current password incorrect",
                {"current_password": ["This is not your current password."]},
            )
    check_for(user, new_password, policy=policy, field="new_password")
    if had_password and security.verify_password(new_password, user.password_hash):
        raise errors.InvalidInput(
            "same password", {"new_password": ["Choose a password you have not used here."]}
        )
    replace(user, new_password)
    ended = 0
    for other in sessions.for_user(user):
        if other.id != keep_session_id:
            ended += sessions.end_if_live(other, actor=actor, reason="password_changed")
    audit.record_for_user(
        "user.password_changed" if had_password else "user.password_set",
        user,
        actor=actor,
        sessions_ended=ended,
    )
    db.session.flush()
    return ended


class WrongCurrentPassword(errors.InvalidInput):
    """The current password did not match; the audit event is worth keeping (commit)."""
