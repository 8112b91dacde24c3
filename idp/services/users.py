"""Users: creation, lookup and password sign-in."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select
from sqlalchemy import Text
from sqlalchemy import cast
from sqlalchemy import exists
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from idp import errors
from idp import security
from idp.extensions import db
from idp.models import Identity
from idp.models import User
from idp.services import audit
from idp.services import grants
from idp.services import keyset
from idp.services import lockout
from idp.services import passwords
from idp.services import sessions

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$|^[^@\s]{1,64}@localhost$")
MAX_PASSWORD_LENGTH = 1024


def normalize_email(email: str) -> str:
    return email.strip().lower()


def get(tenant_id: str, user_id: str) -> User:
    user = db.session.get(User, user_id)
    if user is None or user.tenant_id != tenant_id:
        raise errors.NotFound("user not found")
    return user


def find_by_email(tenant_id: str, email: str, *, for_update: bool = False) -> User | None:
    """`for_update` locks the row until the caller commits and reads it afresh, so that
    concurrent sign-in attempts at one account take turns (see lockout.hold)."""
    query = select(User).where(
        User.tenant_id == tenant_id, User.email_normalized == normalize_email(email)
    )
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return db.session.scalar(query)


def create(
    tenant_id: str,
    email: str,
    *,
    password: str | None = None,
    name: str | None = None,
    email_verified: bool = False,
    roles: list[str] | None = None,
    actor: audit.Actor = audit.SYSTEM,
    user_id: str | None = None,
    given_name: str | None = None,
    family_name: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> User:
    """A new user. `user_id` lets the caller choose the `sub` (409 if it is taken)."""
    email = check_email(email)
    if password is not None:
        check_password_policy(password, email, name, given_name, family_name)
    if metadata is not None:
        check_metadata(metadata)
    if find_by_email(tenant_id, email) is not None:
        raise errors.Conflict("a user with this e-mail already exists")
    if user_id is not None and db.session.get(User, user_id) is not None:
        raise errors.Conflict("a user with this id already exists")
    user = User(
        tenant_id=tenant_id,
        email=email,
        email_normalized=normalize_email(email),
        email_verified=email_verified,
        name=name,
        given_name=given_name,
        family_name=family_name,
        roles=list(roles or []),
        user_metadata=dict(metadata or {}),
        password_hash=security.hash_password(password) if password is not None else None,
    )
    if user_id is not None:
        user.id = user_id
    _flush_unique(user)
    audit.record_for_user(
        "user.created",
        user,
        actor=actor,
    )
    return user


def check_email(email: str) -> str:
    email = email.strip()
    if len(email) > 320 or not EMAIL_RE.match(email):
        raise errors.InvalidInput("invalid e-mail address", {"email": ["not a valid address"]})
    return email


def check_metadata(metadata: dict[str, Any]) -> None:
    if len(json.dumps(metadata)) > MAX_METADATA_BYTES:
        raise errors.InvalidInput(
            "metadata too large", {"metadata": [f"at most {MAX_METADATA_BYTES} bytes of JSON"]}
        )


def _flush_unique(user: User) -> None:
    """Flush, turning a lost race on the unique e-mail or id into a Conflict (rule 14)."""
    try:
        with db.session.begin_nested():
            db.session.add(user)
    except IntegrityError:
        raise errors.Conflict("a user with this e-mail or id already exists") from None


def check_password_policy(password: str, *user_inputs: str | None) -> None:
    """The password policy (services/passwords.py); `user_inputs`: e-mail and names."""
    passwords.check(password, user_inputs=passwords.guessable_inputs(*user_inputs))


def authenticate(
    tenant_id: str,
    email: str,
    password: str,
    *,
    actor: audit.Actor,
    lockout_policy: lockout.LockoutPolicy | None = None,
) -> User:
    """Check an e-mail and password. The error never says which of the two was wrong, and an
    unknown e-mail costs the same Argon2 run as a wrong password.

    A wrong password counts toward the progressive lockout; while the user is locked out
    (lockout.AccountLocked), the password is not checked at all, but the same Argon2 time is
    spent. A right password does not reset the count: the completed sign-in does
    (signin.begin, or the second step)."""
    user = find_by_email(tenant_id, email, for_update=True) if len(email) <= 320 else None
    password = password[:MAX_PASSWORD_LENGTH]
    if user is not None and lockout.locked_until(user) is not None:
        security.verify_password(password, None)  # spend a real check's time; answer no
        audit.record(
            "login.password",
            status="failure",
            actor=actor,
            tenant_id=tenant_id,
            user_id=user.id,
            reason="locked",
        )
        lockout.ensure_not_locked(user)
    ok = security.verify_password(password, user.password_hash if user else None)
    if not ok or user is None or not user.can_sign_in:
        audit.record(
            "login.password",
            status="failure",
            actor=actor,
            tenant_id=tenant_id,
            user_id=user.id if user else None,
            reason="blocked" if ok and user is not None else "bad_credentials",
        )
        if user is not None and not ok:
            until = lockout.record_failure(
                user, actor=actor, step="password", policy=lockout_policy
            )
            if until is not None:
                raise lockout.AccountLocked(until)
        raise errors.AuthenticationFailed("invalid e-mail or password")
    assert user.password_hash is not None
    if security.password_needs_rehash(user.password_hash):
        user.password_hash = security.hash_password(password)
    audit.record("login.password", actor=actor, tenant_id=tenant_id, user_id=user.id)
    return user


# --- management: listing, changes, blocking --------------------------------------------------

MAX_METADATA_BYTES = 16_384
UPDATABLE = frozenset(
    {"email", "email_verified", "name", "given_name", "family_name", "roles", "is_active",
     "metadata"}
)  # fmt: skip


@dataclass(frozen=True)
class UserFilter:
    """Every filter of the user list; None means "any"."""

    search: str | None = None  # case-insensitive prefix of the e-mail or the name
    email: str | None = None  # exact, case-insensitive
    role: str | None = None
    is_active: bool | None = None
    email_verified: bool | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    provider: str | None = None  # has a linked identity of this upstream provider


def like_prefix(value: str) -> str:
    r"""A LIKE pattern matching values that start with `value`, wildcards escaped with \."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _filtered(tenant_id: str, where: UserFilter) -> Select[tuple[User]]:
    query = select(User).where(User.tenant_id == tenant_id)
    if where.search:
        pattern = like_prefix(where.search.strip().lower())
        query = query.where(
            or_(
                User.email_normalized.like(pattern, escape="\\"),
                func.lower(User.name).like(pattern, escape="\\"),
            )
        )
    if where.email is not None:
        query = query.where(User.email_normalized == normalize_email(where.email))
    if where.is_active is not None:
        query = query.where(User.is_active.is_(where.is_active))
    if where.email_verified is not None:
        query = query.where(User.email_verified.is_(where.email_verified))
    if where.created_from is not None:
        query = query.where(User.created_at >= where.created_from)
    if where.created_to is not None:
        query = query.where(User.created_at < where.created_to)
    if where.role is not None:
        # roles is a JSON list; its text holds the role as a JSON string (case-insensitively).
        needle = like_prefix(json.dumps(where.role).lower())[:-1]
        query = query.where(func.lower(cast(User.roles, Text)).like(f"%{needle}%", escape="\\"))
    if where.provider is not None:
        query = query.where(
            exists().where(
                Identity.user_id == User.id,
                Identity.tenant_id == tenant_id,
                Identity.provider == where.provider,
            )
        )
    return query


def list_users(
    tenant_id: str,
    where: UserFilter,
    *,
    limit: int,
    cursor: str | None = None,
    offset: int | None = None,
) -> keyset.Page[User]:
    """Newest first, over (created_at, id); a bad cursor is InvalidInput."""
    query = _filtered(tenant_id, where)
    return keyset.paginate(
        query, at=User.created_at, key=User.id, limit=limit, cursor=cursor, offset=offset
    )


def update(user: User, changes: dict[str, Any], *, actor: audit.Actor) -> User:
    """Apply management changes. A new e-mail address is unverified unless `email_verified`
    is part of the same change."""
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise errors.InvalidInput("unknown fields", {name: ["unknown field"] for name in unknown})
    changed = sorted(changes)
    changes = dict(changes)
    if "email" in changes:
        email = check_email(changes.pop("email"))
        if normalize_email(email) != user.email_normalized:
            other = find_by_email(user.tenant_id, email)
            if other is not None:
                raise errors.Conflict("a user with this e-mail already exists")
            user.email_normalized = normalize_email(email)
            changes.setdefault("email_verified", False)
        user.email = email
    if "metadata" in changes:
        check_metadata(changes["metadata"])
        user.user_metadata = dict(changes.pop("metadata") or {})
    for name, value in changes.items():
        setattr(user, name, list(value) if name == "roles" else value)
    _flush_unique(user)
    audit.record_for_user(
        "user.updated",
        user,
        actor=actor,
        fields=changed,
    )
    return user


def delete(user: User, *, actor: audit.Actor) -> None:
    """Hard delete; the database cascades to sessions, grants, tokens, credentials."""
    audit.record_for_user(
        "user.deleted",
        user,
        actor=actor,
    )
    db.session.delete(user)
    db.session.flush()


def set_password(user: User, password: str, *, actor: audit.Actor) -> None:
    """Replace the password; sessions and grants stay as they are."""
    check_password_policy(password, user.email, user.name, user.given_name, user.family_name)
    passwords.replace(user, password)
    audit.record_for_user(
        "user.password_set",
        user,
        actor=actor,
    )


def block(user: User, reason: str, *, actor: audit.Actor) -> User:
    """Refuse sign-in, end every live browser session and revoke every grant, so the user's
    access and refresh tokens stop working at once."""
    user.blocked_reason = reason
    sessions.end_all(user, actor=actor, reason="blocked")
    grants.revoke_all(user, actor=actor, reason="blocked")
    audit.record_for_user(
        "user.blocked",
        user,
        actor=actor,
        reason=reason,
    )
    db.session.flush()
    return user


def unblock(user: User, *, actor: audit.Actor) -> User:
    user.blocked_reason = None
    audit.record_for_user(
        "user.unblocked",
        user,
        actor=actor,
    )
    db.session.flush()
    return user
