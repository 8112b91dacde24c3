"""Pushed Authorization Requests (RFC 9126): parameters stored by reference, used once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy import select

from idp import clock
from idp import security
from idp.extensions import db
from idp.models import Client
from idp.models import PushedAuthorizationRequest

REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"


def push(client: Client, params: dict[str, str], *, lifetime: timedelta) -> str:
    """Store the request; returns the request_uri the client sends to /authorize."""
    reference = security.random_token(32)
    now = clock.now()
    db.session.add(
        PushedAuthorizationRequest(
            reference_hash=security.hash_secret(reference),
            client_id=client.id,
            params=params,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    db.session.flush()
    return REQUEST_URI_PREFIX + reference


def consume(request_uri: str, client: Client) -> dict[str, str] | None:
    """The pushed parameters, once (RFC 9126 §4): None when unknown, expired, already used or
    pushed by another client."""
    if not request_uri.startswith(REQUEST_URI_PREFIX) or len(request_uri) > 200:
        return None
    reference_hash = security.hash_secret(request_uri.removeprefix(REQUEST_URI_PREFIX))
    record = db.session.scalar(
        select(PushedAuthorizationRequest).where(
            PushedAuthorizationRequest.reference_hash == reference_hash
        )
    )
    if record is None or record.client_id != client.id:
        return None
    deleted = db.session.execute(  # type: ignore[attr-defined]
        delete(PushedAuthorizationRequest)
        .where(PushedAuthorizationRequest.id == record.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not deleted or record.expires_at <= clock.now():
        return None
    return {str(k): str(v) for k, v in record.params.items()}
