"""Authenticator apps (RFC 6238 TOTP, pyotp): setup, confirmation, sign-in checks, disabling.

The seed is encrypted at rest (it must be read back to check codes) with the user id as
associated data, so a seed copied onto another user's row does not decrypt. Codes are 6
digits, 30-second steps, SHA-1 (what every authenticator app supports), and one step of clock
drift either way is accepted. A code is accepted only for a step later than the last accepted
one (`last_used_step`): no code works twice, and no older code works after a newer one.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import pyotp
import segno
from pyotp.exceptions import OTPVerificationError
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update

from idp import clock
from idp import errors
from idp import security
from idp.extensions import db
from idp.models import TotpCredential
from idp.models import User
from idp.services import audit
from idp.services import backup_codes
from idp.services import lockout
from idp.services import mfa

DRIFT_STEPS = 1  # RFC 6238 §5.2: accept one step of clock drift either way
CODE_RE = re.compile(r"[0-9]{6}")


@dataclass(frozen=True)
class TotpSetup:
    """What the user needs to add the account to an authenticator app."""

    secret: str  # base32, for typing in by hand
    qr_code_uri: str  # otpauth://totp/...
    qr_code_svg: str  # <svg> markup of the QR code of qr_code_uri, no XML declaration


def credential(user: User) -> TotpCredential | None:
    return db.session.scalar(select(TotpCredential).where(TotpCredential.user_id == user.id))


def is_enabled(user: User) -> bool:
    found = credential(user)
    return found is not None and found.confirmed


def _associated_data(user: User) -> bytes:
    return f"totp-seed:{user.id}".encode()


def _secret(user: User, found: TotpCredential) -> str:
    return security.decrypt(found.secret_encrypted, _associated_data(user)).decode()


def _setup(user: User, secret: str, issuer_name: str) -> TotpSetup:
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=issuer_name)
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(
        buffer,
        kind="svg",
        scale=5,
        border=4,
        xmldecl=False,
        light="#fff",  # a white quiet zone, also on dark pages
        svgclass="qr-code",
        title="QR code for your authenticator app",
    )
    return TotpSetup(secret, uri, buffer.getvalue().decode())


def begin_setup(user: User, *, issuer_name: str, actor: audit.Actor) -> TotpSetup:
    """A new seed, not yet enabled: `confirm` with a code from the app turns it on. Starting
    again replaces an unconfirmed seed; an enabled app must be disabled first (Conflict)."""
    mfa.ensure_may_enrol(user)
    found = credential(user)
    if found is not None and found.confirmed:
        raise errors.Conflict("An authenticator app is already set up; disable it first")
    secret = pyotp.random_base32()  # 32 base32 characters: 160 bits (RFC 4226 §4)
    sealed = security.encrypt(secret.encode(), _associated_data(user))
    if found is None:
        db.session.add(
            TotpCredential(tenant_id=user.tenant_id, user_id=user.id, secret_encrypted=sealed)
        )
    else:
        found.secret_encrypted = sealed
        found.last_used_step = None
        found.created_at = clock.now()
    audit.record_for_user(
        "mfa.totp.setup_started",
        user,
        actor=actor,
    )
    db.session.flush()
    return _setup(user, secret, issuer_name)


def pending_setup(user: User, *, issuer_name: str) -> TotpSetup | None:
    """The setup in progress (started, not confirmed), to show its QR code again."""
    found = credential(user)
    if found is None or found.confirmed:
        return None
    return _setup(user, _secret(user, found), issuer_name)


def _matching_step(user: User, found: TotpCredential, code: str) -> int | None:
    """The time step `code` belongs to, within the drift window, or None."""
    code = code[:64].replace(" ", "").strip()
    if not CODE_RE.fullmatch(code):
        return None
    try:
        return pyotp.TOTP(_secret(user, found)).verify_and_get_timecode(
            code, for_time=clock.now(), valid_window=DRIFT_STEPS
        )
    except OTPVerificationError:
        return None


def _consume_step(found: TotpCredential, step: int) -> bool:
    """Move last_used_step forward to `step`, only if it is later (one conditional UPDATE:
    two requests racing with the same code cannot both win)."""
    result = db.session.execute(
        update(TotpCredential)
        .where(
            TotpCredential.id == found.id,
            or_(TotpCredential.last_used_step.is_(None), TotpCredential.last_used_step < step),
        )
        .values(last_used_step=step)
        .execution_options(synchronize_session="fetch")
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def confirm(user: User, code: str, *, actor: audit.Actor) -> list[str]:
    """Enable the app set up with `begin_setup`, given its current code; returns the ten new
    backup codes (shown once)."""
    found = credential(user)
    if found is None:
        raise errors.Conflict("Start setting up an authenticator app first")
    if found.confirmed:
        raise errors.Conflict("The authenticator app is already enabled")
    step = _matching_step(user, found, code)
    if step is None or not _consume_step(found, step):
        raise errors.InvalidInput(
            "The code is not correct", {"code": ["not the current code of the app"]}
        )
    found.confirmed_at = clock.now()
    audit.record_for_user(
        "mfa.totp.enabled",
        user,
        actor=actor,
    )
    db.session.flush()
    return backup_codes.generate(user, actor)


def verify(user: User, code: str) -> bool:
    """Check a code of the user's enabled app and spend its time step (replay refused)."""
    found = credential(user)
    if found is None or not found.confirmed:
        return False
    step = _matching_step(user, found, code)
    if step is None:
        return False
    if found.last_used_step is not None and step <= found.last_used_step:
        return False
    return _consume_step(found, step)


def authenticate(
    user: User,
    code: str,
    *,
    actor: audit.Actor,
    policy: lockout.LockoutPolicy | None = None,
) -> None:
    """The second sign-in step with an authenticator code. Raises AccountLocked while locked
    (or when this failure starts a lock) and AuthenticationFailed for a wrong or replayed
    code; a failure counts toward the lockout."""
    lockout.ensure_not_locked(user)
    if verify(user, code):
        lockout.record_success(user)
        audit.record("login.totp", actor=actor, tenant_id=user.tenant_id, user_id=user.id)
        return
    audit.record(
        "login.totp", status="failure", actor=actor, tenant_id=user.tenant_id, user_id=user.id
    )
    locked = lockout.record_failure(user, actor=actor, step="totp", policy=policy)
    if locked is not None:
        raise lockout.AccountLocked(locked)
    raise errors.AuthenticationFailed("That code is not valid")


def verify_proof(
    user: User,
    *,
    code: str | None = None,
    password: str | None = None,
    actor: audit.Actor,
    policy: lockout.LockoutPolicy | None = None,
) -> None:
    """Re-authentication before a sensitive MFA change: exactly one of a current code (of the
    authenticator app, or an unused backup code, which is then spent) or the password.

    Someone holding only a stolen session or access token must not turn it into an oracle:
    failures count toward the sign-in lockout and are refused while locked. A user who has no
    password (federated) proves it with a code; one with neither left is helped by an
    administrator's MFA reset."""
    if (code is None) == (password is None):
        message = "send either a current code or your password"
        raise errors.InvalidInput(message, {"code": [message], "password": [message]})
    lockout.ensure_not_locked(user)
    if code is not None:
        field = "code"
        ok = verify(user, code) or backup_codes.use(user, code)
    else:
        assert password is not None
        field = "password"
        if user.password_hash is None:
            raise errors.InvalidInput(
                "You have no password; confirm with a code", {"password": ["no password is set"]}
            )
        ok = security.verify_password(password[:1024], user.password_hash)
    if ok:
        lockout.record_success(user)
        return
    audit.record(
        "mfa.reauthenticate",
        status="failure",
        actor=actor,
        tenant_id=user.tenant_id,
        user_id=user.id,
        method=field,
    )
    locked = lockout.record_failure(user, actor=actor, step="reauth", policy=policy)
    if locked is not None:
        raise lockout.AccountLocked(locked)
    raise errors.InvalidInput(f"The {field} is not correct", {field: ["not correct"]})


def disable(
    user: User,
    *,
    code: str | None = None,
    password: str | None = None,
    actor: audit.Actor,
    policy: lockout.LockoutPolicy | None = None,
) -> None:
    """Remove the authenticator app. An enabled one needs `verify_proof` (a current code, a
    backup code, or the password); a setup never confirmed is simply dropped. When no second
    factor is left, the backup codes go too (they would back up nothing)."""
    found = credential(user)
    if found is None:
        raise errors.NotFound("No authenticator app is set up")
    was_enabled = found.confirmed
    if was_enabled:
        verify_proof(user, code=code, password=password, actor=actor, policy=policy)
    db.session.delete(found)
    db.session.flush()
    audit.record_for_user(
        "mfa.totp.disabled" if was_enabled else "mfa.totp.setup_cancelled",
        user,
        actor=actor,
    )
    if not mfa.has_second_factor(user):
        backup_codes.delete_all(user, actor=actor)
    db.session.flush()
