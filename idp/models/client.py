from __future__ import annotations

from datetime import datetime

from authlib.oauth2.rfc6749 import ClientMixin
from authlib.oauth2.rfc6749 import list_to_scope
from authlib.oauth2.rfc6749 import scope_to_list
from sqlalchemy import JSON
from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import false
from sqlalchemy import true
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp import security
from idp.extensions import db
from idp.models._types import UTCDateTime
from idp.models._types import new_id
from idp.models._types import now as _now

SERVICE_TYPES = ("web", "spa", "native", "machine")
AUTH_METHODS = (
    "client_secret_basic",
    "client_secret_post",
    "client_secret_jwt",
    "private_key_jwt",
    "none",
)


class Client(db.Model, ClientMixin):
    """A relying party. The secret is stored as an HMAC (DESIGN §3) and shown once."""

    __tablename__ = "clients"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_secret_hash: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    service_type: Mapped[str] = mapped_column(String(16), default="web")
    is_public: Mapped[bool] = mapped_column(default=False)
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32))
    redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    grant_types: Mapped[list] = mapped_column(JSON, default=list)
    response_types: Mapped[list] = mapped_column(JSON, default=list)
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    require_pkce: Mapped[bool] = mapped_column(default=True)
    skip_consent: Mapped[bool] = mapped_column(default=False)
    id_token_signed_response_alg: Mapped[str] = mapped_column(String(8), default="RS256")
    code_lifetime: Mapped[int | None] = mapped_column()
    access_token_lifetime: Mapped[int | None] = mapped_column()
    id_token_lifetime: Mapped[int | None] = mapped_column()
    refresh_token_lifetime: Mapped[int | None] = mapped_column()  # idle (sliding) lifetime
    refresh_token_absolute_lifetime: Mapped[int | None] = mapped_column()
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(2048))
    backchannel_logout_session_required: Mapped[bool] = mapped_column(
        default=True, server_default=true()
    )
    # private_key_jwt (RFC 7523): the client's public keys, inline or by URL.
    jwks: Mapped[dict | None] = mapped_column(JSON)
    jwks_uri: Mapped[str | None] = mapped_column(String(2048))
    # client_secret_jwt needs the secret itself (HMAC key), so it is kept encrypted.
    client_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    require_pushed_authorization_requests: Mapped[bool] = mapped_column(
        default=False, server_default=false()
    )
    subject_type: Mapped[str] = mapped_column(String(16), default="public", server_default="public")
    sector_identifier: Mapped[str | None] = mapped_column(String(255))
    # RFC 8707 resource indicators this client may ask for (client_credentials audience).
    allowed_resources: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now, onupdate=_now)

    # --- authlib ClientMixin -------------------------------------------------------------

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        """OIDC Core §3.1.2.1: redirect_uri is required, so there is never a default."""
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        """Requested scopes this client may use; unknown ones are dropped (RFC 6749 §3.3)."""
        if not scope:
            return ""
        allowed = set(self.scopes)
        return list_to_scope([s for s in scope_to_list(scope) if s in allowed])

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """Exact string match against the registered URIs (RFC 9700 §4.1.3)."""
        return any(security.constant_time_equals(redirect_uri, u) for u in self.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        return not self.is_public and security.verify_secret(client_secret, self.client_secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type in self.response_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types
