"""Scopes and the claims they release (OIDC Core §5.4)."""

from __future__ import annotations

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
}

SUPPORTED_SCOPES = tuple(SCOPE_DESCRIPTIONS)
SUPPORTED_CLAIMS = tuple(dict.fromkeys(c for claims in SCOPE_CLAIMS.values() for c in claims))


def userinfo(user: User, scope: str) -> UserInfo:
    """The claims `scope` releases, leaving out empty ones (OIDC Core §5.3.2)."""
    values: dict[str, object] = {"sub": user.id}
    scopes = set(scope_to_list(scope) or [])
    for name in scopes & SCOPE_CLAIMS.keys():
        for claim in SCOPE_CLAIMS[name]:
            if claim == "sub":
                continue
            if claim == "updated_at":
                values[claim] = int(user.updated_at.timestamp())
                continue
            value = getattr(user, claim)
            if value is not None and value != {}:
                values[claim] = value
    return UserInfo(values)


def describe(scope: str) -> list[dict[str, str]]:
    return [
        {"name": s, "description": SCOPE_DESCRIPTIONS.get(s, s)} for s in scope_to_list(scope) or []
    ]
