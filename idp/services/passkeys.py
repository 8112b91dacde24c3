"""Passkeys and security keys (WebAuthn, py_webauthn): registering one, and the user's list
of credentials (rename, remove, never the last way to sign in). Signing in with one is
passkey_signin; the challenges and the relying party are webauthn_ceremonies. Callers commit.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import exists
from sqlalchemy import select
from webauthn import generate_registration_options
from webauthn import verify_registration_response
from webauthn.helpers import base64url_to_bytes
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers import options_to_json_dict
from webauthn.helpers.structs import AuthenticatorSelectionCriteria
from webauthn.helpers.structs import AuthenticatorTransport
from webauthn.helpers.structs import CredentialDeviceType
from webauthn.helpers.structs import PublicKeyCredentialDescriptor
from webauthn.helpers.structs import ResidentKeyRequirement
from webauthn.helpers.structs import UserVerificationRequirement

from idp import clock
from idp import errors
from idp.extensions import db
from idp.models import Tenant
from idp.models import User
from idp.models import WebAuthnCredential
from idp.services import audit
from idp.services import backup_codes
from idp.services import mfa
from idp.services import sign_in_ways
from idp.services import webauthn_ceremonies as ceremonies

NAME_MAX = 100
MAX_PER_USER = 25  # plenty for every device and key a person owns; bounds the allow list


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


def descriptor(found: WebAuthnCredential) -> PublicKeyCredentialDescriptor:
    transports = []
    for value in found.transports or []:
        try:
            transports.append(AuthenticatorTransport(value))
        except ValueError:
            continue
    return PublicKeyCredentialDescriptor(
        id=base64url_to_bytes(found.credential_id), transports=transports or None
    )


def registration_options(user: User, rp: ceremonies.RelyingParty) -> dict[str, Any]:
    """PublicKeyCredentialCreationOptions as JSON (for `parseCreationOptionsFromJSON`): a
    discoverable credential preferred, user verification preferred, the user's existing
    credentials excluded, and the credProps extension asked for (so we learn whether the
    credential is discoverable). Conflict until the user's address is verified."""
    mfa.ensure_may_enrol(user)
    existing = credentials(user)
    if len(existing) >= MAX_PER_USER:
        raise errors.Conflict(f"You already have {MAX_PER_USER} passkeys; remove one first")
    tenant = db.session.get(Tenant, user.tenant_id)
    challenge = ceremonies.new_challenge(
        rp, tenant_id=user.tenant_id, user=user, purpose=ceremonies.REGISTER
    )
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
        exclude_credentials=[descriptor(found) for found in existing],
        supported_pub_key_algs=ceremonies.ALGORITHMS,
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
    rp: ceremonies.RelyingParty,
    *,
    name: str | None,
    actor: audit.Actor,
) -> WebAuthnCredential:
    """Check a registration response against the user's stored challenge and keep the new
    credential. Raises InvalidInput (not a registration response, bad name),
    RegistrationFailed (the ceremony does not check out; the challenge is used up, so the
    caller should commit) or Conflict (already registered)."""
    mfa.ensure_may_enrol(user)
    if name is not None:
        name = clean_name(name)
    raw = ceremonies.credential_json(credential)
    parsed = ceremonies.parse_registration(raw)
    try:
        challenge = ceremonies.consume_challenge(
            parsed.response.client_data_json,
            tenant_id=user.tenant_id,
            purpose=ceremonies.REGISTER,
            user=user,
            expected_id=None,
        )
    except ceremonies.PasskeyFailed as failed:
        raise ceremonies.RegistrationFailed(failed.detail) from None
    try:
        verified = verify_registration_response(
            credential=parsed,
            expected_challenge=base64url_to_bytes(challenge.challenge),
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            supported_pub_key_algs=ceremonies.ALGORITHMS,
        )
    except ceremonies.MALFORMED_OR_INVALID as exc:
        audit.record(
            "passkey.registered",
            status="failure",
            actor=actor,
            tenant_id=user.tenant_id,
            user_id=user.id,
            reason=str(exc)[:200],
        )
        raise ceremonies.RegistrationFailed(
            "The passkey could not be verified. Try again."
        ) from None
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


def delete_credential(user: User, passkey_id: str, *, actor: audit.Actor) -> None:
    """Remove one of the user's credentials; refused (Conflict) when it is the last way they
    have to sign in (no password, no linked account, no other passkey). When no second factor
    is left, the backup codes go too: they would otherwise come back to life as a second
    factor with the next passkey (as totp.disable does)."""
    found = get(user, passkey_id)
    if not sign_in_ways.remaining(user, without_passkey=found.id):
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
    if not mfa.has_second_factor(user):
        backup_codes.delete_all(user, actor=actor)
