"""Self-registration, when the tenant allows it (`Tenant.registration_enabled`).

Against account enumeration (OWASP Authentication Cheat Sheet), registering an address that
already has an account looks exactly like a new registration to whoever is at the keyboard:
the same "check your e-mail" page. The owner of the address gets a notice instead of a code
(with a way to reset the password). The same Argon2 work is spent on both paths.
"""

from __future__ import annotations

from dataclasses import dataclass

from idp import errors
from idp import security
from idp.models import Tenant
from idp.models import User
from idp.services import audit
from idp.services import email_verification
from idp.services import passwords
from idp.services import users
from idp.services.email_verification import Issued
from idp.services.email_verification import Lifetimes

MAX_NAME = 200


@dataclass
class Registered:
    """`user` is the new account and `issued` its verification mail's link and code; for an
    address already registered, `existing` is its owner (send them a notice) and both others
    are None."""

    email: str
    user: User | None = None
    issued: Issued | None = None
    existing: User | None = None


def ensure_open(tenant: Tenant) -> None:
    if not tenant.registration_enabled:
        raise errors.NotFound("Registration is not available here.")


def register(
    tenant: Tenant,
    email: str,
    password: str,
    name: str | None,
    *,
    policy: passwords.PasswordPolicy = passwords.DEFAULT_POLICY,
    lifetimes: Lifetimes = email_verification.DEFAULT_LIFETIMES,
    actor: audit.Actor,
) -> Registered:
    ensure_open(tenant)
    problems: dict[str, list[str]] = {}
    try:
        email = users.check_email(email)
    except errors.InvalidInput:
        problems["email"] = ["Enter a valid e-mail address."]
    name = (name or "").strip() or None
    if name is not None and len(name) > MAX_NAME:
        problems["name"] = [f"Use at most {MAX_NAME} characters."]
    try:
        passwords.check(
            password, user_inputs=passwords.guessable_inputs(email, name), policy=policy
        )
    except errors.InvalidInput as exc:
        problems.update(exc.field_errors)
    if problems:
        raise errors.InvalidInput("invalid registration", problems)

    existing = users.find_by_email(tenant.id, email)
    if existing is not None:
        security.hash_password(password)  # the Argon2 time a new account costs, then dropped
        audit.record_for_user(
            "user.registration_existing",
            existing,
            status="failure",
            actor=actor,
        )
        return Registered(email=existing.email, existing=existing)

    try:
        user = users.create(tenant.id, email, password=password, name=name, actor=actor)
    except errors.Conflict:  # registered in parallel: same answer as above
        raced = users.find_by_email(tenant.id, email)
        return Registered(email=email, existing=raced)
    audit.record_for_user(
        "user.registered",
        user,
        actor=actor,
    )
    issued = email_verification.start(user, lifetimes=lifetimes, actor=actor)
    return Registered(email=user.email, user=user, issued=issued)
