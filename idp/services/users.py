"""Users: creation, lookup and password sign-in."""

from __future__ import annotations

import re

from sqlalchemy import select

from idp import clock
from idp import errors
from idp import security
from idp.extensions import db
from idp.models import User
from idp.services import audit

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$|^[^@\s]{1,64}@localhost$")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024


def normalize_email(email: str) -> str:
    return email.strip().lower()


def get(tenant_id: str, user_id: str) -> User:
    user = db.session.get(User, user_id)
    if user is None or user.tenant_id != tenant_id:
        raise errors.NotFound("user not found")
    return user


def find_by_email(tenant_id: str, email: str) -> User | None:
    return db.session.scalar(
        select(User).where(
            User.tenant_id == tenant_id, User.email_normalized == normalize_email(email)
        )
    )


def create(
    tenant_id: str,
    email: str,
    *,
    password: str | None = None,
    name: str | None = None,
    email_verified: bool = False,
    roles: list[str] | None = None,
    actor: audit.Actor = audit.SYSTEM,
) -> User:
    email = email.strip()
    if len(email) > 320 or not EMAIL_RE.match(email):
        raise errors.InvalidInput("invalid e-mail address", {"email": ["not a valid address"]})
    if password is not None:
        check_password_policy(password)
    if find_by_email(tenant_id, email) is not None:
        raise errors.Conflict("a user with this e-mail already exists")
    user = User(
        tenant_id=tenant_id,
        email=email,
        email_normalized=normalize_email(email),
        email_verified=email_verified,
        name=name,
        roles=list(roles or []),
        password_hash=security.hash_password(password) if password is not None else None,
    )
    db.session.add(user)
    db.session.flush()
    audit.record(
        "user.created",
        actor=actor,
        tenant_id=tenant_id,
        user_id=user.id,
        target_type="user",
        target_id=user.id,
    )
    return user


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise errors.InvalidInput(
            "password too short",
            {"password": [f"must be at least {MIN_PASSWORD_LENGTH} characters"]},
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise errors.InvalidInput("password too long", {"password": ["too long"]})


def authenticate(tenant_id: str, email: str, password: str, *, actor: audit.Actor) -> User:
    """Check an e-mail and password. The error never says which of the two was wrong, and an
    unknown e-mail costs the same Argon2 run as a wrong password."""
    user = find_by_email(tenant_id, email) if len(email) <= 320 else None
    password = password[:MAX_PASSWORD_LENGTH]
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
        raise errors.AuthenticationFailed("invalid e-mail or password")
    assert user.password_hash is not None
    if security.password_needs_rehash(user.password_hash):
        user.password_hash = security.hash_password(password)
    user.last_login_at = clock.now()
    audit.record("login.password", actor=actor, tenant_id=tenant_id, user_id=user.id)
    return user
