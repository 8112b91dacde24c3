"""Password reset by a mailed link (OWASP Forgot Password Cheat Sheet).

- Asking for a reset answers the same whether or not the address has an account; only an
  existing account gets a mail (no enumeration, and no mail to strangers).
- The link token has 256 bits of entropy, is stored as an HMAC, lives `lifetime` seconds,
  works once, and a newer request supersedes it.
- Completing it sets the new password (the policy applies), marks the address verified (the
  user proved control of it), ends every browser session and revokes every grant (so every
  refresh token) of the user, and lifts a lockout: whoever knew the old password is out.
- A link works only while its address is still the account's (an e-mail change kills it),
  and completing a reset kills pending e-mail changes (whoever started one may be the thief).
- When the address was not verified before the reset, the reset is the first proof of who
  controls it, and the account is theirs: every second factor, trusted device and remembered
  consent goes too. Otherwise anyone could register someone else's address, enrol a passkey
  and keep it after the real owner takes the account back (pre-registration takeover).
"""

from __future__ import annotations

from dataclasses import dataclass

from idp import clock
from idp import errors
from idp.config import Settings
from idp.extensions import db
from idp.models import ActionToken
from idp.models import User
from idp.services import audit
from idp.services import consent
from idp.services import email_verification
from idp.services import grants
from idp.services import mfa
from idp.services import passwords
from idp.services import sessions
from idp.services import users
from idp.services.email_verification import Issued

PURPOSE = email_verification.RESET_PASSWORD
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
    if users.normalize_email(token.email) != user.email_normalized:
        raise email_verification.reject("address_changed", "token")  # sent to an old address
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
    took_over = not user.email_verified  # the reset is the first proof of the address
    user.email_verified = True
    user.failed_login_count = 0
    user.locked_until = None
    # A pending change to another address may be the work of whoever is being thrown out.
    email_verification.supersede(user, email_verification.CHANGE, clock.now())
    ended = sessions.end_all(user, actor=actor, reason="password_reset")
    revoked = grants.revoke_all(user, actor=actor, reason="password_reset")
    mfa_removed = consents_forgotten = 0
    if took_over:  # whoever registered the address before its owner loses what they set up
        mfa_removed = mfa.reset(user, None, actor=actor)
        consents_forgotten = consent.forget_all(user, actor=actor, reason="password_reset")
    audit.record_for_user(
        "user.password_reset",
        user,
        actor=actor,
        sessions_ended=ended,
        grants_revoked=revoked,
        took_over_unverified=took_over,
        mfa_removed=mfa_removed,
        consents_forgotten=consents_forgotten,
    )
    db.session.flush()
    return user
