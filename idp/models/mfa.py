"""Second factors (DESIGN §4 MFA): a TOTP enrolment, WebAuthn credentials, backup codes, and
the single-use WebAuthn challenges the ceremonies are bound to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON
from sqlalchemy import BigInteger
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import LargeBinary
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.extensions import db
from idp.models._types import UTCDateTime
from idp.models._types import new_id
from idp.models._types import now as _now


class TotpCredential(db.Model):
    """One authenticator app per user. The seed is encrypted (it must be read back to check
    codes); `confirmed_at` is None while setup awaits its first code. `last_used_step` is the
    RFC 6238 time step of the last accepted code: a code is accepted only for a later step,
    so no code works twice."""

    __tablename__ = "totp_credentials"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_step: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None


class WebAuthnCredential(db.Model):
    """A passkey or security key. `credential_id` is the base64url credential id."""

    __tablename__ = "webauthn_credentials"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    transports: Mapped[list] = mapped_column(JSON, default=list)
    name: Mapped[str] = mapped_column(String(100))
    aaguid: Mapped[str | None] = mapped_column(String(36))
    discoverable: Mapped[bool] = mapped_column(default=False)  # usable without a user name
    backed_up: Mapped[bool] = mapped_column(default=False)  # a synced passkey
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BackupCode(db.Model):
    """One of ten single-use recovery codes, stored as an Argon2id hash (DESIGN §3).

    `lookup` is a one-byte keyed tag of the code: checking a typed code costs one Argon2 run
    against the row(s) with its tag instead of ten, and the tag tells nothing without the
    server key (and only 8 of the code's ~50 bits with it)."""

    __tablename__ = "backup_codes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(255))
    lookup: Mapped[str] = mapped_column(String(2))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


class WebAuthnChallenge(db.Model):
    """A ceremony's challenge, kept server-side and deleted when verified: the sign count
    alone cannot stop a replayed assertion (passkeys may always report 0)."""

    __tablename__ = "webauthn_challenges"
    __table_args__ = (Index("ix_webauthn_challenges_expires", "expires_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(16))  # "register" | "authenticate"
    challenge: Mapped[str] = mapped_column(String(128))  # base64url
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
