"""The mail outbox: queue a rendered message in the caller's transaction, claim due ones for
delivery, and record how each attempt went.

A message is written (flushed, not committed) with the change it announces, so a rolled-back
change sends nothing, and a committed one survives a worker dying before the SMTP server
answered. Whoever runs the outbox (idp.mail_delivery) claims a row with a conditional UPDATE
before sending it, so two deliverers never send one message twice; the row is deleted once
the server accepted it (no reset link lingers), retried with backoff after a failure, and
given up after MAX_ATTEMPTS: then its body is wiped and the rest kept for the operators.

The message is encrypted at rest (it carries reset links and codes, DESIGN §3), bound to its
row id so that a ciphertext copied to another row does not decrypt.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy import update

from idp import clock
from idp import security
from idp.extensions import db
from idp.models import OutgoingMail
from idp.models._types import new_id

MAX_ATTEMPTS = 5
# The wait after the 1st, 2nd, 3rd and 4th failed attempt; the 5th failure gives up.
RETRY_DELAYS = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
)
# A claimed row is left alone by other deliverers this long: longer than one SMTP
# conversation can take. A deliverer that dies mid-send leaves it due again afterwards.
LEASE = timedelta(minutes=5)
FAILED_RETENTION = timedelta(days=30)
MAX_ERROR_LENGTH = 300


@dataclass(frozen=True)
class Claimed:
    """A claimed row, as plain values, so no transaction stays open while sending."""

    id: str
    recipient: str
    template: str
    message: bytes | None  # the RFC 5322 message, decrypted; None: undecryptable, given up
    attempt: int


def _associated_data(row_id: str) -> bytes:
    return f"outgoing_mail:{row_id}".encode()


def enqueue(recipient: str, template: str, message: bytes) -> OutgoingMail:
    """Queue one message for delivery, due now (flushed; the caller commits)."""
    row_id = new_id()
    now = clock.now()
    row = OutgoingMail(
        id=row_id,
        recipient=recipient[:320],
        template=template[:64],
        message_encrypted=security.encrypt(message, associated_data=_associated_data(row_id)),
        attempts=0,
        created_at=now,
        next_attempt_at=now,
    )
    db.session.add(row)
    db.session.flush()
    return row


def _due(now: datetime) -> Any:
    return OutgoingMail.failed_at.is_(None) & (OutgoingMail.next_attempt_at <= now)


def claim_due(*, ids: Collection[str] | None = None, limit: int = 50) -> list[Claimed]:
    """Take up to `limit` due rows (only those of `ids`, when given). Each is claimed with
    one conditional UPDATE (count the attempt, push next_attempt_at out by LEASE) whose row
    count says whether this deliverer won it: of two racing deliverers, one does."""
    now = clock.now()
    query = select(OutgoingMail).where(_due(now))
    if ids is not None:
        if not ids:
            return []
        query = query.where(OutgoingMail.id.in_(list(ids)))
    candidates = db.session.scalars(query.order_by(OutgoingMail.next_attempt_at).limit(limit)).all()
    claimed = []
    for row in candidates:
        won = db.session.execute(  # type: ignore[attr-defined]
            update(OutgoingMail)
            .where(
                OutgoingMail.id == row.id,
                OutgoingMail.attempts == row.attempts,
                _due(now),
            )
            .values(attempts=row.attempts + 1, next_attempt_at=now + LEASE)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not won:
            continue
        message: bytes | None = None
        try:
            message = security.decrypt(
                row.message_encrypted or "", associated_data=_associated_data(row.id)
            )
        except Exception:  # wiped, tampered with, or IDP_SECRET_KEY changed: retrying won't help
            _give_up(row.id, "the stored message cannot be decrypted", now)
        claimed.append(Claimed(row.id, row.recipient, row.template, message, row.attempts + 1))
    db.session.flush()
    return claimed


def record_sent(claimed: Claimed) -> None:
    """The SMTP server accepted it: delete the row, and the link or code in it with it."""
    db.session.execute(
        delete(OutgoingMail)
        .where(OutgoingMail.id == claimed.id)
        .execution_options(synchronize_session=False)
    )
    db.session.flush()


def record_failure(claimed: Claimed, error: str) -> OutgoingMail | None:
    """Schedule the next attempt (RETRY_DELAYS), or give up after MAX_ATTEMPTS. `error` must
    carry no secret (it is kept in clear for the operators)."""
    row = db.session.get(OutgoingMail, claimed.id, populate_existing=True)
    if row is None:
        return None
    now = clock.now()
    if row.attempts >= MAX_ATTEMPTS:
        _give_up(row.id, error, now)
        db.session.refresh(row)
    else:
        row.last_error = _clean(error)
        row.next_attempt_at = now + retry_delay(row.attempts)
    db.session.flush()
    return row


def retry_delay(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt."""
    return RETRY_DELAYS[min(max(attempts, 1), len(RETRY_DELAYS)) - 1]


def next_attempt_at(ids: Collection[str]) -> datetime | None:
    """When the earliest still-queued row of `ids` is due; None once all are sent or given up."""
    if not ids:
        return None
    due: datetime | None = db.session.scalar(
        select(OutgoingMail.next_attempt_at)
        .where(OutgoingMail.id.in_(list(ids)), OutgoingMail.failed_at.is_(None))
        .order_by(OutgoingMail.next_attempt_at)
        .limit(1)
    )
    return due


def purge_failed() -> int:
    """Delete rows given up more than FAILED_RETENTION ago; returns how many."""
    result = db.session.execute(
        delete(OutgoingMail)
        .where(OutgoingMail.failed_at <= clock.now() - FAILED_RETENTION)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def _give_up(row_id: str, error: str, now: datetime) -> None:
    db.session.execute(
        update(OutgoingMail)
        .where(OutgoingMail.id == row_id)
        .values(failed_at=now, message_encrypted=None, last_error=_clean(error))
        .execution_options(synchronize_session=False)
    )


def _clean(error: str) -> str:
    return error.replace("\r", " ").replace("\n", " ")[:MAX_ERROR_LENGTH]
