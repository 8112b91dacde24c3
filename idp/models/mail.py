from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.extensions import db
from idp.models._types import UTCDateTime
from idp.models._types import new_id
from idp.models._types import now as _now


class OutgoingMail(db.Model):
    """Outbox of mail: written in the transaction of the change it announces, sent after the
    commit, retried with backoff, deleted once the SMTP server has accepted it.

    `message` is the whole RFC 5322 message, encrypted (it carries reset links and codes) with
    the row id as associated data; it is wiped when delivery is given up (`failed_at`), while
    recipient, template and last_error stay for the operators."""

    __tablename__ = "outgoing_mail"
    __table_args__ = (Index("ix_outgoing_mail_due", "failed_at", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    recipient: Mapped[str] = mapped_column(String(320))
    template: Mapped[str] = mapped_column(String(64))
    message_encrypted: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
