"""Signing in with a passkey: passwordless (a discoverable credential that verifies the
user) or as the second factor after the password. Callers commit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from webauthn import generate_authentication_options
from webauthn import verify_authentication_response
from webauthn.helpers import base64url_to_bytes
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers import options_to_json_dict
from webauthn.helpers.structs import AuthenticationCredential
from webauthn.helpers.structs import UserVerificationRequirement

from idp import clock
from idp import errors
from idp.extensions import db
from idp.models import User
from idp.models import WebAuthnCredential
from idp.services import audit
from idp.services import lockout
from idp.services import passkeys
from idp.services import webauthn_ceremonies as ceremonies


@dataclass(frozen=True)
class PasskeySignIn:
    user: User
    amr: list[str]  # RFC 8176 values for what this assertion proved


def amr_for(credential: WebAuthnCredential, *, passwordless: bool) -> list[str]:
    """RFC 8176 §2: a passkey proves possession of a key ("pop"), held in hardware ("hwk")
    unless it is synced (backed up), when it can leave the device ("swk"). Used alone it must
    also verify the user (PIN or biometric: "user"), which makes it multi-factor ("mfa")."""
    key = ["swk" if credential.backed_up else "hwk", "pop"]
    return [*key, "user", "mfa"] if passwordless else key


FAILED = "That passkey could not be verified. Try again."


def authentication_options(
    rp: ceremonies.RelyingParty, *, tenant_id: str, user: User | None
) -> tuple[str, dict[str, Any]]:
    """PublicKeyCredentialRequestOptions as JSON (for `parseRequestOptionsFromJSON`), and the
    challenge id. With a `user` (second factor), their credentials are allowed and user
    verification is preferred; without one (passwordless), any discoverable credential may
    answer and user verification is required."""
    allowed = (
        [passkeys.descriptor(found) for found in passkeys.credentials(user)]
        if user is not None
        else []
    )
    if user is not None and not allowed:
        raise errors.NotFound("No passkey is registered for this account")
    challenge = ceremonies.new_challenge(
        rp, tenant_id=tenant_id, user=user, purpose=ceremonies.AUTHENTICATE
    )
    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=base64url_to_bytes(challenge.challenge),
        timeout=rp.challenge_lifetime * 1000,
        allow_credentials=allowed,
        user_verification=(
            UserVerificationRequirement.PREFERRED
            if user is not None
            else UserVerificationRequirement.REQUIRED
        ),
    )
    return challenge.id, options_to_json_dict(options)


def _fail(
    reason: str,
    *,
    actor: audit.Actor,
    tenant_id: str,
    user: User | None,
    credential: WebAuthnCredential | None = None,
    message: str = FAILED,
    detail: str | None = None,
) -> ceremonies.PasskeyFailed:
    audit.record(
        "login.passkey",
        status="failure",
        actor=actor,
        tenant_id=tenant_id,
        user_id=user.id if user is not None else None,
        target_type="passkey" if credential is not None else None,
        target_id=credential.id if credential is not None else None,
        reason=reason,
        **({"detail": detail} if detail else {}),
    )
    return ceremonies.PasskeyFailed(message)


def authenticate(
    credential: object,
    rp: ceremonies.RelyingParty,
    *,
    tenant_id: str,
    user: User | None,
    challenge_id: str | None,
    actor: audit.Actor,
    policy: lockout.LockoutPolicy | None = None,
) -> PasskeySignIn:
    """Check an assertion. With `user`, it is their second factor: it must come from one of
    their credentials, failures count toward the lockout and nothing is checked while they
    are locked out. Without, it is a passwordless sign-in: the credential must be
    discoverable-style (its userHandle naming its owner) and the user verified. Returns the
    signed-in user. `challenge_id`, when given, must be the challenge this browser asked
    for. Raises InvalidInput (not an assertion), PasskeyFailed or lockout.AccountLocked.

    A passwordless sign-in is not held up by the lockout, which stops guessing: there is
    nothing to guess, and a locked-out owner can still prove possession and verification.
    Any successful sign-in resets the failure count."""
    raw = ceremonies.credential_json(credential)
    parsed = ceremonies.parse_assertion(raw)
    if user is not None:
        lockout.ensure_not_locked(user)
    try:
        return _check_assertion(
            parsed, rp, tenant_id=tenant_id, user=user, challenge_id=challenge_id, actor=actor
        )
    except ceremonies.PasskeyFailed:
        if user is not None:
            until = lockout.record_failure(user, actor=actor, step="webauthn", policy=policy)
            if until is not None:
                raise lockout.AccountLocked(until) from None
        raise


def _check_assertion(
    parsed: AuthenticationCredential,
    rp: ceremonies.RelyingParty,
    *,
    tenant_id: str,
    user: User | None,
    challenge_id: str | None,
    actor: audit.Actor,
) -> PasskeySignIn:
    challenge = ceremonies.consume_challenge(
        parsed.response.client_data_json,
        tenant_id=tenant_id,
        purpose=ceremonies.AUTHENTICATE,
        user=user,
        expected_id=challenge_id,
    )
    found = db.session.scalar(
        select(WebAuthnCredential).where(
            WebAuthnCredential.credential_id == bytes_to_base64url(parsed.raw_id),
            WebAuthnCredential.tenant_id == tenant_id,
        )
    )
    owner = db.session.get(User, found.user_id) if found is not None else None

    def fail(
        reason: str, message: str = FAILED, detail: str | None = None
    ) -> ceremonies.PasskeyFailed:
        return _fail(
            reason,
            actor=actor,
            tenant_id=tenant_id,
            user=user or owner,
            credential=found,
            message=message,
            detail=detail,
        )

    if found is None or owner is None or parsed.id != found.credential_id:
        raise fail("unknown_credential", "This passkey is not registered here.")
    if user is not None and found.user_id != user.id:
        raise fail("not_this_users_credential")
    handle = parsed.response.user_handle
    if (user is None and handle is None) or (
        handle is not None and handle != passkeys.user_handle(owner)
    ):
        # WebAuthn §7.2 steps 6-7: a discoverable login must name the credential's owner,
        # and a user handle, when sent, must be the owner's.
        raise fail("user_handle_mismatch")
    try:
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=base64url_to_bytes(challenge.challenge),
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=found.public_key,
            # The counter is checked below, once the signature is known to be genuine.
            credential_current_sign_count=0,
            require_user_verification=user is None,
        )
    except ceremonies.MALFORMED_OR_INVALID as exc:
        raise fail("invalid_assertion", detail=str(exc)[:200]) from None
    if (verified.new_sign_count or found.sign_count) and (
        verified.new_sign_count <= found.sign_count
    ):
        # WebAuthn §6.1.1: a genuine signature with a counter that did not move forward
        # means two copies of the private key exist. Refuse and leave a trace.
        audit.record(
            "passkey.clone_suspected",
            status="failure",
            actor=actor,
            tenant_id=tenant_id,
            user_id=owner.id,
            target_type="passkey",
            target_id=found.id,
            stored_count=found.sign_count,
            received_count=verified.new_sign_count,
        )
        raise fail("sign_count_regressed")
    if not owner.can_sign_in:
        raise fail("user_blocked")
    found.sign_count = verified.new_sign_count
    found.backed_up = verified.credential_backed_up
    found.last_used_at = clock.now()
    lockout.record_success(owner)
    audit.record(
        "login.passkey",
        actor=actor,
        tenant_id=tenant_id,
        user_id=owner.id,
        target_type="passkey",
        target_id=found.id,
        passwordless=user is None,
        user_verified=verified.user_verified,
    )
    return PasskeySignIn(owner, amr_for(found, passwordless=user is None))
