"""Remembered consent: the consent page is shown once per user, client and scope set."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from idp import errors
from idp.extensions import db
from idp.models import Client
from idp.models import Consent
from idp.models import User
from idp.services import audit


def _find(user: User, client: Client) -> Consent | None:
    return db.session.scalar(
        select(Consent).where(Consent.user_id == user.id, Consent.client_id == client.id)
    )


def is_needed(user: User, client: Client, scopes: list[str]) -> bool:
    if client.skip_consent:
        return False
    consent = _find(user, client)
    return consent is None or not set(scopes) <= set(consent.scopes)


def remember(user: User, client: Client, scopes: list[str], *, actor: audit.Actor) -> Consent:
    consent = _find(user, client)
    if consent is None:
        try:
            with db.session.begin_nested():  # two tabs may consent at the same moment
                consent = Consent(
                    tenant_id=user.tenant_id,
                    user_id=user.id,
                    client_id=client.id,
                    scopes=sorted(set(scopes)),
                )
                db.session.add(consent)
        except IntegrityError:
            consent = _find(user, client)
    if consent is None:
        raise errors.Conflict("consent could not be recorded")
    consent.scopes = sorted(set(consent.scopes) | set(scopes))
    audit.record(
        "consent.granted",
        actor=actor,
        tenant_id=user.tenant_id,
        user_id=user.id,
        client_id=client.client_id,
        scopes=sorted(set(scopes)),
    )
    return consent


def forget_all(user: User, *, actor: audit.Actor, reason: str) -> int:
    """Forget every consent the user gave, so each application asks again. Returns how many
    went."""
    result = db.session.execute(
        delete(Consent)
        .where(Consent.user_id == user.id)
        .execution_options(synchronize_session="fetch")
    )
    forgotten = int(result.rowcount or 0)  # type: ignore[attr-defined]
    audit.record_for_user(
        "consent.forgotten",
        user,
        actor=actor,
        reason=reason,
        forgotten=forgotten,
    )
    return forgotten
