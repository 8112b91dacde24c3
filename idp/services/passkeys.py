"""Passkeys and security keys (WebAuthn, py_webauthn): registration, sign-in (passwordless or
as a second factor), and the user's list of credentials.

Every ceremony is bound to a challenge stored server-side (WebAuthnChallenge) whose id *is*
the challenge: the response names it in its signed clientDataJSON, so no handle has to travel
beside the credential. A challenge is deleted as soon as a response names it, whether the
response checks out or not, so an assertion can never be replayed: the sign count cannot
promise that, since many passkeys always report 0 (LIBRARIES §2).

The relying party id is the issuer's host name, the expected origin its scheme://host[:port]
(`RelyingParty.from_settings`). Callers commit.
"""

from __future__ import annotations

import binascii
import json
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete
from sqlalchemy import exists
from sqlalchemy import func
from sqlalchemy import select
from webauthn import generate_authentication_options
from webauthn import generate_registration_options
from webauthn import verify_authentication_response
from webauthn import verify_registration_response
from webauthn.helpers import base64url_to_bytes
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers import options_to_json_dict
from webauthn.helpers import parse_authentication_credential_json
from webauthn.helpers import parse_registration_credential_json
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import AuthenticationCredential
from webauthn.helpers.structs import AuthenticatorSelectionCriteria
from webauthn.helpers.structs import AuthenticatorTransport
from webauthn.helpers.structs import CredentialDeviceType
from webauthn.helpers.structs import PublicKeyCredentialDescriptor
from webauthn.helpers.structs import RegistrationCredential
from webauthn.helpers.structs import ResidentKeyRequirement
from webauthn.helpers.structs import UserVerificationRequirement

from idp import clock
from idp import errors
from idp import security
from idp.config import Settings
from idp.extensions import db
from idp.models import Identity
from idp.models import Tenant
from idp.models import User
from idp.models import WebAuthnChallenge
from idp.models import WebAuthnCredential
from idp.services import audit
from idp.services import lockout

REGISTER = "register"
AUTHENTICATE = "authenticate"
NAME_MAX = 100
MAX_PER_USER = 25  # plenty for every device and key a person owns; bounds the allow list
MAX_CREDENTIAL_JSON = 64 * 1024
ALGORITHMS = [
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]
# RFC 8176 §2 amr values. A passkey proves possession of a key held by an authenticator
# ("hwk", "pop"). Used alone (passwordless) it must also verify the user (PIN or biometric:
# "user"), which makes it a multi-factor authenticator on its own ("mfa").
PASSWORDLESS_AMR = ["hwk", "pop", "user", "mfa"]
SECOND_FACTOR_AMR = ["hwk", "pop"]
FAILED = "That passkey could not be verified. Try again."


@dataclass(frozen=True)
class RelyingParty:
    """Where ceremonies happen: `id` (a registrable domain, never an IP address), the exact
    `origin` browsers report, and how long a challenge lives."""

    id: str
    origin: str
    challenge_lifetime: int = Settings.webauthn_challenge_lifetime

    @classmethod
    def from_settings(cls, settings: Settings) -> RelyingParty:
        parts = urlsplit(settings.issuer)
        host = parts.hostname or "localhost"
        return cls(
            id=host,
            origin=f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}",
            challenge_lifetime=settings.webauthn_challenge_lifetime,
        )


class PasskeyFailed(errors.AuthenticationFailed):
    """An assertion that does not check out (forged, replayed, expired, unknown
    credential...). The message is safe to show."""


class RegistrationFailed(errors.InvalidInput):
    """A registration response that does not check out. The message is safe to show."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, {"credential": [detail]})


# --- challenges ---------------------------------------------------------------------------


def _new_challenge(
    rp: RelyingParty, *, tenant_id: str, user: User | None, purpose: str
) -> WebAuthnChallenge:
    token = security.random_token(32)  # 256 bits, base64url: both the id and the challenge
    now = clock.now()
    challenge = WebAuthnChallenge(
        id=token,
        tenant_id=tenant_id,
        user_id=user.id if user is not None else None,
        purpose=purpose,
        challenge=token,
        expires_at=now + timedelta(seconds=rp.challenge_lifetime),
        created_at=now,
    )
    db.session.add(challenge)
    db.session.flush()
    return challenge


def _named_challenge(client_data_json: bytes) -> str:
    """The challenge a response's clientDataJSON names (not yet trusted: py_webauthn checks
    it against the stored one along with the signature)."""
    try:
        data = json.loads(client_data_json)
    except (ValueError, UnicodeDecodeError):
        raise PasskeyFailed("The passkey response is malformed") from None
    named = data.get("challenge") if isinstance(data, dict) else None
    if not isinstance(named, str) or not 0 < len(named) <= 64:
        raise PasskeyFailed("The passkey response is malformed")
    return named


def _consume_challenge(
    client_data_json: bytes,
    *,
    tenant_id: str,
    purpose: str,
    user: User | None,
    expected_id: str | None,
) -> WebAuthnChallenge:
    """Take the stored challenge the response names, deleting it whatever happens next."""
    named = _named_challenge(client_data_json)
    found = db.session.get(WebAuthnChallenge, named)
    if found is None:
        raise PasskeyFailed("This passkey request has expired or was already used. Try again.")
    db.session.delete(found)
    db.session.flush()
    if (
        found.purpose != purpose
        or found.tenant_id != tenant_id
        or found.user_id != (user.id if user is not None else None)
        or (expected_id is not None and not security.constant_time_equals(found.id, expected_id))
    ):
        raise PasskeyFailed("This passkey response does not belong to this request")
    if clock.as_utc(found.expires_at) <= clock.now():
        raise PasskeyFailed("This passkey request has expired. Try again.")
    return found


def purge_expired_challenges() -> int:
    result = db.session.execute(
        delete(WebAuthnChallenge)
        .where(WebAuthnChallenge.expires_at <= clock.now())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- parsing what the browser sent --------------------------------------------------------


def _as_dict(credential: object) -> dict[str, Any]:
    """The browser's `PublicKeyCredential.toJSON()`, as a JSON string or an object."""
    if isinstance(credential, str):
        if len(credential) > MAX_CREDENTIAL_JSON:
            raise errors.InvalidInput("The credential is too large", {"credential": ["too large"]})
        try:
            credential = json.loads(credential)
        except ValueError:
            raise errors.InvalidInput(
                "The credential is not JSON", {"credential": ["not JSON"]}
            ) from None
    if not isinstance(credential, dict):
        raise errors.InvalidInput(
            "The credential must be a JSON object", {"credential": ["not an object"]}
        )
    return credential


def _parse_registration(credential: dict[str, Any]) -> RegistrationCredential:
    try:
        return parse_registration_credential_json(credential)
    except (WebAuthnException, ValueError, TypeError, binascii.Error):
        raise errors.InvalidInput(
            "The credential is not a WebAuthn registration response",
            {"credential": ["not a registration response"]},
        ) from None


def _parse_assertion(credential: dict[str, Any]) -> AuthenticationCredential:
    try:
        return parse_authentication_credential_json(credential)
    except (WebAuthnException, ValueError, TypeError, binascii.Error):
        raise errors.InvalidInput(
            "The credential is not a WebAuthn authentication response",
            {"credential": ["not an authentication response"]},
        ) from None


# --- registration -------------------------------------------------------------------------


def user_handle(user: User) -> bytes:
    """The WebAuthn user handle: the user's uuid as 16 bytes (no personal data)."""
    return uuid.UUID(user.id).bytes


def credentials(user: User) -> list[WebAuthnCredential]:
    return list(
        db.session.scalars(
            select(WebAuthnCredential)
            .where(WebAuthnCredential.user_id == user.id)
            .order_by(WebAuthnCredential.created_at, WebAuthnCredential.id)
        )
    )


def _descriptor(found: WebAuthnCredential) -> PublicKeyCredentialDescriptor:
    transports = []
    for value in found.transports or []:
        try:
            transports.append(AuthenticatorTransport(value))
        except ValueError:
            continue
    return PublicKeyCredentialDescriptor(
        id=base64url_to_bytes(found.credential_id), transports=transports or None
    )


def registration_options(user: User, rp: RelyingParty) -> dict[str, Any]:
    """PublicKeyCredentialCreationOptions as JSON (for `parseCreationOptionsFromJSON`): a
    discoverable credential preferred, user verification preferred, the user's existing
    credentials excluded, and the credProps extension asked for (so we learn whether the
    credential is discoverable)."""
    existing = credentials(user)
    if len(existing) >= MAX_PER_USER:
        raise errors.Conflict(f"You already have {MAX_PER_USER} passkeys; remove one first")
    tenant = db.session.get(Tenant, user.tenant_id)
    challenge = _new_challenge(rp, tenant_id=user.tenant_id, user=user, purpose=REGISTER)
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=tenant.name if tenant is not None else rp.id,
        user_name=user.email,
        user_id=user_handle(user),
        user_display_name=user.name or user.email,
        challenge=base64url_to_bytes(challenge.challenge),
        timeout=rp.challenge_lifetime * 1000,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[_descriptor(found) for found in existing],
        supported_pub_key_algs=ALGORITHMS,
    )
    document = options_to_json_dict(options)
    document["extensions"] = {"credProps": True}
    return document


def _discoverable(credential: dict[str, Any], device_type: CredentialDeviceType) -> bool:
    """WebAuthn §10.1.4 credProps says whether the authenticator kept a resident
    (discoverable) key; without it, a synced passkey (backup eligible) is discoverable in
    every implementation we know, and anything else may not be."""
    results = credential.get("clientExtensionResults")
    props = results.get("credProps") if isinstance(results, dict) else None
    rk = props.get("rk") if isinstance(props, dict) else None
    if isinstance(rk, bool):
        return rk
    return device_type == CredentialDeviceType.MULTI_DEVICE


_PLATFORMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("CrOS", "ChromeOS"),
    ("Mac OS X", "Mac"),
    ("Macintosh", "Mac"),
    ("Windows", "Windows"),
    ("Linux", "Linux"),
)
_BROWSERS = (
    ("Edg/", "Edge"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Safari/", "Safari"),
)


def default_name(user_agent: str | None, attachment: str | None) -> str:
    """A name the user will recognise in the list: "Security key" for a roaming
    authenticator, else the browser and platform it was made on."""
    if attachment == "cross-platform":
        return "Security key"
    agent = user_agent or ""
    platform = next((label for marker, label in _PLATFORMS if marker in agent), None)
    browser = next((label for marker, label in _BROWSERS if marker in agent), None)
    if platform and browser:
        return f"Passkey on {browser} on {platform}"
    if platform or browser:
        return f"Passkey on {platform or browser}"
    return "Passkey"


def clean_name(name: str) -> str:
    """Names are shown in lists: one line, no control characters, 1..100 characters."""
    cleaned = re.sub(r"\s+", " ", "".join(ch for ch in name if ch.isprintable() or ch.isspace()))
    cleaned = cleaned.strip()
    if not cleaned or len(cleaned) > NAME_MAX:
        message = f"Use 1 to {NAME_MAX} characters"
        raise errors.InvalidInput(f"The name is not valid: {message.lower()}", {"name": [message]})
    return cleaned


def register(
    user: User,
    credential: object,
    rp: RelyingParty,
    *,
    name: str | None,
    actor: audit.Actor,
) -> WebAuthnCredential:
    """Check a registration response against the user's stored challenge and keep the new
    credential. Raises InvalidInput (not a registration response, bad name),
    RegistrationFailed (the ceremony does not check out; the challenge is used up, so the
    caller should commit) or Conflict (already registered)."""
    if name is not None:
        name = clean_name(name)
    raw = _as_dict(credential)
    parsed = _parse_registration(raw)
    try:
        challenge = _consume_challenge(
            parsed.response.client_data_json,
            tenant_id=user.tenant_id,
            purpose=REGISTER,
            user=user,
            expected_id=None,
        )
    except PasskeyFailed as failed:
        raise RegistrationFailed(failed.detail) from None
    try:
        verified = verify_registration_response(
            credential=parsed,
            expected_challenge=base64url_to_bytes(challenge.challenge),
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            supported_pub_key_algs=ALGORITHMS,
        )
    except WebAuthnException as exc:
        audit.record(
            "passkey.registered",
            status="failure",
            actor=actor,
            tenant_id=user.tenant_id,
            user_id=user.id,
            reason=str(exc)[:200],
        )
        raise RegistrationFailed("The passkey could not be verified. Try again.") from None
    credential_id = bytes_to_base64url(verified.credential_id)
    if db.session.scalar(select(exists().where(WebAuthnCredential.credential_id == credential_id))):
        raise errors.Conflict("This passkey is already registered")
    if len(credentials(user)) >= MAX_PER_USER:
        raise errors.Conflict(f"You already have {MAX_PER_USER} passkeys; remove one first")
    attachment = raw.get("authenticatorAttachment")
    stored = WebAuthnCredential(
        tenant_id=user.tenant_id,
        user_id=user.id,
        credential_id=credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=[transport.value for transport in parsed.response.transports or []],
        name=name
        or default_name(actor.user_agent, attachment if isinstance(attachment, str) else None),
        aaguid=verified.aaguid,
        discoverable=_discoverable(raw, verified.credential_device_type),
        backed_up=verified.credential_backed_up,
        created_at=clock.now(),
    )
    db.session.add(stored)
    db.session.flush()
    audit.record(
        "passkey.registered",
        actor=actor,
        tenant_id=user.tenant_id,
        user_id=user.id,
        target_type="passkey",
        target_id=stored.id,
        aaguid=stored.aaguid,
        discoverable=stored.discoverable,
    )
    return stored


# --- authentication -----------------------------------------------------------------------


def authentication_options(
    rp: RelyingParty, *, tenant_id: str, user: User | None
) -> tuple[str, dict[str, Any]]:
    """PublicKeyCredentialRequestOptions as JSON (for `parseRequestOptionsFromJSON`), and the
    challenge id. With a `user` (second factor), their credentials are allowed and user
    verification is preferred; without one (passwordless), any discoverable credential may
    answer and user verification is required."""
    allowed = [_descriptor(found) for found in credentials(user)] if user is not None else []
    if user is not None and not allowed:
        raise errors.NotFound("No passkey is registered for this account")
    challenge = _new_challenge(rp, tenant_id=tenant_id, user=user, purpose=AUTHENTICATE)
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
) -> PasskeyFailed:
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
    return PasskeyFailed(message)


def authenticate(
    credential: object,
    rp: RelyingParty,
    *,
    tenant_id: str,
    user: User | None,
    challenge_id: str | None,
    actor: audit.Actor,
    policy: lockout.LockoutPolicy | None = None,
) -> User:
    """Check an assertion. With `user`, it is their second factor: it must come from one of
    their credentials, failures count toward the lockout and nothing is checked while they
    are locked out. Without, it is a passwordless sign-in: the credential must be
    discoverable-style (its userHandle naming its owner) and the user verified. Returns the
    signed-in user. `challenge_id`, when given, must be the challenge this browser asked
    for. Raises InvalidInput (not an assertion), PasskeyFailed or lockout.AccountLocked.

    A passwordless sign-in is not held up by the lockout, which stops guessing: there is
    nothing to guess, and a locked-out owner can still prove possession and verification.
    Any successful sign-in resets the failure count."""
    raw = _as_dict(credential)
    parsed = _parse_assertion(raw)
    if user is not None:
        lockout.ensure_not_locked(user)
    try:
        return _check_assertion(
            parsed, rp, tenant_id=tenant_id, user=user, challenge_id=challenge_id, actor=actor
        )
    except PasskeyFailed:
        if user is not None:
            until = lockout.record_failure(user, actor=actor, step="webauthn", policy=policy)
            if until is not None:
                raise lockout.AccountLocked(until) from None
        raise


def _check_assertion(
    parsed: AuthenticationCredential,
    rp: RelyingParty,
    *,
    tenant_id: str,
    user: User | None,
    challenge_id: str | None,
    actor: audit.Actor,
) -> User:
    challenge = _consume_challenge(
        parsed.response.client_data_json,
        tenant_id=tenant_id,
        purpose=AUTHENTICATE,
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

    def fail(reason: str, message: str = FAILED, detail: str | None = None) -> PasskeyFailed:
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
    if (user is None and handle is None) or (handle is not None and handle != user_handle(owner)):
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
    except WebAuthnException as exc:
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
    return owner


# --- managing the list --------------------------------------------------------------------


def get(user: User, passkey_id: str) -> WebAuthnCredential:
    """One of the user's credentials by its id; another user's is NotFound too."""
    found = db.session.get(WebAuthnCredential, passkey_id) if len(passkey_id) <= 36 else None
    if found is None or found.user_id != user.id:
        raise errors.NotFound("No such passkey")
    return found


def rename(user: User, passkey_id: str, name: str, *, actor: audit.Actor) -> WebAuthnCredential:
    found = get(user, passkey_id)
    found.name = clean_name(name)
    db.session.flush()
    audit.record(
        "passkey.renamed",
        actor=actor,
        tenant_id=user.tenant_id,
        user_id=user.id,
        target_type="passkey",
        target_id=found.id,
    )
    return found


def _other_ways_to_sign_in(user: User, passkey: WebAuthnCredential) -> bool:
    if user.password_hash is not None:
        return True
    if db.session.scalar(select(exists().where(Identity.user_id == user.id))):
        return True
    others = db.session.scalar(
        select(func.count())
        .select_from(WebAuthnCredential)
        .where(WebAuthnCredential.user_id == user.id, WebAuthnCredential.id != passkey.id)
    )
    return bool(others)


def delete_credential(user: User, passkey_id: str, *, actor: audit.Actor) -> None:
    """Remove one of the user's credentials; refused (Conflict) when it is the last way they
    have to sign in (no password, no linked account, no other passkey)."""
    found = get(user, passkey_id)
    if not _other_ways_to_sign_in(user, found):
        raise errors.Conflict(
            "This passkey is your only way to sign in. Set a password or add another passkey first."
        )
    db.session.delete(found)
    db.session.flush()
    audit.record(
        "passkey.deleted",
        actor=actor,
        tenant_id=user.tenant_id,
        user_id=user.id,
        target_type="passkey",
        target_id=passkey_id,
    )
