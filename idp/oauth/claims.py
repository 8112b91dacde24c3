"""Scopes and the claims they release (OIDC Core §5.4)."""

from __future__ import annotations

import json
from typing import Any

from authlib.oauth2.rfc6749 import scope_to_list
from authlib.oidc.core import UserInfo

from idp.models import User

SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "openid": ("sub",),
    "profile": (
        "name",
        "family_name",
        "given_name",
        "middle_name",
        "nickname",
        "preferred_username",
        "profile",
        "picture",
        "website",
        "gender",
        "birthdate",
        "zoneinfo",
        "locale",
        "updated_at",
    ),
    "email": ("email", "email_verified"),
    "address": ("address",),
    "phone": ("phone_number", "phone_number_verified"),
}

SCOPE_DESCRIPTIONS: dict[str, str] = {
    "openid": "Confirm your identity",
    "profile": "Your name, picture and profile details",
    "email": "Your e-mail address",
    "address": "Your postal address",
    "phone": "Your phone number",
    "offline_access": "Stay signed in to the application when you are not using it",
    "account": "Manage your account: profile, password, sign-in methods and devices",
}

SUPPORTED_SCOPES = tuple(SCOPE_DESCRIPTIONS)
SUPPORTED_CLAIMS = tuple(dict.fromkeys(c for claims in SCOPE_CLAIMS.values() for c in claims))


def userinfo(user: User, scope: str, *, sub: str) -> UserInfo:
    """The claims `scope` releases, leaving out empty ones (OIDC Core §5.3.2).

    Claims asked for one by one with the `claims` parameter (§5.5) are released only when a
    granted scope covers them: the user consented to scopes, and nothing else leaves."""
    names = {c for s in scope_to_list(scope) or [] for c in SCOPE_CLAIMS.get(s, ())}
    values: dict[str, object] = {"sub": sub}
    for claim in sorted(names - {"sub"}):
        value = int(user.updated_at.timestamp()) if claim == "updated_at" else getattr(user, claim)
        if value is not None and value != {}:
            values[claim] = value
    return UserInfo(values)


def parse_claims_request(raw: str | None) -> dict[str, Any] | None:
    """OIDC Core §5.5: a JSON object with optional `userinfo` and `id_token` members."""
    if not raw:
        return None
    if len(raw) > 4096:
        raise ValueError("claims parameter too large")
    try:
        value = json.loads(raw)
    except RecursionError:
        raise ValueError("claims is nested too deeply") from None
    if not isinstance(value, dict):
        raise ValueError("claims must be a JSON object")
    for member in ("userinfo", "id_token"):
        if member in value and not isinstance(value[member], dict | None):
            raise ValueError(f"claims.{member} must be an object")
    return value


def describe(scope: str) -> list[dict[str, str]]:
    return [
        {"name": s, "description": SCOPE_DESCRIPTIONS.get(s, s)} for s in scope_to_list(scope) or []
    ]
