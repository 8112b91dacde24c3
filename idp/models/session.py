from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON
from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.extensions import db
from idp.models._types import UTCDateTime
from idp.models._types import new_id
from idp.models._types import now as _now


class BrowserSession(db.Model):
    """A signed-in browser (a "device"). `id` is the public `sid` claim; the cookie carries a
    separate random token, stored only as its HMAC."""

    __tablename__ = "browser_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    user_agent: Mapped[str | None] = mapped_column(String(512))
    ip: Mapped[str | None] = mapped_column(String(45))
    name: Mapped[str | None] = mapped_column(String(100))
    trusted: Mapped[bool] = mapped_column(default=False)
    # A trusted device skips the second factor until `trusted_until`; the browser proves it
    # is that device with a long-lived cookie whose HMAC is `device_token_hash`.
    trusted_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    device_token_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime)
    amr: Mapped[list] = mapped_column(JSON, default=list)
    acr: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def is_valid(self, at: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > at
