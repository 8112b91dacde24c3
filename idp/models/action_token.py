from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.extensions import db
from idp.models._types import UTCDateTime
from idp.models._types import new_id
from idp.models._types import now as _now


class ActionToken(db.Model):
    """A mailed proof of control of an address: e-mail verification (by link or 6-digit
    code) and password reset (by link). Link tokens and codes are stored only as HMACs;
    each token is single use, short-lived, and a code allows a few attempts."""

    __tablename__ = "action_tokens"
    __table_args__ = (Index("ix_action_tokens_user_purpose", "user_id", "purpose"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(32))  # "verify_email" | "reset_password"
    email: Mapped[str] = mapped_column(String(320))  # the address it was sent to
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    code_hash: Mapped[str | None] = mapped_column(String(64))
    code_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
