"""Password reset by a mailed link (OWASP Forgot Password Cheat Sheet).

- Asking for a reset answers the same whether or not the address has an account; only an
  existing account gets a mail (no enumeration, and no mail to strangers).
- The link token has 256 bits of entropy, is stored as an HMAC, lives `lifetime` seconds,
  works once, and a newer request supersedes it.
- Completing it sets the new password (the policy applies), marks the address verified (the
  user proved control of it), ends every browser session and revokes every grant (so every
  refresh token) of the user, and lifts a lockout: whoever knew the old password is out.
"""

from __future__ import annotations

from dataclasses import dataclass

from idp import errors
from idp.config import Settings
from idp.extensions import db
from idp.models import ActionToken
from idp.models import User
from idp.services import audit
from idp.services import email_verification
from idp.services import grants
from idp.services import passwords
from idp.services import sessions
from idp.services import users
from idp.services.email_verification import Issued

PURPOSE = "reset_password"
DEFAULT_LIFETIME = Settings.password_reset_lifetime


def request(
    tenant_id: str, email: str, *, lifetime: int = DEFAULT_LIFETIME, actor: audit.Actor
) -> tuple[User, Issued] | None:
    """A reset link for the account with this address; None when there is none (the caller
    answers exactly as if there were)."""
    user = users.find_by_email(tenant_id, email) if 0 < len(email) <= 320 else None
    if user is None or not user.can_sign_in:
        audit.record(
            "password_reset.requested",
            status="failure",
            actor=actor,
            tenant_id=tenant_id,
            user_id=user.id if user else None,
            reason="unknown_address" if user is None else "blocked",
        )
        return None
    issued = email_verification.issue(
        user, PURPOSE, user.email, link_seconds=lifetime, code_seconds=None, actor=actor
    )
    return user, issued


@dataclass
class ResetLink:
    token: ActionToken
    user: User


def check_link(link_token: str) -> ResetLink:
    """The reset behind a link, if it still works; TokenRejected says why not."""
    token = email_verification.find_by_link(link_token, (PURPOSE,))
    user = db.session.get(User, token.user_id)
    if user is None or user.tenant_id != token.tenant_id:
        raise email_verification.reject("unknown", "token")
    return ResetLink(token, user)


def complete(
    link_token: str,
    new_password: str,
    *,
    policy: passwords.PasswordPolicy = passwords.DEFAULT_POLICY,
    actor: audit.Actor,
) -> User:
    link = check_link(link_token)
    user = link.user
    if not user.can_sign_in:
        raise errors.Forbidden("This account is blocked.")
    passwords.check_for(user, new_password, policy=policy)
    email_verification.consume(link.token)
    passwords.replace(user, new_password)
    if users.normalize_email(link.token.email) == user.email_normalized:
        user.email_verified = True
    user.failed_login_count = 0
    user.locked_until = None
    ended = sessions.end_all(user, actor=actor, reason="password_reset")
    revoked = grants.revoke_all(user, actor=actor, reason="password_reset")
    audit.record(
        "user.password_reset",
        actor=actor,
        tenant_id=user.tenant_id,
        user_id=user.id,
        target_type="user",
        target_id=user.id,
        sessions_ended=ended,
        grants_revoked=revoked,
    )
    db.session.flush()
    return user
