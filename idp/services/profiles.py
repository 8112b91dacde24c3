"""A user editing their own profile claims (OIDC Core §5.1). The e-mail address is not here:
it changes only through verification (email_verification.start_change)."""

from __future__ import annotations

import re
import zoneinfo
from functools import lru_cache
from typing import Any

from idp import errors
from idp.extensions import db
from idp.models import User
from idp.services import audit

LIMITS = {
    "name": 200,
    "given_name": 100,
    "family_name": 100,
    "middle_name": 100,
    "nickname": 100,
    "preferred_username": 100,
    "picture": 2048,
    "website": 2048,
    "locale": 35,
    "zoneinfo": 64,
}
EDITABLE = frozenset(LIMITS)
URL_FIELDS = frozenset({"picture", "website"})
LOCALE_RE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


@lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _invalid(name: str, message: str) -> errors.InvalidInput:
    return errors.InvalidInput("invalid profile", {name: [message]})


def _clean(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(name, "Not a string.")
    value = value.strip()
    if not value:
        return None
    if len(value) > LIMITS[name] or any(ord(ch) < 0x20 for ch in value):
        raise _invalid(name, f"At most {LIMITS[name]} characters, one line.")
    if name in URL_FIELDS and not re.match(r"^https?://[^\s/]+", value):
        raise _invalid(name, "Use an http(s) URL.")
    if name == "locale" and not LOCALE_RE.match(value):
        raise _invalid(name, "Use a language tag such as en or fr-CA.")
    if name == "zoneinfo" and value not in _time_zones():
        raise _invalid(name, "Use a time zone such as Europe/Paris.")
    return value


def update(user: User, changes: dict[str, Any], *, actor: audit.Actor) -> User:
    """Set the given fields (None or blank clears one); InvalidInput names a bad field."""
    unknown = set(changes) - EDITABLE
    if unknown:
        raise errors.InvalidInput("unknown fields", {name: ["Unknown field."] for name in unknown})
    cleaned = {name: _clean(name, value) for name, value in changes.items()}
    changed = sorted(name for name, value in cleaned.items() if getattr(user, name) != value)
    for name in changed:
        setattr(user, name, cleaned[name])
    if changed:
        audit.record_for_user(
            "user.profile_updated",
            user,
            actor=actor,
            fields=changed,
        )
        db.session.flush()
    return user
