"""What every WebAuthn ceremony shares: the relying party, the server-side challenges, and
reading what the browser sent.

Every ceremony is bound to a challenge stored server-side (WebAuthnChallenge) whose id *is*
the challenge: the response names it in its signed clientDataJSON, so no handle has to travel
beside the credential. A challenge is deleted as soon as a response names it, whether the
response checks out or not, so an assertion can never be replayed: the sign count cannot
promise that, since many passkeys always report 0 (LIBRARIES §2).

The relying party id is the issuer's host name, the expected origin its scheme://host[:port]
(`RelyingParty.from_settings`).
"""

from __future__ import annotations

import binascii
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete
from webauthn.helpers import parse_authentication_credential_json
from webauthn.helpers import parse_registration_credential_json
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import AuthenticationCredential
from webauthn.helpers.structs import RegistrationCredential

from idp import clock
from idp import errors
from idp import security
from idp.config import Settings
from idp.extensions import db
from idp.models import User
from idp.models import WebAuthnChallenge

# What py_webauthn raises for a response that does not verify, and what it lets escape
# for malformed binary inside one (a COSE key without its algorithm, truncated
# authenticator data): both are the browser's fault, never ours.
MALFORMED_OR_INVALID = (WebAuthnException, KeyError, IndexError, ValueError, TypeError)

REGISTER = "register"
AUTHENTICATE = "authenticate"
MAX_CREDENTIAL_JSON = 64 * 1024
ALGORITHMS = [
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]


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


def new_challenge(
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


def consume_challenge(
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
    # One conditional DELETE: of two requests racing with the same response, one wins.
    taken = db.session.execute(
        delete(WebAuthnChallenge)
        .where(WebAuthnChallenge.id == named)
        .execution_options(synchronize_session=False)
    )
    if found is None or getattr(taken, "rowcount", 0) != 1:
        raise PasskeyFailed("This passkey request has expired or was already used. Try again.")
    db.session.expunge(found)
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


def credential_json(credential: object) -> dict[str, Any]:
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


def parse_registration(credential: dict[str, Any]) -> RegistrationCredential:
    try:
        return parse_registration_credential_json(credential)
    except (WebAuthnException, ValueError, TypeError, binascii.Error):
        raise errors.InvalidInput(
            "The credential is not a WebAuthn registration response",
            {"credential": ["not a registration response"]},
        ) from None


def parse_assertion(credential: dict[str, Any]) -> AuthenticationCredential:
    try:
        return parse_authentication_credential_json(credential)
    except (WebAuthnException, ValueError, TypeError, binascii.Error):
        raise errors.InvalidInput(
            "The credential is not a WebAuthn authentication response",
            {"credential": ["not an authentication response"]},
        ) from None
