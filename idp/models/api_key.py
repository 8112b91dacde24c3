from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import JSON
from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.extensions import db
from idp.models._types import UTCDateTime
from idp.models._types import new_id
from idp.models._types import now as _now

if TYPE_CHECKING:
    from idp.models.client import Client


class ApiKey(db.Model):
    """A management API credential. Only its HMAC is stored; `prefix` is what humans see.

    A tenant key acts on its own tenant; a platform key (`tenant_id` NULL) on any tenant,
    chosen per request with X-Tenant-Id, and may manage tenants. A tenant key may be
    restricted to one application (`client_id`, a client of its tenant): it then acts only
    on that application, and is deleted with it (ON DELETE CASCADE).
    """

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    client_id: Mapped[str | None] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Loaded with the key: a restricted key's application costs no extra query.
    client: Mapped[Client | None] = db.relationship(lazy="joined", viewonly=True)

    @property
    def is_platform(self) -> bool:
        return self.tenant_id is None

    @property
    def application(self) -> str | None:
        """The public client_id this key is restricted to, or None (unrestricted)."""
        return self.client.client_id if self.client is not None else None
