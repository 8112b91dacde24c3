"""Linked identities (DESIGN §4 Identity): the upstream accounts (Google, Microsoft, any OIDC
provider) a user signs in with. Federation creates them; here they are listed and unlinked.

Unlinking never leaves a user without a way to sign in: a password, a passkey, or another
linked identity must remain. An administrator may override that (`allow_last=True`), e.g. to
detach a compromised upstream account and then set a password or send a reset link.
"""

from __future__ import annotations

from sqlalchemy import select

from idp import errors
from idp.extensions import db
from idp.models import Identity
from idp.models import User
from idp.services import audit
from idp.services import sign_in_ways


def for_user(user: User) -> list[Identity]:
    """The user's linked identities, oldest link first."""
    query = select(Identity).where(
        Identity.tenant_id == user.tenant_id, Identity.user_id == user.id
    )
    return list(db.session.scalars(query.order_by(Identity.created_at, Identity.id)))


def get(user: User, identity_id: str) -> Identity:
    """One of the user's identities; another user's or an unknown one is NotFound."""
    found = db.session.get(Identity, identity_id) if len(identity_id) <= 36 else None
    if found is None or found.user_id != user.id or found.tenant_id != user.tenant_id:
        raise errors.NotFound("identity not found")
    return found


def other_ways_to_sign_in(user: User, identity: Identity) -> list[str]:
    """What the user could still sign in with if `identity` were gone."""
    return sign_in_ways.remaining(user, without_identity=identity.id)


def unlink(user: User, identity: Identity, *, actor: audit.Actor, allow_last: bool = False) -> None:
    """Remove the link. Conflict when it is the user's last way to sign in, unless
    `allow_last` (administrators only)."""
    remaining = other_ways_to_sign_in(user, identity)
    if not remaining and not allow_last:
        raise errors.Conflict(
            "This is the last way to sign in to the account: set a password or add a passkey "
            "before unlinking it"
        )
    db.session.delete(identity)
    db.session.flush()
    audit.record(
        "identity.unlinked",
        actor=actor,
        tenant_id=user.tenant_id,
        user_id=user.id,
        target_type="identity",
        target_id=identity.id,
        provider=identity.provider,
        last_way_to_sign_in=not remaining,
    )
