"""The OIDC options of an authorization request (OIDC Core §3.1.2.1), parsed and checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import InvalidRequestError

from idp.oauth import claims
from idp.oauth.verification import InvalidToken
from idp.oauth.verification import verify_id_token_hint

MAX_AGE_DIGITS = 10
MAX_NONCE_LENGTH = 512  # authorization_codes.nonce


@dataclass(frozen=True)
class AuthorizationOptions:
    prompts: frozenset[str]
    max_age: int | None
    claims_request: dict[str, Any] | None
    hinted_subject: str | None  # the `sub` of a valid id_token_hint
    acr_values: tuple[str, ...]


def parse(data: Any) -> AuthorizationOptions:
    """Raises InvalidRequestError for a malformed max_age, claims or id_token_hint."""
    if len(str(data.get("nonce") or "")) > MAX_NONCE_LENGTH:
        raise InvalidRequestError("nonce is too long")
    raw_max_age = str(data.get("max_age") or "")
    if raw_max_age and (not raw_max_age.isdigit() or len(raw_max_age) > MAX_AGE_DIGITS):
        raise InvalidRequestError("max_age must be a non-negative integer")
    try:
        claims_request = claims.parse_claims_request(data.get("claims"))
    except ValueError:
        raise InvalidRequestError("claims must be a JSON object") from None
    hinted_subject = None
    if data.get("id_token_hint"):
        try:
            hinted_subject = str(verify_id_token_hint(str(data["id_token_hint"]))["sub"])
        except InvalidToken:
            raise InvalidRequestError("id_token_hint is not a valid ID token") from None
    return AuthorizationOptions(
        prompts=frozenset(str(data.get("prompt") or "").split()),
        max_age=int(raw_max_age) if raw_max_age else None,
        claims_request=claims_request,
        hinted_subject=hinted_subject,
        acr_values=tuple(str(data.get("acr_values") or "").split()),
    )
