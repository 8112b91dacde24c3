from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy import func
from sqlalchemy import text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.extensions import db
from idp.models._types import UTCDateTime
from idp.models._types import new_id
from idp.models._types import now as _now


class User(db.Model):
    """An end user, holding the standard claims of OIDC Core §5.1. `id` is the `sub`."""

    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("tenant_id", "email_normalized"),
        Index("ix_users_tenant_created", "tenant_id", "created_at"),
        # Prefix search (`search=`): LIKE 'abc%' on lowercased values. PostgreSQL needs the
        # pattern operator class; SQLite uses these with PRAGMA case_sensitive_like.
        Index(
            "ix_users_tenant_email_prefix",
            "tenant_id",
            "email_normalized",
            postgresql_ops={"email_normalized": "varchar_pattern_ops"},
        ),
        Index(
            "ix_users_tenant_name_prefix",
            "tenant_id",
            func.lower(text("name")),
            postgresql_ops={"lower_1": "varchar_pattern_ops"},
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    email_normalized: Mapped[str] = mapped_column(String(320))
    email_verified: Mapped[bool] = mapped_column(default=False)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(200))
    given_name: Mapped[str | None] = mapped_column(String(100))
    family_name: Mapped[str | None] = mapped_column(String(100))
    middle_name: Mapped[str | None] = mapped_column(String(100))
    nickname: Mapped[str | None] = mapped_column(String(100))
    preferred_username: Mapped[str | None] = mapped_column(String(100))
    profile: Mapped[str | None] = mapped_column(String(2048))
    picture: Mapped[str | None] = mapped_column(String(2048))
    website: Mapped[str | None] = mapped_column(String(2048))
    gender: Mapped[str | None] = mapped_column(String(50))
    birthdate: Mapped[str | None] = mapped_column(String(10))
    zoneinfo: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(35))
    phone_number: Mapped[str | None] = mapped_column(String(32))
    phone_number_verified: Mapped[bool] = mapped_column(default=False)
    address: Mapped[dict | None] = mapped_column(JSON)
    roles: Mapped[list] = mapped_column(JSON, default=list)
    user_metadata: Mapped[dict] = mapped_column("metadata", JSON, default=dict)
    is_active: Mapped[bool] = mapped_column(default=True)
    blocked_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now, onupdate=_now)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Progressive lockout: consecutive failed sign-in steps, and until when sign-in is refused.
    failed_login_count: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def get_user_id(self) -> str:
        return self.id

    @property
    def can_sign_in(self) -> bool:
        return self.is_active and not self.blocked_reason
